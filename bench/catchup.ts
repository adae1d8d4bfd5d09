/**
 * `npm run bench -- catchup`: how fast a stopped applier catches up, against the follower's physical limit.
 *
 * A 3-shard leader index is replicated (the real extractor and applier, the services' default settings); the
 * applier is stopped (SIGTERM) and the leader takes KCCR_BENCH_DOCS (500,000) new documents of ~1 KB (bulks of
 * 1000, 2 in flight) while the extractor keeps publishing. Once the extractor has published everything:
 *   - raw: the same documents (same ids and bytes, from a seeded generator) written with plain `_bulk` requests of
 *     1000 (the applier's batch size) into an empty 3-shard follower index, with 3 requests in flight (what the
 *     applier does at most here: one per partition, 3 partitions, KCCR_APPLIER_CONCURRENCY 4) and with 1, each
 *     before and after the drain; the faster of the two (mean of before and after) is the follower's physical limit;
 *   - drain: the applier is started, and timed until the follower holds every document (per shard document counts
 *     equal to the leader's, after a refresh), then until its status shows offsets == high watermarks.
 * Apply rate = documents / drain time (from the applier's start, so its start-up and group join count), and the
 * steady rate between 10% and 90% of the documents; both divided by the raw rate.
 * CPUs pinned as in the sustained scenario (KCCR_BENCH_PIN=0 to leave them). With pinning, all of it runs twice:
 * `shared`, the applier and the raw load's client on the follower's core; `split`, both on the other core (the
 * leader is idle by then), the applier reading the same records from the topic's start into a new follower index.
 */
import { randomUUID } from 'node:crypto';
import type { ElasticsearchAdapter } from '../services/shared/adapters/elasticsearch.js';
import type { ApplierStatus } from '../services/shared/replication.js';
import { changeTopic } from '../services/shared/topics.js';
import { applierStatus, extractorStatus, startHarness, startReplication } from '../test/support/replication.js';
import type { Harness } from '../test/support/replication.js';
import { loadStack, uniqueName, waitFor } from '../test/support/stack.js';
import { dropOrphanLedgers } from '../test/support/cleanup.js';
import type { CpuPinning } from './lib.js';
import {
  busyFractions,
  cpuSeconds,
  cpuTimes,
  defaultServiceEnv,
  documentOfAbout1KB,
  envFlag,
  envNumber,
  pidOfStackPart,
  rssSampler,
  seededRandom,
  table,
  writeResults,
} from './lib.js';
import { pinForBench } from './sustained.js';

const DOCS = envNumber('KCCR_BENCH_DOCS', 500_000);
const BULK = 1000;
const SEED = 20_240_601;
const PIN = envFlag('KCCR_BENCH_PIN', true);

/** The i-th bulk body of the documents, the same bytes every time (a fresh generator per load). */
export function* bodies(index: string, docs = DOCS): Generator<string> {
  const random = seededRandom(SEED);
  for (let i = 0; i < docs; i += BULK) {
    const lines: string[] = [];
    for (let k = i; k < Math.min(docs, i + BULK); k++) {
      const doc = documentOfAbout1KB(k, random);
      doc.at = 1_700_000_000_000 + k;
      lines.push(`{"index":{"_index":"${index}","_id":"d${k}"}}\n${JSON.stringify(doc)}\n`);
    }
    yield lines.join('');
  }
}

/** Writes every body with `inflight` requests at a time; returns seconds and rejected items. */
export async function bulkAll(es: ElasticsearchAdapter, index: string, inflight: number, docs = DOCS): Promise<{ seconds: number; rejected: number }> {
  const t0 = Date.now();
  let rejected = 0;
  const running = new Set<Promise<void>>();
  for (const body of bodies(index, docs)) {
    const p = es.bulk(body).then((items) => {
      rejected += items.filter((it) => it.status >= 300).length;
    });
    running.add(p);
    void p.finally(() => running.delete(p));
    if (running.size >= inflight) await Promise.race(running);
  }
  await Promise.all(running);
  return { seconds: (Date.now() - t0) / 1000, rejected };
}

