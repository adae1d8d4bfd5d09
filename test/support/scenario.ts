/**
 * One fault scenario under a mixed write load, judged the same way wherever it runs (the single-node fault suite,
 * the multi-node suite):
 *
 *   start the load -> SYNCING with documents on the follower -> fault -> its end -> load 5 s more -> load stops
 *   -> the follower converges (120 s at most)
 *
 * and then: the follower is identical by a plain comparison (checks.ts) and by the verifier; nothing was
 * dead-lettered; while a fault that stops replication lasted, no `_status` sample after the first 3 s (3 report
 * intervals, at least 3 s) said SYNCING with lag 0, and none said FAILED; SYNCING again, for good, within 60 s of
 * its end (a restarted part's fault ends when it serves the scenario's index again). Each prints
 * `<tag>: <scenario>: ...` with the figures the closing notes tabulate.
 */
import { expect } from 'vitest';
import type { StackConfig } from '../../deploy/local/lib/config.js';
import { kafkaHealthy } from '../../deploy/local/lib/kafka.js';
import { tcpOpen } from '../../deploy/local/lib/procs.js';
import { registryHealthy } from '../../deploy/local/lib/registry.js';
import type { StackState } from '../../deploy/local/lib/state.js';
import { verifyIndex } from '../../services/verifier/verify.js';
import type { VerifyResult } from '../../services/verifier/verify.js';
import { compareIndices, deadLetterRecords, describeComparison, sampleStatus } from './checks.js';
import type { Comparison, StatusSample, StatusSampler } from './checks.js';
import type { Control } from './control.js';
import { ensureStackUp, killPart, startPartsWatching } from './faults.js';
import type { LocalStack, PartName } from './faults.js';
import { startMixedLoad } from './load.js';
import type { LoadCounts, MixedLoad } from './load.js';
import { applierStatus } from './replication.js';
import type { Harness } from './replication.js';
import type { ServiceProcess } from './services.js';
import { esConnection, uniqueName, waitFor } from './stack.js';

/** What the scenarios of one suite share: the stack, the services and their control service. */
export interface ScenarioContext {
  /** The prefix of the lines a scenario prints (`faults`, `multinode`). */
  readonly tag: string;
  readonly stack: StackState;
  readonly local: LocalStack;
  /** The stack's own settings, for its health checks. */
  readonly config: StackConfig;
  /** Set once the suite's services run. */
  h: Harness;
  control: Control;
  /** Replicas of each scenario's 3-shard leader index (0 on a single node). */
  readonly replicas?: number;
  /** Undoes what a scenario cut short may have left behind (a stalled proxy). */
  readonly reset?: () => void;
  /** Set when a scenario failed: its services may be stuck in a way the next scenario should not inherit. */
  restartServices: boolean;
}

/** 3 report intervals, at least 3 s: a fault shorter than this may pass unseen. */
export const GRACE_MS = 3000;
/** SYNCING again at most this long after a fault ended. */
export const RECOVER_MS = 60_000;
/** Leader and follower identical at most this long after the load stopped. */
const CONVERGE_MS = 120_000;
/** The load goes on this long after a fault ended. */
const AFTER_FAULT_MS = 5000;
/** Documents on the follower before a fault, so that the fault hits a replication that is moving. */
const BEFORE_FAULT_DOCS = 50;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const seconds = (ms: number) => (ms / 1000).toFixed(1);

/** The port a part answers on, to check that a kill really took it down. */
function partPort(stack: StackState, part: PartName): number {
  if (part === 'kafka') return Number(stack.kafka.brokers[0]!.split(':').pop());
  if (part === 'registry') return Number(new URL(stack.registry.url).port);
  const cluster = stack.clusters[part.startsWith('elasticsearch-leader') ? 'leader' : 'follower'];
  return Number(new URL(cluster.nodes?.find((n) => n.part === part)?.url ?? cluster.url).port);
}

/** SIGKILL to a part, checked: its port no longer answers. */
export async function killAndCheck(ctx: Pick<ScenarioContext, 'stack' | 'local'>, part: PartName): Promise<void> {
  await killPart(ctx.local, part);
  const port = partPort(ctx.stack, part);
  if (await tcpOpen(port)) throw new Error(`harness: ${part} was killed but port ${port} still answers`);
}

