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
 * CPUs pinned as in the sustained scenario (KCCR_BENCH_PIN=0 to leave them).
 */
import type { ElasticsearchAdapter } from '../services/shared/adapters/elasticsearch.js';
import type { ApplierStatus } from '../services/shared/replication.js';
import { changeTopic } from '../services/shared/topics.js';
import { applierStatus, extractorStatus, startHarness, startReplication } from '../test/support/replication.js';
import type { Harness } from '../test/support/replication.js';
import { loadStack, uniqueName, waitFor } from '../test/support/stack.js';
import type { CpuPinning } from './lib.js';
import { busyFractions, cpuSeconds, cpuTimes, defaultServiceEnv, documentOfAbout1KB, envNumber, pidOfStackPart, rssSampler, seededRandom, table, writeResults } from './lib.js';
import { pinForBench } from './sustained.js';

const DOCS = envNumber('KCCR_BENCH_DOCS', 500_000);
const BULK = 1000;
const SEED = 20_240_601;
const PIN = process.env.KCCR_BENCH_PIN !== '0';

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

interface RawResult {
  inflight: number;
  when: 'before' | 'after';
  seconds: number;
  docsPerSecond: number;
  steadyDocsPerSecond: number;
  rejected: number;
  followerCpuSeconds: number;
  busy: Record<string, number>;
}