/** Samples the index's indexing total (primaries, no refresh needed) every 500 ms: [seconds since t0, documents]. */
function progressSampler(es: ElasticsearchAdapter, index: string, t0: number) {
  const points: [number, number][] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const stats = await es.shardStats(index).catch(() => undefined);
      if (stats) points.push([(Date.now() - t0) / 1000, stats.reduce((n, s) => n + s.indexTotal, 0)]);
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    points,
    async stop() {
      running = false;
      await loop;
      return points;
    },
  };
}

/** Documents per second between 10% and 90% of `total` (interpolated on the progress samples). */
function steadyRate(points: readonly [number, number][], total: number): number {
  const at = (n: number) => {
    const k = points.findIndex(([, v]) => v >= n);
    if (k <= 0) return k === 0 ? points[0]![0] : Number.NaN;
    const [t1, v1] = points[k - 1]!;
    const [t2, v2] = points[k]!;
    return t1 + ((n - v1) / (v2 - v1)) * (t2 - t1);
  };
  const a = at(total * 0.1);
  const b = at(total * 0.9);
  return b > a ? (total * 0.8) / (b - a) : Number.NaN;
}

/**
 * Where the client of the follower runs: `shared`, on the follower's core (CPU 1, with its Elasticsearch and Kafka);
 * `split`, on the other core (CPU 0; the leader is idle during the drain), as the applier runs on its own machine or
 * container when deployed. The raw load's client (this process) moves with it, so each ratio compares like with like.
 */
type Placement = 'shared' | 'split';
const CLIENT_CPU: Record<Placement, string> = { shared: '1', split: '0' };

interface RawResult {
  placement: Placement;
  inflight: number;
  when: 'before' | 'after';
  seconds: number;
  docsPerSecond: number;
  steadyDocsPerSecond: number;
  rejected: number;
  followerCpuSeconds: number;
  busy: Record<string, number>;
}

