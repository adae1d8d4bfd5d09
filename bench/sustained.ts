/**
 * `npm run bench -- sustained`: a leader index under a sustained mixed load, with replication (the real extractor
 * and applier, the services' default settings) and without, interleaved per round.
 *
 * The load: a 3-shard leader index seeded with KCCR_BENCH_SEED_DOCS (10,000) documents of ~1 KB, then 80% index of
 * new documents, 15% updates of existing ones, 5% deletes of existing ones (never two operations in flight on one
 * document), in bulks of KCCR_BENCH_BULK (100), for KCCR_BENCH_SECONDS (60):
 *   - at a fixed rate KCCR_BENCH_RATE (1000 operations/s; at most 4 bulks in flight), or
 *   - KCCR_BENCH_MAX=1: as fast as the leader takes it (KCCR_BENCH_INFLIGHT (4) bulks of KCCR_BENCH_MAX_BULK (500)
 *     in flight), which gives a true rate ratio.
 * Per run: the leader's acknowledged operations/s, bulk latency p50/p99, the leader's CPU seconds and refreshes;
 * with replication, end-to-end lag from the leader's acknowledgement to the document on the follower (a probe
 * document every 200 ms, looked for with a realtime mget every 50 ms), delete propagation (1 delete in 5 is
 * followed until a realtime mget no longer finds it on the follower), CPU seconds and peak RSS (sampled every
 * second) of the extractor and the applier, and an SVG chart of the probe lag over time.
 *
 * KCCR_BENCH_FIND_MAX=1: the highest rate at which the lag stays bounded. The leader alone at full speed (before
 * and after), then fixed-rate runs with replication at KCCR_BENCH_STEPS (500,1000,2000,4000) operations/s of
 * KCCR_BENCH_SECONDS (30 in this mode), stopping at the first unbounded step, plus one step half-way between the
 * last bounded and the first unbounded one. Bounded: probe lag p99 <= 5 s, every probe seen, and the median lag of
 * the run's second half no more than 1.5 x that of the first half + 500 ms (not growing).
 *
 * CPUs are pinned for the run (KCCR_BENCH_PIN=0 to leave them): the leader's Elasticsearch JVM on CPU 0; the
 * follower Elasticsearch, Kafka, the registry, the extractor, the applier and this process (the load generator)
 * on CPU 1. The original affinities are restored afterwards.
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { ElasticsearchAdapter } from '../services/shared/adapters/elasticsearch.js';
import type { ApplierStatus, ExtractorStatus } from '../services/shared/replication.js';
import { changeTopic } from '../services/shared/topics.js';
import { applierStatus, extractorStatus, startHarness, startReplication } from '../test/support/replication.js';
import type { Harness } from '../test/support/replication.js';
import { esConnection, loadStack, uniqueName, waitFor } from '../test/support/stack.js';
import { dropOrphanLedgers } from '../test/support/cleanup.js';
import type { StackState } from '../deploy/local/lib/state.js';
import {
  busyFractions,
  childPids,
  CpuPinning,
  cpuSeconds,
  cpuTimes,
  defaultServiceEnv,
  documentOfAbout1KB,
  envFlag,
  envNumber,
  envNumbers,
  foundOnFollower,
  median,
  percentile,
  pidOfStackPart,
  rssMiB,
  rssSampler,
  setNice,
  svgLineChart,
  table,
  writeResults,
} from './lib.js';

const MAX = envFlag('KCCR_BENCH_MAX', false);
const FIND_MAX = envFlag('KCCR_BENCH_FIND_MAX', false);
const RATE = envNumber('KCCR_BENCH_RATE', 1000);
const SECONDS = envNumber('KCCR_BENCH_SECONDS', FIND_MAX ? 30 : 60);
const ROUNDS = envNumber('KCCR_BENCH_ROUNDS', 3);
const SEED_DOCS = envNumber('KCCR_BENCH_SEED_DOCS', 10_000);
const BULK = envNumber('KCCR_BENCH_BULK', 100);
const MAX_BULK = envNumber('KCCR_BENCH_MAX_BULK', 500);
const INFLIGHT = envNumber('KCCR_BENCH_INFLIGHT', 4);
const STEPS = envNumbers('KCCR_BENCH_STEPS', [500, 1000, 2000, 4000]);
const PIN = envFlag('KCCR_BENCH_PIN', true);
/**
 * The load generator's nice value: in the full-speed runs it shares CPU 1 with the whole follower side, and if it
 * starved there, a leader that could take more would look slower. -10 (the default for KCCR_BENCH_MAX and
 * KCCR_BENCH_FIND_MAX) gives it the CPU it asks for; the extractor and applier it starts are set back to 0.
 */
const GENERATOR_NICE = Number(process.env.KCCR_BENCH_GENERATOR_NICE ?? (MAX || FIND_MAX ? -10 : 0));
/** One delete in this many is followed to the follower. */
const DELETE_SAMPLE = 5;
/** After the load: how long to wait for probes and followed deletes still missing (they then count as censored). */
const PROBE_WAIT_MS = 30_000;
const DELETE_WAIT_MS = envNumber('KCCR_BENCH_DELETE_WAIT_MS', 60_000);
const LEADER_CPU = '0';
const OTHERS_CPU = '1';

type Mode = 'none' | 'replication';

/** The operation mix over a pool of live documents; no two operations in flight ever touch one document. */
class Mix {
  private readonly live: string[] = [];
  private readonly pos = new Map<string, number>();
  private readonly createdAt = new Map<string, number>();
  private nextId = 0;
  private deletes = 0;

  constructor(
    readonly index: string,
    private readonly random: () => number,
  ) {}

