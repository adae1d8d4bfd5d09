/**
 * Infrastructure faults under a mixed write load (issue 9): Kafka, the registry and either cluster killed or kept
 * down, a hung network between a service and Kafka or the follower, a write-blocked follower index, and a leader
 * index recreated between two replications. These kill parts of the plain stack, so this project runs alone,
 * after the others (test/run.ts).
 *
 * One extractor and one applier (real processes) serve every scenario; the extractor reaches Kafka through a proxy
 * on Kafka's PROXIED listener, the applier reaches the follower through a proxy, so either link can hang. Each
 * scenario has its own 3-shard leader index and follower index:
 *
 *   start the load -> SYNCING with documents on the follower -> fault -> its end -> load 5 s more -> load stops
 *   -> the follower converges (120 s at most)
 *
 * and then: the follower is identical by a plain comparison (test/support/checks.ts) and by the verifier; nothing
 * was dead-lettered; while a fault that stops replication lasted, no `_status` sample after the first 3 s (3 report
 * intervals, at least 3 s) said SYNCING with lag 0, and none said FAILED; SYNCING again, for good, within 60 s of
 * its end (a restarted part's fault ends when it serves the scenario's index again). Each prints
 * `faults: <scenario>: ...` with the figures the issue's closing note tabulates.
 */
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { verifyIndex } from '../../services/verifier/verify.js';
import type { VerifyResult } from '../../services/verifier/verify.js';
import { readStackConfig } from '../../deploy/local/lib/config.js';
import { kafkaHealthy } from '../../deploy/local/lib/kafka.js';
import { tcpOpen } from '../../deploy/local/lib/procs.js';
import { registryHealthy } from '../../deploy/local/lib/registry.js';
import { compareIndices, deadLetterRecords, describeComparison, sampleStatus } from '../support/checks.js';
import type { Comparison, StatusSample, StatusSampler } from '../support/checks.js';
import { closeControlledHarness, startControlledHarness } from '../support/control.js';
import type { Control } from '../support/control.js';
import { ensureStackUp, killPart, localStack, stackEnv, startPartsWatching, startProxy } from '../support/faults.js';
import type { PartName, Proxy } from '../support/faults.js';
import { startMixedLoad } from '../support/load.js';
import type { LoadCounts, MixedLoad } from '../support/load.js';
import { applierStatus, bulkLines } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import type { ServiceProcess } from '../support/services.js';
import { esConnection, loadStack, uniqueName, waitFor } from '../support/stack.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const STATE_FILE = process.env.KCCR_STACK_STATE ?? join(ROOT, '.stack', 'stack.json');

/** 3 report intervals, at least 3 s: a fault shorter than this may pass unseen. */
const GRACE_MS = 3000;
/** SYNCING again at most this long after a fault ended. */
const RECOVER_MS = 60_000;
/** Leader and follower identical at most this long after the load stopped. */
const CONVERGE_MS = 120_000;
/** The load goes on this long after a fault ended. */
const AFTER_FAULT_MS = 5000;
/** Documents on the follower before a fault, so that the fault hits a replication that is moving. */
const BEFORE_FAULT_DOCS = 50;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => (ms / 1000).toFixed(1);

const stack = loadStack('plain');
const local = localStack(STATE_FILE, stack);
/** The stack's own settings, for its health checks. */
const stackConfig = readStackConfig(stackEnv(local));

let h: Harness;
let control: Control;
let kafkaProxy: Proxy;
let followerProxy: Proxy;
/** Set when a scenario failed: its services may be stuck in a way the next scenario should not inherit. */
let restartServices = false;

/** The port a part answers on, to check that a kill really took it down. */
function partPort(part: PartName): number {
  if (part === 'kafka') return Number(stack.kafka.brokers[0]!.split(':').pop());
  if (part === 'registry') return Number(new URL(stack.registry.url).port);
  return Number(new URL(stack.clusters[part === 'elasticsearch-leader' ? 'leader' : 'follower'].url).port);
}

async function kill(part: PartName): Promise<void> {
  await killPart(local, part);
  if (await tcpOpen(partPort(part))) throw new Error(`harness: ${part} was killed but port ${partPort(part)} still answers`);
}