async function rawLoad(h: Harness, inflight: number, when: RawResult['when'], placement: Placement, pinning: CpuPinning | undefined): Promise<RawResult> {
  const index = uniqueName('bench-cu-raw');
  const followerPid = pidOfStackPart('elasticsearch-follower');
  try {
    await h.follower.createIndex(index, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
    pinning?.pin('load generator', process.pid, CLIENT_CPU[placement]);
    const c0 = cpuSeconds(followerPid);
    const b0 = cpuTimes();
    const t0 = Date.now();
    const progress = progressSampler(h.follower, index, t0);
    const r = await bulkAll(h.follower, index, inflight);
    await h.follower.refresh(index);
    const seconds = (Date.now() - t0) / 1000;
    const points = await progress.stop();
    points.push([seconds, DOCS]);
    const res: RawResult = {
      placement,
      inflight,
      when,
      seconds,
      docsPerSecond: DOCS / seconds,
      steadyDocsPerSecond: steadyRate(points, DOCS),
      rejected: r.rejected,
      followerCpuSeconds: cpuSeconds(followerPid) - c0,
      busy: busyFractions(b0, cpuTimes()),
    };
    console.log(`raw _bulk, ${inflight} in flight (${placement}, ${when}): ${JSON.stringify(res)}`);
    return res;
  } finally {
    pinning?.pin('load generator', process.pid, CLIENT_CPU.shared);
    await h.follower.deleteIndex(index).catch(() => undefined);
  }
}

interface DrainResult {
  placement: Placement;
  seconds: number;
  statusSeconds: number;
  firstAppliedSeconds: number;
  docsPerSecond: number;
  steadyDocsPerSecond: number;
  applierCpuSeconds: number;
  applierPeakRssMiB: number;
  followerCpuSeconds: number;
  kafkaCpuSeconds: number;
  extractorCpuSeconds: number;
  busy: Record<string, number>;
  progress: [number, number][];
  applierRss: unknown;
}

/** Starts the (stopped) applier with `placement` and times it until `followerIndex` holds the leader's documents. */
async function drain(
  h: Harness,
  followerIndex: string,
  leaderCounts: readonly number[],
  placement: Placement,
  pinning: CpuPinning | undefined,
): Promise<DrainResult> {
  const pids = { follower: pidOfStackPart('elasticsearch-follower'), kafka: pidOfStackPart('kafka') };
  const snapshot = () => ({
    follower: cpuSeconds(pids.follower),
    kafka: cpuSeconds(pids.kafka),
    extractor: h.extractor.pid ? cpuSeconds(h.extractor.pid) : 0,
    cpus: cpuTimes(),
  });
  const c0 = snapshot();
  const t0 = Date.now();
  h.applier.start();
  if (pinning && h.applier.pid) pinning.pin('applier', h.applier.pid, CLIENT_CPU[placement]);
  const applierPid = h.applier.pid!;
  const rss = rssSampler({ applier: applierPid });
  const progress = progressSampler(h.follower, followerIndex, t0);
  const docsAt = await waitFor(
    `${DOCS} documents on ${followerIndex}`,
    async () => {
      const total = (await h.follower.shardStats(followerIndex).catch(() => [])).reduce((n, s) => n + s.indexTotal, 0);
      if (total < DOCS) return false;
      const counts = await shardCounts(h.follower, followerIndex);
      return JSON.stringify(counts) === JSON.stringify(leaderCounts) ? Date.now() : false;
    },
    3_600_000,
    250,
  );
  const applierCpu = cpuSeconds(applierPid);
  const c1 = snapshot();
  const points = await progress.stop();
  const statusAt = await waitFor(
    'the applier status to show offsets == high watermarks',
    async () => {
      const s = applierStatus(h, followerIndex) as ApplierStatus | undefined;
      return s && s.updatedAt >= docsAt && s.shards.length === leaderCounts.length && s.shards.every((x) => x.offset === x.highWatermark) ? Date.now() : false;
    },
    120_000,
    100,
  );
  const mem = rss.stop();
  const firstApplied = points.find(([, v]) => v > 0)?.[0] ?? Number.NaN;
  const seconds = (docsAt - t0) / 1000;
  const result: DrainResult = {
    placement,
    seconds,
    statusSeconds: (statusAt - t0) / 1000,
    firstAppliedSeconds: firstApplied,
    docsPerSecond: DOCS / seconds,
    steadyDocsPerSecond: steadyRate([...points, [seconds, DOCS]], DOCS),
    applierCpuSeconds: applierCpu,
    applierPeakRssMiB: mem.peak.applier ?? 0,
    followerCpuSeconds: c1.follower - c0.follower,
    kafkaCpuSeconds: c1.kafka - c0.kafka,
    extractorCpuSeconds: c1.extractor - c0.extractor,
    busy: busyFractions(c0.cpus, c1.cpus),
    progress: points,
    applierRss: mem.series,
  };
  const { progress: _p, applierRss: _r, ...summary } = result;
  console.log(`drain: ${JSON.stringify(summary)}`);
  return result;
}

async function shardCounts(es: ElasticsearchAdapter, index: string): Promise<number[]> {
  await es.refresh(index);
  return (await es.shardStats(index)).map((s) => s.docs);
}

export async function benchCatchup(): Promise<void> {
  const stack = loadStack('plain');
  const pinning: CpuPinning | undefined = PIN ? pinForBench() : undefined;
  if (pinning) console.log(pinning.log.join('\n'));
  const leaderIndex = uniqueName('bench-cu');
  const followerIndex = uniqueName('bench-cu-f');
  const followerIndices = [followerIndex];
  const env = defaultServiceEnv();
  const leaderPid = pidOfStackPart('elasticsearch-leader');
  let h: Harness | undefined;
  try {
    h = await startHarness(stack, 'bench-catchup', { env });
    if (pinning) for (const s of [h.extractor, h.applier]) if (s.pid) pinning.pin(s.name, s.pid, '1');
    await h.leader.createIndex(leaderIndex, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
    await startReplication(h, leaderIndex, followerIndex);
    const hh = h;
    await waitFor(
      'the follower index and the applier syncing',
      async () => (await hh.follower.indexExists(followerIndex)) && applierStatus(hh, followerIndex)?.state === 'syncing',
      120_000,
      500,
    );
    const stop = await h.applier.stop();
    console.log(`applier stopped (SIGTERM) in ${stop.ms} ms, exit code ${stop.code}`);

    // The leader takes the documents; the extractor publishes them.
    const l0 = Date.now();
    const lc0 = cpuSeconds(leaderPid);
    const ex0 = h.extractor.pid ? cpuSeconds(h.extractor.pid) : 0;
    const leaderLoad = await bulkAll(h.leader, leaderIndex, 2);
    const leaderCpu = cpuSeconds(leaderPid) - lc0;
    const leaderStats = await h.leader.shardStats(leaderIndex);
    const published = await waitFor(
      'the extractor to publish every document',
      async () => {
        const s = extractorStatus(hh, leaderIndex);
        return s &&
          s.shards.length === leaderStats.length &&
          leaderStats.every((l) => (s.shards.find((x) => x.shard === l.shard)?.cursor ?? -1) >= l.globalCheckpoint)
          ? Date.now()
          : false;
      },
      1_800_000,
      250,
    );
    const extractorCpu = (h.extractor.pid ? cpuSeconds(h.extractor.pid) : 0) - ex0;
    const leaderCounts = await shardCounts(h.leader, leaderIndex);
    const topic = changeTopic(h.names.leaderCluster, leaderIndex);
    const topicRecords = (await h.kafka.offsets(topic)).reduce((n, p) => n + Number(BigInt(p.high) - BigInt(p.low)), 0);
    console.log(
      `leader took ${DOCS} documents in ${leaderLoad.seconds.toFixed(1)} s (${(DOCS / leaderLoad.seconds).toFixed(0)}/s, ${leaderLoad.rejected} rejected); the extractor finished publishing ${((published - l0) / 1000).toFixed(1)} s after the load began; topic records ${topicRecords}; leader shard counts ${leaderCounts.join(', ')}`,
    );

    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const pct = (v: number | undefined) => (v === undefined ? '-' : `${Math.round(v * 100)}%`);
    // KCCR_BENCH_PLACEMENTS=split (or shared) runs one placement only.
    const placements = (pinning ? ['shared', 'split'] : ['shared']).filter(
      (p) => !process.env.KCCR_BENCH_PLACEMENTS || process.env.KCCR_BENCH_PLACEMENTS.split(',').includes(p),
    ) as Placement[];
    const raws: RawResult[] = [];
    const drains: DrainResult[] = [];
    const rows: string[][] = [];
    const limits: string[] = [];
    for (const placement of placements) {
      let target = followerIndex;
      if (placement === 'split') {
        // The same records again, read by the applier from another core into a new follower index: the first
        // replication stops, a second one of the same leader index reads the topic from its start.
        const stop2 = await h.applier.stop();
        console.log(`applier stopped (SIGTERM) in ${stop2.ms} ms, exit code ${stop2.code}`);
        await h.store.setState(h.names.followerCluster, followerIndex, 'stopped', 'bench');
        target = uniqueName('bench-cu-f2');
        followerIndices.push(target);
        await h.store.start({
          followerCluster: h.names.followerCluster,
          followerIndex: target,
          leaderCluster: h.names.leaderCluster,
          leaderIndex,
          requestedBy: 'bench',
          position: { requestId: randomUUID(), to: 'earliest', requestedAt: Date.now(), requestedBy: 'bench' },
        });
      }
      const mine: RawResult[] = [];
      mine.push(await rawLoad(h, 3, 'before', placement, pinning));
      mine.push(await rawLoad(h, 1, 'before', placement, pinning));
      const d = await drain(h, target, leaderCounts, placement, pinning);
      mine.push(await rawLoad(h, 1, 'after', placement, pinning));
      mine.push(await rawLoad(h, 3, 'after', placement, pinning));
      raws.push(...mine);
      drains.push(d);
      // The follower's physical limit: the better of the two ways to load it (means of before and after).
      const rawBy = (n: number) => mine.filter((r) => r.inflight === n);
      const best = mean(rawBy(3).map((r) => r.docsPerSecond)) >= mean(rawBy(1).map((r) => r.docsPerSecond)) ? 3 : 1;
      const rawRate = mean(rawBy(best).map((r) => r.docsPerSecond));
      const rawSteady = mean(rawBy(best).map((r) => r.steadyDocsPerSecond));
      limits.push(`${placement}: ${best} in flight, ${rawRate.toFixed(0)} docs/s, steady ${rawSteady.toFixed(0)}`);
      rows.push(
        ...mine.map((r) => [
          `${placement}: raw _bulk of 1000, ${r.inflight} in flight (${r.when} the drain)`,
          r.seconds.toFixed(1),
          r.docsPerSecond.toFixed(0),
          r.steadyDocsPerSecond.toFixed(0),
          '-',
          '-',
          r.followerCpuSeconds.toFixed(1),
          '-',
          '-',
          `${pct(r.busy.cpu0)} / ${pct(r.busy.cpu1)}`,
        ]),
        [
          `${placement}: applier drain (from its start)`,
          d.seconds.toFixed(1),
          d.docsPerSecond.toFixed(0),
          d.steadyDocsPerSecond.toFixed(0),
          (d.docsPerSecond / rawRate).toFixed(3),
          (d.steadyDocsPerSecond / rawSteady).toFixed(3),
          d.followerCpuSeconds.toFixed(1),
          `${d.applierCpuSeconds.toFixed(1)} / ${d.kafkaCpuSeconds.toFixed(1)}`,
          d.applierPeakRssMiB.toFixed(0),
          `${pct(d.busy.cpu0)} / ${pct(d.busy.cpu1)}`,
        ],
      );
    }
    const first = drains[0]!;
    const md = [
      '# Applier catch-up',
      '',
      `${DOCS} documents of ~1 KB written to a 3-shard leader while the applier was stopped (the extractor publishing); then the applier started (services at their default settings${process.env.KCCR_BENCH_SERVICE_ENV ? ` plus ${process.env.KCCR_BENCH_SERVICE_ENV}` : ''}). Raw: the same documents with plain \`_bulk\` of 1000 into an empty 3-shard follower index, with 3 and 1 requests in flight, before and after each drain; ratios against the mean of the faster of the two (${limits.join('; ')}). ${pinning ? "Leader ES JVM on CPU 0; follower ES, Kafka, registry and the extractor on CPU 1. shared: the applier and the raw load's client on CPU 1 too (the follower's core); split: both on CPU 0 (the leader is idle by then), as the applier runs on its own machine or container when deployed — the split drain reads the same records from the topic's start into a new follower index." : 'CPUs not pinned.'}`,
      '',
      table(
        [
          'load',
          'seconds',
          'docs/s',
          'steady docs/s (10-90%)',
          'ratio to raw',
          'steady ratio',
          'follower CPU s',
          'applier / Kafka CPU s',
          'applier peak RSS MiB',
          'cpu0 / cpu1 busy',
        ],
        rows,
      ),
      '',
      `${first.placement === 'shared' ? 'Shared' : 'Split'} drain: first document on the follower ${first.firstAppliedSeconds.toFixed(1)} s after the applier started; every document ${first.seconds.toFixed(1)} s; status offsets == high watermarks ${first.statusSeconds.toFixed(1)} s. ` +
        `Before it: the leader took the documents in ${leaderLoad.seconds.toFixed(1)} s (${(DOCS / leaderLoad.seconds).toFixed(0)} docs/s, ${leaderCpu.toFixed(1)} leader CPU s), the extractor had published them ${((published - l0) / 1000).toFixed(1)} s after the load began (${extractorCpu.toFixed(1)} CPU s); ${topicRecords} records in the topic.`,
      '',
    ].join('\n');
    console.log(`\n${md}`);
    console.log(
      `results: ${writeResults('catchup', { docs: DOCS, bulk: BULK, pinned: Boolean(pinning), pinning: pinning?.log, serviceEnv: env, leaderLoad: { ...leaderLoad, leaderCpuSeconds: leaderCpu, extractorCpuSeconds: extractorCpu, publishedSeconds: (published - l0) / 1000 }, topicRecords, leaderCounts, raws, drains }, md)}`,
    );
  } finally {
    if (h) {
      await Promise.all([h.extractor.stop(), h.applier.stop()]);
      await h.kafka.deleteTopics([changeTopic(h.names.leaderCluster, leaderIndex)]).catch(() => undefined);
      await h.leader.deleteIndex(leaderIndex).catch(() => undefined);
      for (const index of followerIndices) await h.follower.deleteIndex(index).catch(() => undefined);
      await dropOrphanLedgers(h.follower).catch(() => undefined);
      await h.close();
    }
    pinning?.restore();
  }
}