  private add(id: string): void {
    this.pos.set(id, this.live.length);
    this.live.push(id);
  }

  private take(at: number): string {
    const id = this.live[at]!;
    const last = this.live.pop()!;
    if (last !== id) {
      this.live[at] = last;
      this.pos.set(last, at);
    }
    this.pos.delete(id);
    return id;
  }

  /** A random live document; with `olderThan`, preferably one acknowledged before it (a few tries). */
  private takeRandom(olderThan?: number): string | undefined {
    if (this.live.length === 0) return undefined;
    let at = Math.floor(this.random() * this.live.length);
    if (olderThan !== undefined) {
      for (let k = 0; k < 5 && (this.createdAt.get(this.live[at]!) ?? 0) > olderThan; k++) at = Math.floor(this.random() * this.live.length);
    }
    return this.take(at);
  }

  private source(): string {
    return JSON.stringify(documentOfAbout1KB(this.nextId, this.random));
  }

  build(n: number, createsOnly = false): Batch {
    const ops: Op[] = [];
    const lines: string[] = [];
    const now = Date.now();
    for (let k = 0; k < n; k++) {
      const r = createsOnly ? 0 : this.random();
      let id: string | undefined;
      if (r >= 0.8 && r < 0.95) {
        id = this.takeRandom();
        if (id !== undefined) {
          ops.push({ kind: 'update', id, sampled: false });
          lines.push(`{"index":{"_index":"${this.index}","_id":"${id}"}}\n${this.source()}\n`);
          continue;
        }
      } else if (r >= 0.95) {
        const sampled = ++this.deletes % DELETE_SAMPLE === 0;
        id = this.takeRandom(sampled ? now - 5000 : undefined);
        if (id !== undefined) {
          ops.push({ kind: 'delete', id, sampled });
          lines.push(`{"delete":{"_index":"${this.index}","_id":"${id}"}}\n`);
          continue;
        }
      }
      id = `d${this.nextId++}`;
      ops.push({ kind: 'index', id, sampled: false });
      lines.push(`{"index":{"_index":"${this.index}","_id":"${id}"}}\n${this.source()}\n`);
    }
    return { ops, body: lines.join('') };
  }

  /** After the leader answered: created and updated documents are live again. */
  acked(batch: Batch, statuses: readonly number[], at: number): void {
    batch.ops.forEach((op, i) => {
      const ok = (statuses[i] ?? 500) < 300;
      if (op.kind === 'index' && ok) {
        this.createdAt.set(op.id, at);
        this.add(op.id);
      } else if (op.kind === 'update') {
        this.add(op.id);
      } else if (op.kind === 'delete') {
        this.createdAt.delete(op.id);
      }
    });
  }
}

interface Op {
  readonly kind: 'index' | 'update' | 'delete';
  readonly id: string;
  readonly sampled: boolean;
}

interface Batch {
  readonly ops: readonly Op[];
  readonly body: string;
}

interface LoadStats {
  acked: number;
  seconds: number;
  bulkLatencies: number[];
  byKind: Record<Op['kind'], number>;
  rejected: number;
  /** Acknowledged operations per second of the run. */
  perSecond: number[];
}