/**
 * Stalls a proxy for `ms`. The harness checks itself: the service's traffic went through the proxy before, and
 * nothing was forwarded while stalled (`during` may check more while it hangs).
 */
async function stall(proxy: Proxy, what: string, ms: number, during?: () => Promise<void>): Promise<void> {
  if (proxy.connections === 0 || proxy.forwarded === 0) throw new Error(`harness: no traffic goes through the ${what} proxy; the service bypasses it`);
  proxy.stall();
  const before = proxy.forwarded;
  try {
    await Promise.all([sleep(ms), during?.()]);
    if (proxy.forwarded !== before) throw new Error(`harness: the ${what} proxy forwarded ${proxy.forwarded - before} bytes while stalled`);
  } finally {
    proxy.resume();
  }
}

/** A graceful stop bounded in time (SIGKILL after 30 s), then a start: the services are never left stopped. */
async function restart(service: ServiceProcess): Promise<void> {
  const timer = setTimeout(() => void service.kill(), 30_000);
  try {
    await service.stop();
  } finally {
    clearTimeout(timer);
  }
  service.start();
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios

interface Fault {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  /** The fault stops replication: while it lasts, `_status` must not say SYNCING with lag 0. */
  readonly blocks: boolean;
}

class Scenario {
  readonly faults: Fault[] = [];
  readonly samples: StatusSample[] = [];
  leaderIndex: string;
  followerIndex: string;
  load?: MixedLoad;
  sampler?: StatusSampler;
  readonly seed = Date.now() % 1_000_000;
  readonly loads: LoadCounts[] = [];
  /** Every follower index this scenario replicated into. */
  readonly followers: string[] = [];

  constructor(readonly name: string) {
    const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 24);
    this.leaderIndex = uniqueName(`flt-${slug}`);
    this.followerIndex = uniqueName(`flf-${slug}`);
  }

  async createLeaderIndex(): Promise<void> {
    await h.leader.createIndex(this.leaderIndex, {
      settings: { index: { number_of_shards: 3, number_of_replicas: 0, refresh_interval: '1s' } },
      mappings: { properties: { n: { type: 'long' }, writer: { type: 'keyword' }, text: { type: 'text' }, updated: { type: 'long' }, by: { type: 'keyword' }, at: { type: 'long' } } },
    });
  }

  startLoad(idPrefix = 'doc-', seedOffset = 0): void {
    this.load = startMixedLoad({ leader: esConnection(stack, 'leader'), index: this.leaderIndex, seed: this.seed + seedOffset, writers: 2, idPrefix, log: (line) => console.log(`faults: ${this.name}: ${line}`) });
  }

  async stopLoad(): Promise<void> {
    if (!this.load) return;
    const load = this.load;
    this.load = undefined;
    this.loads.push(await load.stop());
  }

  /** Starts replicating the leader index into `followerIndex` and samples its status from now on. */
  async startReplication(followerIndex: string): Promise<void> {
    await this.stopSampler();
    this.followerIndex = followerIndex;
    const r = await control.call('PUT', `/_plugins/_replication/${followerIndex}/_start`, { leader_alias: h.names.leaderCluster, leader_index: this.leaderIndex });
    if (r.status !== 200) throw new Error(`starting ${this.leaderIndex} -> ${followerIndex}: ${r.status} ${JSON.stringify(r.body)}`);
    this.followers.push(followerIndex);
    this.sampler = sampleStatus(control, followerIndex);
  }

  /**
   * Stops this scenario's replications, so that they cost the next scenarios nothing (nor add to their dead letters),
   * and deletes its indices when it passed (a failure's are kept to look at).
   */
  async cleanUp(passed: boolean): Promise<void> {
    for (const f of this.followers) await control.call('POST', `/_plugins/_replication/${f}/_stop`, {});
    if (!passed) return;
    await h.leader.deleteIndex(this.leaderIndex);
    for (const f of this.followers) await h.follower.deleteIndex(f);
  }

  async stopSampler(): Promise<void> {
    if (!this.sampler) return;
    const sampler = this.sampler;
    this.sampler = undefined;
    await sampler.stop();
    this.samples.push(...sampler.samples);
  }

  /** Waits until the replication says SYNCING and the follower holds some documents. */
  async moving(timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let seen = 'no status sample yet';
    while (Date.now() < deadline) {
      const last = this.sampler?.samples.at(-1);
      if (last) seen = `${last.status}${last.reason ? ` (${last.reason})` : ''}`;
      if (last?.status === 'SYNCING') {
        const count = await h.follower.request<{ count: number }>('GET', `/${this.followerIndex}/_count`, { ignore: [404] });
        if (count.status === 200 && count.body.count >= BEFORE_FAULT_DOCS) return;
        seen += `, ${count.status === 200 ? count.body.count : 'no'} documents on the follower`;
      }
      await sleep(500);
    }
    throw new Error(`${this.followerIndex} was not SYNCING with at least ${BEFORE_FAULT_DOCS} documents within ${timeoutMs / 1000} s; last seen: ${seen}`);
  }

  /**
   * Inflicts a fault. It lasts from the call until the time `inflict` resolves with (when a restarted part served
   * this scenario again), or else until `inflict` resolves.
   */
  async fault(name: string, inflict: () => Promise<number | void>, opts: { blocks?: boolean } = {}): Promise<void> {
    const start = Date.now();
    let end: number | undefined;
    try {
      end = (await inflict()) ?? undefined;
    } finally {
      this.faults.push({ name, start, end: end ?? Date.now(), blocks: opts.blocks ?? true });
    }
  }

  /**
   * SIGKILL a part, keep it down `downMs`, start it again; resolves with when it served this scenario again: Kafka
   * and the registry healthy, a cluster with this scenario's index available (the cluster as a whole may still be
   * recovering other indices).
   */
  async killAndRestart(part: PartName, downMs = 0): Promise<number> {
    await kill(part);
    if (downMs > 0) await sleep(downMs);
    return startPartsWatching(local, async () => {
      if (part === 'kafka') return kafkaHealthy(stackConfig);
      if (part === 'registry') return registryHealthy(stackConfig);
      const [es, index] = part === 'elasticsearch-leader' ? [h.leader, this.leaderIndex] : [h.follower, this.followerIndex];
      const r = await es.request<{ status: string }>('GET', `/_cluster/health/${encodeURIComponent(index)}`, { ignore: [404, 408, 503], timeoutMs: 2000 });
      return r.status === 200 && ['yellow', 'green'].includes(r.body.status);
    });
  }

  /** Waits (at most RECOVER_MS) until the status has said SYNCING for 3 s since the last fault ended; judged at the end. */
  async recovered(): Promise<void> {
    const last = this.faults.at(-1);
    const sampler = this.sampler;
    if (!last || !sampler) return;
    const deadline = last.end + RECOVER_MS;
    while (Date.now() < deadline) {
      const since = sampler.samples.filter((x) => x.at >= last.end);
      const lastOther = since.findLast((x) => x.status !== 'SYNCING');
      const stretch = since.filter((x) => x.at > (lastOther?.at ?? 0));
      if (stretch.length > 0 && stretch.at(-1)!.at - stretch[0]!.at >= 3000) return;
      await sleep(250);
    }
  }
}