async function rawLoad(h: Harness, inflight: number, when: RawResult['when']): Promise<RawResult> {
  const index = uniqueName('bench-cu-raw');
  const followerPid = pidOfStackPart('elasticsearch-follower');
  try {
    await h.follower.createIndex(index, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
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
      inflight,
      when,
      seconds,
      docsPerSecond: DOCS / seconds,
      steadyDocsPerSecond: steadyRate(points, DOCS),
      rejected: r.rejected,
      followerCpuSeconds: cpuSeconds(followerPid) - c0,
      busy: busyFractions(b0, cpuTimes()),
    };
    console.log(`raw _bulk, ${inflight} in flight (${when}): ${JSON.stringify(res)}`);
    return res;
  } finally {
    await h.follower.deleteIndex(index).catch(() => undefined);
  }
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
  const env = defaultServiceEnv();
  const pids = { leader: pidOfStackPart('elasticsearch-leader'), follower: pidOfStackPart('elasticsearch-follower'), kafka: pidOfStackPart('kafka') };
  let h: Harness | undefined;
  try {
    h = await startHarness(stack, 'bench-catchup', { env });
    if (pinning) for (const s of [h.extractor, h.applier]) if (s.pid) pinning.pin(s.name, s.pid, '1');
    await h.leader.createIndex(leaderIndex, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
    await startReplication(h, leaderIndex, followerIndex);
    const hh = h;
    await waitFor('the follower index and the applier syncing', async () => (await hh.follower.indexExists(followerIndex)) && applierStatus(hh, followerIndex)?.state === 'syncing', 120_000, 500);
    const stop = await h.applier.stop();
    console.log(`applier stopped (SIGTERM) in ${stop.ms} ms, exit code ${stop.code}`);

    // The leader takes the documents; the extractor publishes them.
    const l0 = Date.now();
    const lc0 = cpuSeconds(pids.leader);
    const ex0 = h.extractor.pid ? cpuSeconds(h.extractor.pid) : 0;
    const leaderLoad = await bulkAll(h.leader, leaderIndex, 2);
    const leaderCpu = cpuSeconds(pids.leader) - lc0;
    const leaderStats = await h.leader.shardStats(leaderIndex);
    const published = await waitFor(
      'the extractor to publish every document',
      async () => {
        const s = extractorStatus(hh, leaderIndex);
        return s && s.shards.length === leaderStats.length && leaderStats.every((l) => (s.shards.find((x) => x.shard === l.shard)?.cursor ?? -1) >= l.globalCheckpoint) ? Date.now() : false;
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

    const raws: RawResult[] = [];
    raws.push(await rawLoad(h, 3, 'before'));
    raws.push(await rawLoad(h, 1, 'before'));

    // The drain.
    const c0 = { follower: cpuSeconds(pids.follower), kafka: cpuSeconds(pids.kafka), extractor: h.extractor.pid ? cpuSeconds(h.extractor.pid) : 0, cpus: cpuTimes() };
    const t0 = Date.now();
    h.applier.start();
    if (pinning && h.applier.pid) pinning.pin('applier', h.applier.pid, '1');
    const applierPid = h.applier.pid!;
    const rss = rssSampler({ applier: applierPid });
    const progress = progressSampler(h.follower, followerIndex, t0);
    const docsAt = await waitFor(
      `${DOCS} documents on the follower`,
      async () => {
        const total = (await hh.follower.shardStats(followerIndex)).reduce((n, s) => n + s.indexTotal, 0);
        if (total < DOCS) return false;
        const counts = await shardCounts(hh.follower, followerIndex);
        return JSON.stringify(counts) === JSON.stringify(leaderCounts) ? Date.now() : false;
      },
      3_600_000,
      250,
    );
    const applierCpu = cpuSeconds(applierPid);
    const c1 = { follower: cpuSeconds(pids.follower), kafka: cpuSeconds(pids.kafka), extractor: h.extractor.pid ? cpuSeconds(h.extractor.pid) : 0, cpus: cpuTimes() };
    const points = await progress.stop();
    const statusAt = await waitFor(
      'the applier status to show offsets == high watermarks',
      async () => {
        const s = applierStatus(hh, followerIndex) as ApplierStatus | undefined;
        return s && s.updatedAt >= docsAt && s.shards.length === leaderCounts.length && s.shards.every((x) => x.offset === x.highWatermark) ? Date.now() : false;
      },
      120_000,
      100,
    );
    const mem = rss.stop();
    const firstApplied = points.find(([, v]) => v > 0)?.[0] ?? Number.NaN;
    const drainSeconds = (docsAt - t0) / 1000;
    const drain = {
      seconds: drainSeconds,
      statusSeconds: (statusAt - t0) / 1000,
      firstAppliedSeconds: firstApplied,
      docsPerSecond: DOCS / drainSeconds,
      steadyDocsPerSecond: steadyRate([...points, [drainSeconds, DOCS]], DOCS),
      applierCpuSeconds: applierCpu,
      applierPeakRssMiB: mem.peak.applier ?? 0,
      followerCpuSeconds: c1.follower - c0.follower,
      kafkaCpuSeconds: c1.kafka - c0.kafka,
      extractorCpuSeconds: c1.extractor - c0.extractor,
      busy: busyFractions(c0.cpus, c1.cpus),
    };
    console.log(`drain: ${JSON.stringify(drain)}`);

    raws.push(await rawLoad(h, 1, 'after'));
    raws.push(await rawLoad(h, 3, 'after'));
    // The follower's physical limit: the better of the two ways to load it (medians of before and after).
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const rawBy = (n: number) => raws.filter((r) => r.inflight === n);
    const best = mean(rawBy(3).map((r) => r.docsPerSecond)) >= mean(rawBy(1).map((r) => r.docsPerSecond)) ? 3 : 1;
    const rawRate = mean(rawBy(best).map((r) => r.docsPerSecond));
    const rawSteady = mean(rawBy(best).map((r) => r.steadyDocsPerSecond));
    const pct = (v: number | undefined) => (v === undefined ? '-' : `${Math.round(v * 100)}%`);
    const rows = [
      ...raws.map((r) => [`raw _bulk of 1000, ${r.inflight} in flight (${r.when} the drain)`, r.seconds.toFixed(1), r.docsPerSecond.toFixed(0), r.steadyDocsPerSecond.toFixed(0), '-', '-', r.followerCpuSeconds.toFixed(1), '-', '-', `${pct(r.busy.cpu0)} / ${pct(r.busy.cpu1)}`]),
      [
        'applier drain (from its start)',
        drain.seconds.toFixed(1),
        drain.docsPerSecond.toFixed(0),
        drain.steadyDocsPerSecond.toFixed(0),
        (drain.docsPerSecond / rawRate).toFixed(3),
        (drain.steadyDocsPerSecond / rawSteady).toFixed(3),
        drain.followerCpuSeconds.toFixed(1),
        `${drain.applierCpuSeconds.toFixed(1)} / ${drain.kafkaCpuSeconds.toFixed(1)}`,
        drain.applierPeakRssMiB.toFixed(0),
        `${pct(drain.busy.cpu0)} / ${pct(drain.busy.cpu1)}`,
      ],
    ];
    const md = [
      '# Applier catch-up',
      '',
      `${DOCS} documents of ~1 KB written to a 3-shard leader while the applier was stopped (the extractor publishing); then the applier started (services at their default settings${process.env.KCCR_BENCH_SERVICE_ENV ? ` plus ${process.env.KCCR_BENCH_SERVICE_ENV}` : ''}). Raw: the same documents with plain \`_bulk\` of 1000 into an empty 3-shard follower index. Raw loads with 3 and 1 requests in flight, before and after the drain; ratios against the mean of the faster of the two (${best} in flight: ${rawRate.toFixed(0)} docs/s, steady ${rawSteady.toFixed(0)}). ${pinning ? 'Leader ES JVM on CPU 0; follower ES, Kafka, registry, extractor, applier and this process on CPU 1.' : 'CPUs not pinned.'}`,
      '',
      table(['load', 'seconds', 'docs/s', 'steady docs/s (10-90%)', 'ratio to raw', 'steady ratio', 'follower CPU s', 'applier / Kafka CPU s', 'applier peak RSS MiB', 'cpu0 / cpu1 busy'], rows),
      '',
      `Drain: first document on the follower ${drain.firstAppliedSeconds.toFixed(1)} s after the applier started; every document ${drain.seconds.toFixed(1)} s; status offsets == high watermarks ${drain.statusSeconds.toFixed(1)} s. ` +
        `Before it: the leader took the documents in ${leaderLoad.seconds.toFixed(1)} s (${(DOCS / leaderLoad.seconds).toFixed(0)} docs/s, ${leaderCpu.toFixed(1)} leader CPU s), the extractor had published them ${((published - l0) / 1000).toFixed(1)} s after the load began (${extractorCpu.toFixed(1)} CPU s); ${topicRecords} records in the topic. Applier peak RSS ${(mem.peak.applier ?? 0).toFixed(0)} MiB.`,
      '',
    ].join('\n');
    console.log(`\n${md}`);
    console.log(
      `results: ${writeResults('catchup', { docs: DOCS, bulk: BULK, pinned: Boolean(pinning), pinning: pinning?.log, serviceEnv: env, leaderLoad: { ...leaderLoad, leaderCpuSeconds: leaderCpu, extractorCpuSeconds: extractorCpu, publishedSeconds: (published - l0) / 1000 }, topicRecords, leaderCounts, raws, drain, progress: points, applierRss: mem.series }, md)}`,
    );
  } finally {
    if (h) {
      await Promise.all([h.extractor.stop(), h.applier.stop()]);
      await h.kafka.deleteTopics([changeTopic(h.names.leaderCluster, leaderIndex)]).catch(() => undefined);
      await h.leader.deleteIndex(leaderIndex).catch(() => undefined);
      await h.follower.deleteIndex(followerIndex).catch(() => undefined);
      await h.close();
    }
    pinning?.restore();
  }
}