/** Fixed rate (`rate` operations/s, paced bulks, at most 4 in flight) or, without a rate, as fast as the leader takes it. */
async function mixedLoad(
  es: ElasticsearchAdapter,
  mix: Mix,
  opts: { rate: number | undefined; seconds: number; bulkSize: number; inflight: number; onDeletes?: (ids: string[], ackAt: number) => void },
): Promise<LoadStats> {
  const start = Date.now();
  const stats: LoadStats = { acked: 0, seconds: 0, bulkLatencies: [], byKind: { index: 0, update: 0, delete: 0 }, rejected: 0, perSecond: [] };
  const interval = opts.rate ? (opts.bulkSize / opts.rate) * 1000 : 0;
  const inflight = new Set<Promise<void>>();
  for (let k = 0; Date.now() - start < opts.seconds * 1000; k++) {
    if (opts.rate) {
      const wait = start + k * interval - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const batch = mix.build(opts.bulkSize);
    const t0 = Date.now();
    const p = es.bulk(batch.body).then(
      (items) => {
        const at = Date.now();
        stats.bulkLatencies.push(at - t0);
        const statuses = items.map((it) => it.status);
        mix.acked(batch, statuses, at);
        const second = Math.floor((at - start) / 1000);
        const sampled: string[] = [];
        batch.ops.forEach((op, i) => {
          const s = statuses[i] ?? 500;
          if (s < 300 || (op.kind === 'delete' && s === 404)) {
            stats.acked++;
            stats.byKind[op.kind]++;
            stats.perSecond[second] = (stats.perSecond[second] ?? 0) + 1;
            if (op.sampled) sampled.push(op.id);
          } else {
            stats.rejected++;
          }
        });
        if (sampled.length > 0) opts.onDeletes?.(sampled, at);
      },
      () => {
        stats.rejected += batch.ops.length;
        mix.acked(batch, [], Date.now());
      },
    );
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    if (inflight.size >= opts.inflight) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  stats.seconds = (Date.now() - start) / 1000;
  stats.perSecond = Array.from({ length: stats.perSecond.length }, (_, i) => stats.perSecond[i] ?? 0);
  return stats;
}

interface LagResult {
  /** Lag per probe, ms; probes never seen count with their age at the end (a lower bound). */
  lags: number[];
  /** [seconds since the load started at the probe's acknowledgement, lag ms]. */
  points: [number, number][];
  censored: number;
}

/** A probe document every 200 ms on the leader, looked for on the follower every 50 ms (realtime mget). */
function startProbes(leader: ElasticsearchAdapter, follower: ElasticsearchAdapter, leaderIndex: string, followerIndex: string, t0: number) {
  const pending = new Map<string, number>();
  const points: [number, number][] = [];
  let writing = true;
  let polling = true;
  const writer = (async () => {
    for (let k = 0; writing; k++) {
      const id = `probe-${k}`;
      await leader.request('PUT', `/${leaderIndex}/_doc/${id}`, { body: { probe: k, at: Date.now() } });
      pending.set(id, Date.now());
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const poller = (async () => {
    while (polling) {
      if (pending.size > 0) {
        const docs = await foundOnFollower(follower, followerIndex, pending.keys());
        const now = Date.now();
        for (const d of docs) {
          const at = pending.get(d.id);
          if (d.found && at !== undefined) {
            points.push([(at - t0) / 1000, now - at]);
            pending.delete(d.id);
          }
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop(): Promise<LagResult> {
      writing = false;
      await writer;
      const until = Date.now() + PROBE_WAIT_MS;
      while (pending.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      polling = false;
      await poller;
      const now = Date.now();
      const censored = pending.size;
      for (const at of pending.values()) points.push([(at - t0) / 1000, now - at]);
      points.sort((a, b) => a[0] - b[0]);
      return { lags: points.map((p) => p[1]), points, censored };
    },
  };
}

interface DeleteResult {
  sampled: number;
  latencies: number[];
  /** Never seen on the follower before the delete (created and deleted before it got there). */
  neverSeen: number;
  /** Seen on the follower, still there at the end of the wait. */
  censored: number;
}

/** Followed deletes: seen on the follower first, then the time from the leader's acknowledgement to their absence. */
function startDeleteTracker(follower: ElasticsearchAdapter, followerIndex: string) {
  const pending = new Map<string, { ackAt: number; seen: boolean }>();
  const latencies: number[] = [];
  let sampled = 0;
  let running = true;
  const poller = (async () => {
    while (running) {
      const t0 = Date.now();
      if (pending.size > 0) {
        const docs = await foundOnFollower(follower, followerIndex, pending.keys());
        const now = Date.now();
        for (const d of docs) {
          const p = pending.get(d.id);
          if (!p) continue;
          if (d.found) p.seen = true;
          else if (p.seen) {
            latencies.push(now - p.ackAt);
            pending.delete(d.id);
          }
        }
      }
      await new Promise((r) => setTimeout(r, Math.max(100, 2 * (Date.now() - t0))));
    }
  })();
  return {
    track(ids: string[], ackAt: number) {
      sampled += ids.length;
      for (const id of ids) pending.set(id, { ackAt, seen: false });
    },
    async stop(): Promise<DeleteResult> {
      const until = Date.now() + DELETE_WAIT_MS;
      while ([...pending.values()].some((p) => p.seen) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      running = false;
      await poller;
      const values = [...pending.values()];
      return { sampled, latencies, neverSeen: values.filter((p) => !p.seen).length, censored: values.filter((p) => p.seen).length };
    },
  };
}

interface RunResult {
  mode: Mode;
  round: number;
  /** Target operations/s, or 'max'. */
  target: number | 'max';
  seconds: number;
  leaderRate: number;
  byKind: Record<Op['kind'], number>;
  rejected: number;
  bulkP50: number;
  bulkP99: number;
  leaderCpuSeconds: number;
  leaderRefreshes: number;
  forcedRefreshes: number | null;
  followerCpuSeconds: number;
  kafkaCpuSeconds: number;
  registryCpuSeconds: number;
  generatorCpuSeconds: number;
  extractorCpuSeconds: number | null;
  applierCpuSeconds: number | null;
  extractorPeakRssMiB: number | null;
  applierPeakRssMiB: number | null;
  /** RSS when the load began (after start-up and the seed's bootstrap). */
  extractorRssAtStartMiB: number | null;
  applierRssAtStartMiB: number | null;
  rssSeries: Record<string, [number, number][]>;
  /** Busy share of each CPU during the load. */
  busy: Record<string, number>;
  lag:
    | (Omit<LagResult, 'points' | 'lags'> & {
        p50: number;
        p99: number;
        max: number;
        probes: number;
        firstHalfP50: number;
        secondHalfP50: number;
        firstHalfP99: number;
        secondHalfP99: number;
      })
    | null;
  lagPoints: [number, number][];
  deletes: (Omit<DeleteResult, 'latencies'> & { measured: number; p50: number; p99: number; max: number }) | null;
  reconcilePasses: number | null;
  /** Ids the extractor checked on the leader (realtime mget) for delete reconciliation, and deletes it published. */
  reconcileIdsChecked: number | null;
  reconcileDeletesPublished: number | null;
  perSecond: number[];
}

async function refreshCount(es: ElasticsearchAdapter, index: string): Promise<number> {
  const stats = await es.shardStats(index);
  return stats.reduce((n, s) => n + Object.values(s.refreshTotals).reduce((a, b) => a + b, 0), 0);
}

async function followerHolds(es: ElasticsearchAdapter, index: string, expected: number): Promise<boolean> {
  if (!(await es.indexExists(index))) return false;
  await es.refresh(index);
  return (await es.shardStats(index)).reduce((n, s) => n + s.docs, 0) >= expected;
}

function pids() {
  const leader = pidOfStackPart('elasticsearch-leader');
  return { leader, follower: pidOfStackPart('elasticsearch-follower'), kafka: pidOfStackPart('kafka'), registry: pidOfStackPart('registry') };
}

function cpuAll(p: ReturnType<typeof pids>, h: Harness | undefined) {
  const usage = process.cpuUsage();
  return {
    leader: cpuSeconds(p.leader),
    follower: cpuSeconds(p.follower),
    kafka: cpuSeconds(p.kafka),
    registry: cpuSeconds(p.registry),
    generator: (usage.user + usage.system) / 1e6,
    extractor: h?.extractor.pid ? cpuSeconds(h.extractor.pid) : 0,
    applier: h?.applier.pid ? cpuSeconds(h.applier.pid) : 0,
    cpus: cpuTimes(),
  };
}

async function runOnce(
  stack: StackState,
  pinning: CpuPinning | undefined,
  mode: Mode,
  round: number,
  target: number | 'max',
  seconds: number,
): Promise<RunResult> {
  const leader = new ElasticsearchAdapter(esConnection(stack, 'leader'));
  const follower = new ElasticsearchAdapter(esConnection(stack, 'follower'));
  const leaderIndex = uniqueName(`bench-sus-${mode === 'none' ? 'n' : 'r'}`);
  const followerIndex = uniqueName('bench-sus-f');
  const p = pids();
  let h: Harness | undefined;
  let rss: ReturnType<typeof rssSampler> | undefined;
  try {
    await leader.createIndex(leaderIndex, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
    const mix = new Mix(leaderIndex, Math.random);
    for (let i = 0; i < SEED_DOCS; i += 1000) {
      const batch = mix.build(Math.min(1000, SEED_DOCS - i), true);
      const items = await leader.bulk(batch.body);
      mix.acked(
        batch,
        items.map((it) => it.status),
        Date.now() - 60_000,
      );
    }
    await leader.refresh(leaderIndex);
    if (mode === 'replication') {
      h = await startHarness(stack, 'bench-sustained', { env: defaultServiceEnv() });
      if (GENERATOR_NICE !== 0) for (const s of [h.extractor, h.applier]) if (s.pid) setNice(s.pid, 0);
      if (pinning) for (const s of [h.extractor, h.applier]) if (s.pid) pinning.pin(s.name, s.pid, OTHERS_CPU);
      rss = rssSampler({ extractor: h.extractor.pid, applier: h.applier.pid });
      await startReplication(h, leaderIndex, followerIndex);
      await waitFor(`the ${SEED_DOCS} seed documents on the follower`, () => followerHolds(follower, followerIndex, SEED_DOCS), 180_000, 500);
    }
    const refresh0 = await refreshCount(leader, leaderIndex);
    const t0 = Date.now();
    const probes = h ? startProbes(leader, follower, leaderIndex, followerIndex, t0) : undefined;
    const deletes = h ? startDeleteTracker(follower, followerIndex) : undefined;
    const c0 = cpuAll(p, h);
    const rssAtStart = { extractor: h?.extractor.pid ? rssMiB(h.extractor.pid) : null, applier: h?.applier.pid ? rssMiB(h.applier.pid) : null };
    const load = await mixedLoad(leader, mix, {
      rate: target === 'max' ? undefined : target,
      seconds,
      bulkSize: target === 'max' ? MAX_BULK : BULK,
      inflight: target === 'max' ? INFLIGHT : 4,
      ...(deletes ? { onDeletes: (ids: string[], at: number) => deletes.track(ids, at) } : {}),
    });
    const c1 = cpuAll(p, h);
    const refresh1 = await refreshCount(leader, leaderIndex);
    const [lag, del] = await Promise.all([probes?.stop(), deletes?.stop()]);
    const mem = rss?.stop();
    rss = undefined;
    let ex: ExtractorStatus | undefined;
    let ap: ApplierStatus | undefined;
    if (h) {
      ex = extractorStatus(h, leaderIndex);
      ap = applierStatus(h, followerIndex);
    }
    const half = seconds / 2;
    const firstHalf = lag ? lag.points.filter(([t]) => t < half).map(([, l]) => l) : [];
    const secondHalf = lag ? lag.points.filter(([t]) => t >= half).map(([, l]) => l) : [];
    return {
      mode,
      round,
      target,
      seconds: load.seconds,
      leaderRate: load.acked / load.seconds,
      byKind: load.byKind,
      rejected: load.rejected,
      bulkP50: percentile(load.bulkLatencies, 50),
      bulkP99: percentile(load.bulkLatencies, 99),
      leaderCpuSeconds: c1.leader - c0.leader,
      leaderRefreshes: refresh1 - refresh0,
      forcedRefreshes: ex?.forcedRefreshes ?? null,
      followerCpuSeconds: c1.follower - c0.follower,
      kafkaCpuSeconds: c1.kafka - c0.kafka,
      registryCpuSeconds: c1.registry - c0.registry,
      generatorCpuSeconds: c1.generator - c0.generator,
      extractorCpuSeconds: h ? c1.extractor - c0.extractor : null,
      applierCpuSeconds: h ? c1.applier - c0.applier : null,
      extractorPeakRssMiB: mem?.peak.extractor ?? null,
      applierPeakRssMiB: mem?.peak.applier ?? null,
      extractorRssAtStartMiB: rssAtStart.extractor,
      applierRssAtStartMiB: rssAtStart.applier,
      rssSeries: mem?.series ?? {},
      busy: busyFractions(c0.cpus, c1.cpus),
      lag: lag
        ? {
            p50: percentile(lag.lags, 50),
            p99: percentile(lag.lags, 99),
            max: Math.max(...lag.lags),
            probes: lag.lags.length,
            censored: lag.censored,
            firstHalfP50: percentile(firstHalf, 50),
            secondHalfP50: percentile(secondHalf, 50),
            firstHalfP99: percentile(firstHalf, 99),
            secondHalfP99: percentile(secondHalf, 99),
          }
        : null,
      lagPoints: lag?.points ?? [],
      deletes: del
        ? {
            sampled: del.sampled,
            measured: del.latencies.length,
            neverSeen: del.neverSeen,
            censored: del.censored,
            p50: percentile(del.latencies, 50),
            p99: percentile(del.latencies, 99),
            max: del.latencies.length ? Math.max(...del.latencies) : Number.NaN,
          }
        : null,
      reconcilePasses: ap?.reconcile?.passes ?? null,
      reconcileIdsChecked: ex?.reconcile.idsChecked ?? null,
      reconcileDeletesPublished: ex?.reconcile.deletesPublished ?? null,
      perSecond: load.perSecond,
    };
  } finally {
    rss?.stop();
    if (h) {
      await Promise.all([h.extractor.stop(), h.applier.stop()]);
      await h.kafka.deleteTopics([changeTopic(h.names.leaderCluster, leaderIndex)]).catch(() => undefined);
      await h.close();
    }
    await leader.deleteIndex(leaderIndex).catch(() => undefined);
    await follower.deleteIndex(followerIndex).catch(() => undefined);
    await dropOrphanLedgers(follower).catch(() => undefined);
    await Promise.all([leader.close(), follower.close()]);
  }
}

/** Pins the stack's processes and this one as the header says; restored on exit and on SIGINT/SIGTERM. */
export function pinForBench(): CpuPinning {
  const pinning = new CpuPinning();
  for (const jvm of childPids(pidOfStackPart('elasticsearch-leader'))) pinning.pin('leader JVM', jvm, LEADER_CPU);
  pinning.pin('follower ES', pidOfStackPart('elasticsearch-follower'), OTHERS_CPU);
  pinning.pin('kafka', pidOfStackPart('kafka'), OTHERS_CPU);
  pinning.pin('registry', pidOfStackPart('registry'), OTHERS_CPU);
  pinning.pin('load generator', process.pid, OTHERS_CPU);
  const onSignal = (signal: NodeJS.Signals) => {
    pinning.restore();
    console.error(`\n${signal}: CPU affinities restored`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return pinning;
}

const fmt = (v: number | null | undefined, digits = 0) => (v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits));
const pct = (v: number | undefined) => (v === undefined ? '-' : `${Math.round(v * 100)}%`);

function perRunTable(runs: readonly RunResult[]): string {
  return table(
    [
      'round',
      'mode',
      'target',
      'ops/s',
      'bulk p50/p99 ms',
      'leader CPU s',
      'refreshes (forced)',
      'cpu0/cpu1 busy',
      'lag p50/p99/max ms',
      'lag 1st/2nd half p50 ms',
      'probes (censored)',
      'delete p50/p99 ms',
      'deletes measured/sampled (never seen, censored)',
      'extractor CPU s / peak MiB',
      'applier CPU s / peak MiB',
      'follower / kafka / generator CPU s',
    ],
    runs.map((r) => [
      r.round,
      r.mode,
      String(r.target),
      fmt(r.leaderRate, 1),
      `${r.bulkP50} / ${r.bulkP99}`,
      fmt(r.leaderCpuSeconds, 1),
      `${r.leaderRefreshes} (${r.forcedRefreshes ?? '-'})`,
      `${pct(r.busy.cpu0)} / ${pct(r.busy.cpu1)}`,
      r.lag ? `${r.lag.p50} / ${r.lag.p99} / ${r.lag.max}` : '-',
      r.lag ? `${r.lag.firstHalfP50} / ${r.lag.secondHalfP50}` : '-',
      r.lag ? `${r.lag.probes} (${r.lag.censored})` : '-',
      r.deletes ? `${fmt(r.deletes.p50)} / ${fmt(r.deletes.p99)}` : '-',
      r.deletes ? `${r.deletes.measured}/${r.deletes.sampled} (${r.deletes.neverSeen}, ${r.deletes.censored})` : '-',
      r.extractorCpuSeconds === null ? '-' : `${fmt(r.extractorCpuSeconds, 1)} / ${fmt(r.extractorPeakRssMiB)}`,
      r.applierCpuSeconds === null ? '-' : `${fmt(r.applierCpuSeconds, 1)} / ${fmt(r.applierPeakRssMiB)}`,
      `${fmt(r.followerCpuSeconds, 1)} / ${fmt(r.kafkaCpuSeconds, 1)} / ${fmt(r.generatorCpuSeconds, 1)}`,
    ]),
  );
}

function lagChart(title: string, series: { name: string; points: [number, number][] }[]): string {
  // The last probe may be acknowledged a moment after the load's end: the x axis ends with the load.
  return svgLineChart(
    title,
    'seconds since the load started (probe acknowledged on the leader)',
    'lag to the follower, ms',
    series.map((s) => ({ name: s.name, points: s.points.filter((p) => p[0] <= SECONDS) })),
    { xMax: SECONDS },
  );
}

async function benchRounds(stack: StackState, pinning: CpuPinning | undefined): Promise<void> {
  const target: number | 'max' = MAX ? 'max' : RATE;
  const runs: RunResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order: Mode[] = round % 2 === 1 ? ['none', 'replication'] : ['replication', 'none'];
    for (const mode of order) {
      const r = await runOnce(stack, pinning, mode, round, target, SECONDS);
      runs.push(r);
      const { lagPoints: _p, perSecond: _s, rssSeries: _r, ...brief } = r;
      console.log(`round ${round} ${mode}: ${JSON.stringify(brief)}`);
    }
  }
  const by = (m: Mode) => runs.filter((r) => r.mode === m);
  const med = (m: Mode, f: (r: RunResult) => number | null | undefined) =>
    median(
      by(m)
        .map(f)
        .filter((v): v is number => v !== null && v !== undefined && !Number.isNaN(v)),
    );
  const roundRatio = (f: (r: RunResult) => number) =>
    median(
      Array.from({ length: ROUNDS }, (_, i) => {
        const a = runs.find((r) => r.round === i + 1 && r.mode === 'replication');
        const b = runs.find((r) => r.round === i + 1 && r.mode === 'none');
        return a && b ? f(a) / f(b) : Number.NaN;
      }).filter((v) => !Number.isNaN(v)),
    );
  const rateRatio = roundRatio((r) => r.leaderRate);
  const cpuRatio = roundRatio((r) => r.leaderCpuSeconds);
  const p99Ratio = roundRatio((r) => r.bulkP99);
  const perKOps = (r: RunResult) => (r.leaderCpuSeconds * 1000) / ((r.leaderRate * r.seconds) / 1000);
  const perKOpsRatio = roundRatio(perKOps);
  const perKOpsOf = (f: (r: RunResult) => number | null) => (r: RunResult) => ((f(r) ?? Number.NaN) * 1000) / ((r.leaderRate * r.seconds) / 1000);
  // The follower side's CPU per operation (follower Elasticsearch and applier) against what the same operations cost
  // as a raw _bulk: the leader alone taking them in the same round (the clusters are configured alike).
  const followerSideRatio = roundRatio((r) => (r.mode === 'replication' ? perKOpsOf((x) => x.followerCpuSeconds + (x.applierCpuSeconds ?? 0))(r) : perKOps(r)));
  const leaderCpuPerOpRatio = perKOpsRatio;
  const leaderRows = (['none', 'replication'] as const).map((m) => [
    m,
    med(m, (r) => r.leaderRate),
    m === 'none' ? '1' : rateRatio.toFixed(3),
    med(m, (r) => r.bulkP50),
    med(m, (r) => r.bulkP99),
    m === 'none' ? '1' : p99Ratio.toFixed(2),
    med(m, (r) => r.leaderCpuSeconds),
    m === 'none' ? '1' : cpuRatio.toFixed(2),
    med(m, perKOps),
    m === 'none' ? '1' : perKOpsRatio.toFixed(2),
    med(m, (r) => r.leaderRefreshes),
    m === 'none' ? '-' : med(m, (r) => r.forcedRefreshes),
    `${pct(med(m, (r) => r.busy.cpu0))} / ${pct(med(m, (r) => r.busy.cpu1))}`,
  ]);
  const rep = (f: (r: RunResult) => number | null | undefined) => med('replication', f);
  const allLags = by('replication').flatMap((r) => r.lagPoints.map((p) => p[1]));
  const replRows = [
    ['end-to-end lag p50 / p99 / max, ms (median of runs)', `${fmt(rep((r) => r.lag?.p50))} / ${fmt(rep((r) => r.lag?.p99))} / ${fmt(rep((r) => r.lag?.max))}`],
    [
      'end-to-end lag p50 / p99 / max, ms (all probes pooled)',
      `${fmt(percentile(allLags, 50))} / ${fmt(percentile(allLags, 99))} / ${fmt(Math.max(...allLags))}`,
    ],
    ['probes per run (never seen)', `${fmt(rep((r) => r.lag?.probes))} (${fmt(rep((r) => r.lag?.censored))})`],
    ['delete propagation p50 / p99 / max, ms', `${fmt(rep((r) => r.deletes?.p50))} / ${fmt(rep((r) => r.deletes?.p99))} / ${fmt(rep((r) => r.deletes?.max))}`],
    [
      'followed deletes measured / sampled per run (never seen on the follower, still there at the end)',
      `${fmt(rep((r) => r.deletes?.measured))} / ${fmt(rep((r) => r.deletes?.sampled))} (${fmt(rep((r) => r.deletes?.neverSeen))}, ${fmt(rep((r) => r.deletes?.censored))})`,
    ],
    [
      'reconciliation passes / ids checked on the leader / deletes published, per run',
      `${fmt(rep((r) => r.reconcilePasses))} / ${fmt(rep((r) => r.reconcileIdsChecked))} / ${fmt(rep((r) => r.reconcileDeletesPublished))}`,
    ],
    [
      'extractor CPU s / RSS at load start MiB / peak RSS MiB',
      `${fmt(
        rep((r) => r.extractorCpuSeconds),
        1,
      )} / ${fmt(rep((r) => r.extractorRssAtStartMiB))} / ${fmt(rep((r) => r.extractorPeakRssMiB))} (max ${fmt(Math.max(...by('replication').map((r) => r.extractorPeakRssMiB ?? 0)))})`,
    ],
    [
      'applier CPU s / RSS at load start MiB / peak RSS MiB',
      `${fmt(
        rep((r) => r.applierCpuSeconds),
        1,
      )} / ${fmt(rep((r) => r.applierRssAtStartMiB))} / ${fmt(rep((r) => r.applierPeakRssMiB))} (max ${fmt(Math.max(...by('replication').map((r) => r.applierPeakRssMiB ?? 0)))})`,
    ],
    [
      'follower ES / Kafka / registry CPU s',
      `${fmt(
        rep((r) => r.followerCpuSeconds),
        1,
      )} / ${fmt(
        rep((r) => r.kafkaCpuSeconds),
        1,
      )} / ${fmt(
        rep((r) => r.registryCpuSeconds),
        1,
      )}`,
    ],
    [
      'CPU ms per 1,000 replicated operations: extractor / applier / Kafka / follower ES (raw _bulk: the leader alone taking the same operations)',
      `${fmt(rep(perKOpsOf((r) => r.extractorCpuSeconds)))} / ${fmt(rep(perKOpsOf((r) => r.applierCpuSeconds)))} / ${fmt(rep(perKOpsOf((r) => r.kafkaCpuSeconds)))} / ${fmt(rep(perKOpsOf((r) => r.followerCpuSeconds)))} (raw ${fmt(med('none', perKOps))})`,
    ],
    [
      'load generator (this process) CPU s, with / without replication',
      `${fmt(
        rep((r) => r.generatorCpuSeconds),
        1,
      )} / ${fmt(
        med('none', (r) => r.generatorCpuSeconds),
        1,
      )}`,
    ],
  ];
  const lagP99 = rep((r) => r.lag?.p99);
  const delP99 = rep((r) => r.deletes?.p99);
  const rssMax = Math.max(...by('replication').flatMap((r) => [r.extractorPeakRssMiB ?? 0, r.applierPeakRssMiB ?? 0]));
  const targets = [
    ['(a) leader rate with / without replication', '>= 0.97', rateRatio.toFixed(3), rateRatio >= 0.97 ? 'met' : 'not met'],
    ['(b) end-to-end lag p99', '<= 1500 ms', fmt(lagP99), lagP99 <= 1500 ? 'met' : 'not met'],
    ['(c) delete propagation p99', '<= 3000 ms', fmt(delP99), delP99 <= 3000 ? 'met' : 'not met'],
    ['(d) peak RSS of the extractor and the applier', '<= 200 MB each', `${fmt(rssMax)} MiB`, rssMax * 1.048576 <= 200 ? 'met' : 'not met'],
    [
      '(e) follower-side CPU per operation (follower ES + applier) / raw _bulk',
      '<= 3',
      followerSideRatio.toFixed(2),
      followerSideRatio <= 3 ? 'met' : 'not met',
    ],
    ['(f) leader CPU per operation with / without replication', '<= 1.3', leaderCpuPerOpRatio.toFixed(2), leaderCpuPerOpRatio <= 1.3 ? 'met' : 'not met'],
  ];
  const load = MAX ? `as fast as the leader takes it (${INFLIGHT} bulks of ${MAX_BULK} in flight)` : `${RATE} operations/s (bulks of ${BULK})`;
  const md = [
    `# Sustained load${MAX ? ' (max throughput)' : ''}`,
    '',
    `3-shard leader seeded with ${SEED_DOCS} documents of ~1 KB; load ${load}: 80% new documents, 15% updates, 5% deletes, for ${SECONDS} s; ${ROUNDS} rounds, with and without replication interleaved, medians; ratios are medians of the per-round ratios (replication / none). Services at their default settings${process.env.KCCR_BENCH_SERVICE_ENV ? ` plus ${process.env.KCCR_BENCH_SERVICE_ENV}` : ''}. ${pinning ? 'Leader ES JVM on CPU 0; follower ES, Kafka, registry, extractor, applier and the load generator on CPU 1.' : 'CPUs not pinned.'}${GENERATOR_NICE !== 0 ? ` The load generator runs at nice ${GENERATOR_NICE}.` : ''}`,
    '',
    '## Leader',
    '',
    table(
      [
        'mode',
        'leader ops/s',
        'rate ratio',
        'bulk p50 ms',
        'bulk p99 ms',
        'p99 ratio',
        'leader CPU s',
        'CPU ratio',
        'leader CPU ms per 1000 ops',
        'ratio',
        'leader refreshes',
        'forced by kccr',
        'cpu0 / cpu1 busy',
      ],
      leaderRows,
    ),
    '',
    '## Replication',
    '',
    table(['measure', 'value'], replRows),
    '',
    '## Targets',
    '',
    table(['target', 'wanted', 'measured', ''], targets),
    '',
    '## Every run',
    '',
    perRunTable(runs),
    '',
    'Lag over time: lag.svg',
    '',
  ].join('\n');
  console.log(`\n${md}`);
  const dir = writeResults(
    MAX ? 'sustained-max' : 'sustained',
    {
      max: MAX,
      rate: RATE,
      seconds: SECONDS,
      rounds: ROUNDS,
      seedDocs: SEED_DOCS,
      bulk: MAX ? MAX_BULK : BULK,
      pinned: Boolean(pinning),
      pinning: pinning?.log,
      generatorNice: GENERATOR_NICE,
      serviceEnv: defaultServiceEnv(),
      runs,
    },
    md,
  );
  writeFileSync(
    join(dir, 'lag.svg'),
    lagChart(
      `Probe lag, ${MAX ? 'max throughput' : `${RATE} ops/s`}, one line per round`,
      by('replication').map((r) => ({ name: `round ${r.round}`, points: r.lagPoints })),
    ),
  );
  console.log(`results: ${dir}`);
}

function bounded(r: RunResult): boolean {
  if (!r.lag) return false;
  return r.lag.censored === 0 && r.lag.p99 <= 5000 && r.lag.secondHalfP50 <= 1.5 * r.lag.firstHalfP50 + 500;
}

async function benchFindMax(stack: StackState, pinning: CpuPinning | undefined): Promise<void> {
  const runs: RunResult[] = [];
  const log = (r: RunResult) => {
    runs.push(r);
    const { lagPoints: _p, perSecond: _s, rssSeries: _r, ...brief } = r;
    console.log(`${r.mode} ${r.target}: ${JSON.stringify(brief)}${r.mode === 'replication' ? ` bounded=${bounded(r)}` : ''}`);
  };
  log(await runOnce(stack, pinning, 'none', 1, 'max', SECONDS));
  const steps: number[] = [];
  let lastBounded: number | undefined;
  let firstUnbounded: number | undefined;
  for (const rate of STEPS) {
    const r = await runOnce(stack, pinning, 'replication', 1, rate, SECONDS);
    log(r);
    steps.push(rate);
    if (bounded(r)) lastBounded = rate;
    else {
      firstUnbounded = rate;
      break;
    }
  }
  if (firstUnbounded !== undefined) {
    const mid = Math.round(((lastBounded ?? 0) + firstUnbounded) / 2);
    if (mid > 0 && mid !== lastBounded && mid !== firstUnbounded) log(await runOnce(stack, pinning, 'replication', 1, mid, SECONDS));
  }
  log(await runOnce(stack, pinning, 'none', 2, 'max', SECONDS));
  const alone = runs.filter((r) => r.mode === 'none').map((r) => r.leaderRate);
  const leaderMax = alone.reduce((a, b) => a + b, 0) / alone.length;
  const stepRuns = runs.filter((r) => r.mode === 'replication').sort((a, b) => Number(a.target) - Number(b.target));
  const best = stepRuns.filter(bounded).sort((a, b) => b.leaderRate - a.leaderRate)[0];
  const rows = [
    ...runs
      .filter((r) => r.mode === 'none')
      .map((r) => [
        'leader alone, max',
        fmt(r.leaderRate, 1),
        '-',
        '-',
        '-',
        '-',
        `${r.bulkP50} / ${r.bulkP99}`,
        fmt(r.leaderCpuSeconds, 1),
        `${pct(r.busy.cpu0)} / ${pct(r.busy.cpu1)}`,
        '-',
        '-',
      ]),
    ...stepRuns.map((r) => [
      `replication at ${r.target}/s`,
      fmt(r.leaderRate, 1),
      r.lag ? `${r.lag.p50} / ${r.lag.p99} / ${r.lag.max}` : '-',
      r.lag ? `${r.lag.firstHalfP50} / ${r.lag.secondHalfP50}` : '-',
      r.lag ? `${r.lag.probes} (${r.lag.censored})` : '-',
      bounded(r) ? 'yes' : 'no',
      `${r.bulkP50} / ${r.bulkP99}`,
      fmt(r.leaderCpuSeconds, 1),
      `${pct(r.busy.cpu0)} / ${pct(r.busy.cpu1)}`,
      `${fmt(r.extractorCpuSeconds, 1)} / ${fmt(r.applierCpuSeconds, 1)}`,
      r.deletes ? `${fmt(r.deletes.p50)} / ${fmt(r.deletes.p99)}` : '-',
    ]),
  ];
  const md = [
    '# Highest rate with bounded lag',
    '',
    `3-shard leader seeded with ${SEED_DOCS} documents of ~1 KB; 80% new documents, 15% updates, 5% deletes; runs of ${SECONDS} s. The leader alone as fast as it takes it (${INFLIGHT} bulks of ${MAX_BULK} in flight) before and after the steps; steps with replication at a fixed rate (bulks of ${BULK}). Bounded: probe lag p99 <= 5 s, every probe seen, second-half median lag <= 1.5 x first-half + 500 ms. Services at their default settings${process.env.KCCR_BENCH_SERVICE_ENV ? ` plus ${process.env.KCCR_BENCH_SERVICE_ENV}` : ''}. ${pinning ? 'Leader ES JVM on CPU 0; everything else on CPU 1.' : 'CPUs not pinned.'}${GENERATOR_NICE !== 0 ? ` The load generator runs at nice ${GENERATOR_NICE}.` : ''}`,
    '',
    table(
      [
        'run',
        'leader ops/s',
        'lag p50/p99/max ms',
        'lag 1st/2nd half p50 ms',
        'probes (censored)',
        'bounded',
        'bulk p50/p99 ms',
        'leader CPU s',
        'cpu0/cpu1 busy',
        'extractor / applier CPU s',
        'delete p50/p99 ms',
      ],
      rows,
    ),
    '',
    `Leader alone at full speed: ${fmt(leaderMax, 1)} ops/s (mean of ${alone.length}). Highest bounded rate: ${best ? `${fmt(best.leaderRate, 1)} ops/s (step ${best.target}/s), ${(best.leaderRate / leaderMax).toFixed(3)} of the leader alone` : 'none of the steps'}.`,
    '',
    'Lag over time: lag.svg',
    '',
  ].join('\n');
  console.log(`\n${md}`);
  const dir = writeResults(
    'sustained-findmax',
    {
      seconds: SECONDS,
      steps,
      seedDocs: SEED_DOCS,
      pinned: Boolean(pinning),
      pinning: pinning?.log,
      generatorNice: GENERATOR_NICE,
      serviceEnv: defaultServiceEnv(),
      leaderMax,
      highestBounded: best?.leaderRate ?? null,
      runs,
    },
    md,
  );
  writeFileSync(
    join(dir, 'lag.svg'),
    lagChart(
      'Probe lag per fixed rate with replication',
      stepRuns.map((r) => ({ name: `${r.target} ops/s`, points: r.lagPoints })),
    ),
  );
  console.log(`results: ${dir}`);
}

export async function benchSustained(): Promise<void> {
  const stack = loadStack('plain');
  const pinning = PIN ? pinForBench() : undefined;
  if (pinning) console.log(pinning.log.join('\n'));
  if (GENERATOR_NICE !== 0) setNice(process.pid, GENERATOR_NICE);
  try {
    if (FIND_MAX) await benchFindMax(stack, pinning);
    else await benchRounds(stack, pinning);
  } finally {
    if (GENERATOR_NICE !== 0) setNice(process.pid, 0);
    pinning?.restore();
  }
}