/** A compact timeline of the samples, relative to `t0`: `+0.0 SYNCING(lag 0) x4, +2.1 STALE x9 (reason), ...`. */
function timeline(samples: readonly StatusSample[], t0: number): string {
  const out: string[] = [];
  let run: { s: StatusSample; n: number; key: string } | undefined;
  const key = (s: StatusSample) => `${s.status}${s.status === 'SYNCING' ? (s.lag_operations === 0 ? '(lag 0)' : '(lag>0)') : ''}`;
  const flush = () => run && out.push(`${seconds(run.s.at - t0)} ${run.key} x${run.n}${run.s.reason ? ` (${run.s.reason.slice(0, 120)})` : ''}`);
  for (const s of samples) {
    if (run && run.key === key(s)) run.n++;
    else {
      flush();
      run = { s, n: 1, key: key(s) };
    }
  }
  flush();
  return out.join(', ');
}

/**
 * Runs one scenario around `body`, which inflicts its faults with `s.fault(...)`, and judges it. Every problem is
 * collected, so a failing scenario names all that went wrong; its figures are printed either way.
 */
async function runScenario(name: string, body: (s: Scenario) => Promise<void>): Promise<void> {
  const s = new Scenario(name);
  const problems: string[] = [];
  try {
    const deadLettersBefore = await deadLetterRecords(stack, h.names.followerCluster);
    await s.createLeaderIndex();
    s.startLoad();
    await s.startReplication(s.followerIndex);
    await s.moving();

    await body(s);
    await sleep(AFTER_FAULT_MS);
    await s.stopLoad();
    const loadStopped = Date.now();
    await s.recovered();

    // Convergence: both comparisons identical, polled.
    let plain: Comparison | undefined;
    let verified: VerifyResult | undefined;
    let verifyError: string | undefined;
    await waitFor(
      `${s.followerIndex} identical to ${s.leaderIndex}`,
      async () => {
        plain = await compareIndices(h.leader, h.follower, s.leaderIndex, s.followerIndex);
        if (plain.differences > 0) return false;
        try {
          verified = await verifyIndex(h.leader, h.follower, { leaderIndex: s.leaderIndex, followerIndex: s.followerIndex });
          verifyError = undefined;
        } catch (e) {
          verifyError = e instanceof Error ? e.message : String(e);
          return false;
        }
        return verified.identical;
      },
      CONVERGE_MS,
      2000,
    ).catch(() => undefined);
    const convergedMs = Date.now() - loadStopped;

    const deadLetters = (await deadLetterRecords(stack, h.names.followerCluster)) - deadLettersBefore;
    const statusDeadLetters = (applierStatus(h, s.followerIndex)?.shards ?? []).reduce((n, x) => n + x.deadLettered, 0);
    await s.stopSampler();

    // Judgement.
    const samples = s.samples;
    const firstStart = s.faults[0]?.start ?? Date.now();
    const shown: string[] = [];
    const recovered: string[] = [];
    for (const [i, f] of s.faults.entries()) {
      const problem = samples.find((x) => x.at >= f.start && x.at <= f.end + 30_000 && !['SYNCING', 'BOOTSTRAPPING'].includes(x.status));
      shown.push(problem ? `${seconds(problem.at - f.start)} s (${problem.status})` : 'never');
      // Recovered for good: SYNCING from this sample on, until the next fault (or the end of sampling).
      const until = s.faults[i + 1]?.start ?? Number.POSITIVE_INFINITY;
      const after = samples.filter((x) => x.at >= f.end && x.at < until);
      let back: StatusSample | undefined;
      for (let j = after.length - 1; j >= 0 && after[j]!.status === 'SYNCING'; j--) back = after[j];
      recovered.push(back ? seconds(back.at - f.end) : 'never');
      if (!back || back.at - f.end > RECOVER_MS) problems.push(`${f.name}: not SYNCING for good within ${RECOVER_MS / 1000} s of the fault's end${back ? ` (after ${seconds(back.at - f.end)} s)` : ''}`);
      if (f.blocks && f.end - f.start > GRACE_MS) {
        const lies = samples.filter((x) => x.at >= f.start + GRACE_MS && x.at <= f.end && x.status === 'SYNCING' && x.lag_operations === 0);
        if (lies.length) problems.push(`${f.name}: ${lies.length} status samples said SYNCING with lag 0 while the fault lasted (first ${seconds(lies[0]!.at - f.start)} s after it began)`);
      }
    }
    const failed = samples.filter((x) => x.at >= firstStart && x.status === 'FAILED');
    if (failed.length) problems.push(`${failed.length} status samples said FAILED for a fault a retry fixes (first: ${failed[0]!.reason})`);
    if (!plain || plain.differences > 0) problems.push(`plain comparison: ${plain ? describeComparison(plain) : 'never ran'}`);
    if (!verified?.identical) problems.push(`verifier: ${verifyError ?? (verified ? `${verified.differences} differences` : 'not run (the plain comparison never matched)')}`);
    if (deadLetters > 0) problems.push(`${deadLetters} records dead-lettered to ${h.names.followerCluster}'s dead-letter topic`);
    if (statusDeadLetters > 0) problems.push(`the applier's status counts ${statusDeadLetters} dead letters`);
    const load = s.loads.reduce((a, c) => ({ ops: a.ops + c.index + c.update + c.delete, failed: a.failed + c.failedBatches }), { ops: 0, failed: 0 });
    if (load.ops < 200) problems.push(`the load sent only ${load.ops} operations`);

    const differences = plain?.differences ?? -1;
    const verifierNote = verified && verified.differences !== differences ? ` (verifier ${verified.differences})` : '';
    console.log(
      `faults: ${name}: problem shown after ${shown.join(' / ')}, recovered ${recovered.join(' / ')} s after the fault ended, differences ${differences}${verifierNote}, dead letters ${Math.max(deadLetters, statusDeadLetters)}`,
    );
    console.log(
      `faults: ${name}: detail: faults ${s.faults.map((f) => `${f.name} ${seconds(f.end - f.start)} s`).join(', ')}; load ${load.ops} ops, ${load.failed} failed bulks; ` +
        `identical ${plain?.differences === 0 && verified?.identical ? `${seconds(convergedMs)} s after the load stopped` : 'never'}; ${plain ? describeComparison(plain) : ''}`,
    );
    console.log(`faults: ${name}: status (s from the first fault): ${timeline(samples, firstStart)}`);
  } catch (e) {
    problems.push(`the scenario did not run to its end: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await s.stopLoad().catch(() => undefined);
    await s.stopSampler().catch(() => undefined);
    // A scenario cut short may have left a part down or a link stalled; the clean-up needs them.
    kafkaProxy.resume();
    followerProxy.resume();
    await ensureStackUp(local).catch(() => undefined);
    await s.cleanUp(problems.length === 0).catch((e: unknown) => console.log(`faults: ${name}: cleaning up: ${e instanceof Error ? e.message : String(e)}`));
    if (problems.length) restartServices = true;
  }
  expect(problems, `scenario "${name}" (leader ${s.leaderIndex}, follower ${s.followerIndex}, seed ${s.seed})`).toEqual([]);
}

// ---------------------------------------------------------------------------------------------------------------

describe('fault harness', () => {
  it('a stalled proxy forwards nothing and closes nothing, and forwards everything once resumed', async () => {
    const echo = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.pipe(socket);
    });
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    const port = (echo.address() as { port: number }).port;
    const proxy = await startProxy('127.0.0.1', port);
    const received = (socket: Socket) => {
      const chunks: Buffer[] = [];
      socket.on('error', () => undefined);
      socket.on('data', (c: Buffer) => chunks.push(c));
      return () => Buffer.concat(chunks).toString();
    };
    try {
      const a = connect(proxy.port, '127.0.0.1');
      await once(a, 'connect');
      const gotA = received(a);
      a.write('one');
      await waitFor('the echo through the proxy', async () => gotA() === 'one', 2000, 20);

      proxy.stall();
      a.write('two');
      const b = connect(proxy.port, '127.0.0.1');
      await once(b, 'connect');
      const gotB = received(b);
      b.write('three');
      await sleep(500);
      expect(gotA()).toBe('one');
      expect(gotB()).toBe('');
      expect(a.destroyed || b.destroyed).toBe(false);
      expect(proxy.connections).toBe(2);

      proxy.resume();
      await waitFor('what was held back', async () => gotA() === 'onetwo' && gotB() === 'three', 2000, 20);
      a.destroy();
      b.destroy();
    } finally {
      await proxy.close();
      echo.close();
    }

    // A target that refuses: the client's connection is reset, not left hanging.
    const refused = await startProxy('127.0.0.1', port);
    try {
      const c = connect(refused.port, '127.0.0.1');
      const error = new Promise<string>((res) => c.on('error', (e: NodeJS.ErrnoException) => res(e.code ?? e.message)));
      await new Promise((res) => c.on('close', res));
      expect(await error).toBe('ECONNRESET');
    } finally {
      await refused.close();
    }
  });

  it('the plain comparison and the verifier find real differences', async () => {
    const leaderIndex = uniqueName('flt-compare');
    const followerIndex = uniqueName('flf-compare');
    const leader = new ElasticsearchAdapter(esConnection(stack, 'leader'));
    const follower = new ElasticsearchAdapter(esConnection(stack, 'follower'));
    try {
      const settings = { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } };
      await leader.createIndex(leaderIndex, settings);
      await follower.createIndex(followerIndex, settings);
      const same = Array.from({ length: 20 }, (_, i) => ({ id: `same-${i}`, ...(i % 3 === 0 ? { routing: 'r1' } : {}), source: { n: i, nested: { a: 1, b: [1, 2] } } }));
      await leader.bulk(bulkLines(leaderIndex, [...same, { id: 'missing', source: { n: 1 } }, { id: 'changed', source: { n: 1 } }, { id: 'rerouted', routing: 'r1', source: { n: 1 } }]), { refresh: 'true' });
      // The same documents with their keys in another order are the same documents.
      const reordered = same.map((d) => ({ ...d, source: { nested: { b: [1, 2], a: 1 }, n: d.source.n } }));
      await follower.bulk(bulkLines(followerIndex, [...reordered, { id: 'extra', source: { n: 1 } }, { id: 'changed', source: { n: 2 } }, { id: 'rerouted', routing: 'r2', source: { n: 1 } }]), { refresh: 'true' });

      const c = await compareIndices(leader, follower, leaderIndex, followerIndex);
      expect({ missing: c.missing, extra: c.extra, different: [...c.different].sort(), leaderCount: c.leaderCount, followerCount: c.followerCount }).toEqual({
        missing: ['missing'],
        extra: ['extra'],
        different: ['changed', 'rerouted'],
        leaderCount: 23,
        followerCount: 23,
      });
      expect(c.differences).toBe(4);
      expect((await compareIndices(leader, leader, leaderIndex, leaderIndex)).differences).toBe(0);
      const v = await verifyIndex(leader, follower, { leaderIndex, followerIndex });
      expect(v.identical).toBe(false);
      expect(v.differences).toBeGreaterThanOrEqual(3);
    } finally {
      await leader.deleteIndex(leaderIndex);
      await follower.deleteIndex(followerIndex);
      await Promise.all([leader.close(), follower.close()]);
    }
  });
});

describe('replication under infrastructure faults', () => {
  beforeAll(async () => {
    // A part left down by an aborted earlier run would fail every scenario.
    await ensureStackUp(local);
    const proxied = stack.kafka.proxied;
    if (!proxied) throw new Error(`${STATE_FILE} names no proxied Kafka listener: run \`npm run stack:up\` (it rewrites stack.json) and restart Kafka`);
    if (!(await tcpOpen(proxied.listenerPort))) {
      throw new Error(`Kafka does not listen on its proxied listener (port ${proxied.listenerPort}); it was started by an older stack: restart it (\`npm run stack:down && npm run stack:up\`)`);
    }
    kafkaProxy = await startProxy('127.0.0.1', proxied.listenerPort, proxied.advertisedPort);
    const follower = new URL(stack.clusters.follower.url);
    followerProxy = await startProxy(follower.hostname, Number(follower.port));
    ({ h, control } = await startControlledHarness('faults', {
      services: {
        extractorEnv: { KCCR_KAFKA_BROKERS: `127.0.0.1:${kafkaProxy.port}` },
        applierEnv: { KCCR_FOLLOWER_URL: `http://127.0.0.1:${followerProxy.port}` },
      },
    }));
  }, 360_000);

  afterEach(async () => {
    // Whatever happened, the next scenario gets the whole stack, open links and (after a failure) fresh services.
    kafkaProxy?.resume();
    followerProxy?.resume();
    const started = await ensureStackUp(local);
    if (started.length) console.log(`faults: after the scenario: started ${started.join(', ')} again`);
    if (restartServices && h) {
      console.log('faults: after a failed scenario: restarting the extractor and the applier');
      await Promise.all([restart(h.extractor), restart(h.applier)]);
      restartServices = false;
    }
  }, 360_000);

  afterAll(async () => {
    await closeControlledHarness(h, control);
    await kafkaProxy?.close();
    await followerProxy?.close();
  }, 120_000);

  it('applier <-> follower stalled 30 s', { timeout: 420_000 }, async () => {
    await runScenario('applier <-> follower stalled 30 s', (s) =>
      s.fault('stall', () =>
        stall(followerProxy, 'applier <-> follower', 30_000, async () => {
          // The harness's own evidence that the applier is cut off: the follower's count does not move meanwhile.
          const count = async () => (await h.follower.request<{ count: number }>('GET', `/${s.followerIndex}/_count`)).body.count;
          await sleep(3000);
          const first = await count();
          await sleep(25_000);
          const later = await count();
          if (later !== first) throw new Error(`harness: the follower index went from ${first} to ${later} documents while the applier's link was stalled`);
        }),
      ),
    );
  });

  it('extractor <-> Kafka stalled 30 s', { timeout: 420_000 }, async () => {
    await runScenario('extractor <-> Kafka stalled 30 s', (s) => s.fault('stall', () => stall(kafkaProxy, 'extractor <-> Kafka', 30_000)));
  });

  it('follower index write-blocked 60 s', { timeout: 450_000 }, async () => {
    await runScenario('follower index write-blocked 60 s', (s) =>
      s.fault('write block', async () => {
        const block = (value: boolean | null) => h.follower.request('PUT', `/${encodeURIComponent(s.followerIndex)}/_settings`, { body: { index: { blocks: { write: value } } } });
        await block(true);
        try {
          await sleep(60_000);
        } finally {
          await block(null);
        }
      }),
    );
  });

  it('leader Elasticsearch SIGKILL + restart', { timeout: 480_000 }, async () => {
    await runScenario('leader Elasticsearch SIGKILL + restart', (s) =>
      s.fault('leader kill', () => s.killAndRestart('elasticsearch-leader')),
    );
  });

  it('follower Elasticsearch SIGKILL + restart', { timeout: 480_000 }, async () => {
    await runScenario('follower Elasticsearch SIGKILL + restart', (s) =>
      s.fault('follower kill', () => s.killAndRestart('elasticsearch-follower')),
    );
  });

  it('Kafka SIGKILL + restart', { timeout: 480_000 }, async () => {
    await runScenario('Kafka SIGKILL + restart', (s) =>
      s.fault('kafka kill', () => s.killAndRestart('kafka')),
    );
  });

  it('Kafka down 60 s', { timeout: 540_000 }, async () => {
    await runScenario('Kafka down 60 s', (s) =>
      s.fault('kafka down', () => s.killAndRestart('kafka', 60_000)),
    );
  });

  it('registry SIGKILL + restart, then the applier and the extractor restarted', { timeout: 480_000 }, async () => {
    // The services hold the schemas they use, so replication need not stop while the registry is away: the status
    // window does not apply. What must hold is that nothing is dead-lettered, also by services started afterwards.
    await runScenario('registry SIGKILL + restart, services restarted', (s) =>
      s.fault(
        'registry kill, services restart',
        async () => {
          await s.killAndRestart('registry');
          await restart(h.applier);
          await restart(h.extractor);
        },
        { blocks: false },
      ),
    );
  });

  it('follower Elasticsearch down 2 minutes', { timeout: 600_000 }, async () => {
    await runScenario('follower Elasticsearch down 2 min', (s) =>
      s.fault('follower down', () => s.killAndRestart('elasticsearch-follower', 120_000)),
    );
  });

  it('stop, delete and recreate the leader index, start into a new follower index', { timeout: 480_000 }, async () => {
    await runScenario('leader index recreated, started into a new follower', (s) =>
      s.fault(
        'recreate',
        async () => {
          await s.stopLoad();
          const stopped = await control.call('POST', `/_plugins/_replication/${s.followerIndex}/_stop`, {});
          if (stopped.status !== 200) throw new Error(`stop: ${stopped.status} ${JSON.stringify(stopped.body)}`);
          await h.leader.deleteIndex(s.leaderIndex);
          await s.createLeaderIndex();
          // Other documents: ids the first incarnation never had, so any of its documents in the new follower shows.
          s.startLoad('new-', 1);
          await s.startReplication(uniqueName('flf-recreated'));
        },
        { blocks: false },
      ),
    );
  });

  it('several faults in sequence: Kafka kill + restart, follower kill + restart, applier <-> follower stall', { timeout: 720_000 }, async () => {
    await runScenario('sequence (Kafka kill, follower kill, applier <-> follower stall 30 s)', async (s) => {
      await s.fault('kafka kill', () => s.killAndRestart('kafka'));
      await s.recovered();
      await s.fault('follower kill', () => s.killAndRestart('elasticsearch-follower'));
      await s.recovered();
      await s.fault('stall', () => stall(followerProxy, 'applier <-> follower', 30_000));
    });
  });
});