/** A graceful stop bounded in time (SIGKILL after 30 s), then a start: the services are never left stopped. */
export async function restart(service: ServiceProcess): Promise<void> {
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

export class Scenario {
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

  constructor(
    readonly ctx: ScenarioContext,
    readonly name: string,
  ) {
    const slug = name
      .replace(/[^a-z0-9]+/gi, '-')
      .toLowerCase()
      .slice(0, 24);
    this.leaderIndex = uniqueName(`flt-${slug}`);
    this.followerIndex = uniqueName(`flf-${slug}`);
  }

  async createLeaderIndex(): Promise<void> {
    await this.ctx.h.leader.createIndex(this.leaderIndex, {
      settings: { index: { number_of_shards: 3, number_of_replicas: this.ctx.replicas ?? 0, refresh_interval: '1s' } },
      mappings: {
        properties: {
          n: { type: 'long' },
          writer: { type: 'keyword' },
          text: { type: 'text' },
          updated: { type: 'long' },
          by: { type: 'keyword' },
          at: { type: 'long' },
        },
      },
    });
  }

  startLoad(idPrefix = 'doc-', seedOffset = 0): void {
    this.load = startMixedLoad({
      leader: esConnection(this.ctx.stack, 'leader'),
      index: this.leaderIndex,
      seed: this.seed + seedOffset,
      writers: 2,
      idPrefix,
      log: (line) => console.log(`${this.ctx.tag}: ${this.name}: ${line}`),
    });
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
    const r = await this.ctx.control.call('PUT', `/_plugins/_replication/${followerIndex}/_start`, {
      leader_alias: this.ctx.h.names.leaderCluster,
      leader_index: this.leaderIndex,
    });
    if (r.status !== 200) throw new Error(`starting ${this.leaderIndex} -> ${followerIndex}: ${r.status} ${JSON.stringify(r.body)}`);
    this.followers.push(followerIndex);
    this.sampler = sampleStatus(this.ctx.control, followerIndex);
  }

  /**
   * Stops this scenario's replications, so that they cost the next scenarios nothing (nor add to their dead letters),
   * and deletes its indices when it passed (a failure's are kept to look at).
   */
  async cleanUp(passed: boolean): Promise<void> {
    for (const f of this.followers) await this.ctx.control.call('POST', `/_plugins/_replication/${f}/_stop`, {});
    if (!passed) return;
    await this.ctx.h.leader.deleteIndex(this.leaderIndex);
    for (const f of this.followers) await this.ctx.h.follower.deleteIndex(f);
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
        const count = await this.ctx.h.follower.request<{ count: number }>('GET', `/${this.followerIndex}/_count`, { ignore: [404] });
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
    await killAndCheck(this.ctx, part);
    if (downMs > 0) await sleep(downMs);
    return startPartsWatching(this.ctx.local, async () => {
      if (part === 'kafka') return kafkaHealthy(this.ctx.config);
      if (part === 'registry') return registryHealthy(this.ctx.config);
      const [es, index] = part.startsWith('elasticsearch-leader') ? [this.ctx.h.leader, this.leaderIndex] : [this.ctx.h.follower, this.followerIndex];
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
export async function runScenario(ctx: ScenarioContext, name: string, body: (s: Scenario) => Promise<void>): Promise<void> {
  const { h, stack } = ctx;
  const s = new Scenario(ctx, name);
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
      if (!back || back.at - f.end > RECOVER_MS)
        problems.push(
          `${f.name}: not SYNCING for good within ${RECOVER_MS / 1000} s of the fault's end${back ? ` (after ${seconds(back.at - f.end)} s)` : ''}`,
        );
      if (f.blocks && f.end - f.start > GRACE_MS) {
        const lies = samples.filter((x) => x.at >= f.start + GRACE_MS && x.at <= f.end && x.status === 'SYNCING' && x.lag_operations === 0);
        if (lies.length)
          problems.push(
            `${f.name}: ${lies.length} status samples said SYNCING with lag 0 while the fault lasted (first ${seconds(lies[0]!.at - f.start)} s after it began)`,
          );
      }
    }
    const failed = samples.filter((x) => x.at >= firstStart && x.status === 'FAILED');
    if (failed.length) problems.push(`${failed.length} status samples said FAILED for a fault a retry fixes (first: ${failed[0]!.reason})`);
    if (!plain || plain.differences > 0) problems.push(`plain comparison: ${plain ? describeComparison(plain) : 'never ran'}`);
    if (!verified?.identical)
      problems.push(`verifier: ${verifyError ?? (verified ? `${verified.differences} differences` : 'not run (the plain comparison never matched)')}`);
    if (deadLetters > 0) problems.push(`${deadLetters} records dead-lettered to ${h.names.followerCluster}'s dead-letter topic`);
    if (statusDeadLetters > 0) problems.push(`the applier's status counts ${statusDeadLetters} dead letters`);
    const load = s.loads.reduce((a, c) => ({ ops: a.ops + c.index + c.update + c.delete, failed: a.failed + c.failedBatches }), { ops: 0, failed: 0 });
    if (load.ops < 200) problems.push(`the load sent only ${load.ops} operations`);

    const differences = plain?.differences ?? -1;
    const verifierNote = verified && verified.differences !== differences ? ` (verifier ${verified.differences})` : '';
    console.log(
      `${ctx.tag}: ${name}: problem shown after ${shown.join(' / ')}, recovered ${recovered.join(' / ')} s after the fault ended, differences ${differences}${verifierNote}, dead letters ${Math.max(deadLetters, statusDeadLetters)}`,
    );
    console.log(
      `${ctx.tag}: ${name}: detail: faults ${s.faults.map((f) => `${f.name} ${seconds(f.end - f.start)} s`).join(', ')}; load ${load.ops} ops, ${load.failed} failed bulks; ` +
        `identical ${plain?.differences === 0 && verified?.identical ? `${seconds(convergedMs)} s after the load stopped` : 'never'}; ${plain ? describeComparison(plain) : ''}`,
    );
    console.log(`${ctx.tag}: ${name}: status (s from the first fault): ${timeline(samples, firstStart)}`);
  } catch (e) {
    problems.push(`the scenario did not run to its end: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await s.stopLoad().catch(() => undefined);
    await s.stopSampler().catch(() => undefined);
    // A scenario cut short may have left a part down or a link stalled; the clean-up needs them.
    ctx.reset?.();
    await ensureStackUp(ctx.local).catch(() => undefined);
    await s
      .cleanUp(problems.length === 0)
      .catch((e: unknown) => console.log(`${ctx.tag}: ${name}: cleaning up: ${e instanceof Error ? e.message : String(e)}`));
    if (problems.length) ctx.restartServices = true;
  }
  expect(problems, `scenario "${name}" (leader ${s.leaderIndex}, follower ${s.followerIndex}, seed ${s.seed})`).toEqual([]);
}

// ---------------------------------------------------------------------------------------------------------------
