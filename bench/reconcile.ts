/**
 * `npm run bench -- reconcile`: the cost of one delete-reconciliation pass, and what it does to the leader.
 *
 * For each size (KCCR_BENCH_SIZES, default "100000,1000000" documents of ~1 KB in a 3-shard leader index), the
 * index is loaded, replicated (the real extractor and applier, default settings but status every 500 ms), and
 * once the follower holds everything:
 *   A. quiet leader: one document is deleted; its checkpoint's delete count moves, so the applier runs one pass
 *      over that shard (a third of the index): time until the document is gone on the follower, time until the
 *      extractor has checked every id of the shard, leader / extractor / applier CPU seconds meanwhile;
 *   B. busy leader: a load generator writes to another (unreplicated) index of the leader as fast as it takes it
 *      (4 bulks of 500 in flight) for 15 s, then another document is deleted and the pass runs under that load:
 *      leader indexing rate during the pass divided by the rate before it (medians of one-second samples).
 * Leader JVM pinned to CPU 0, the rest to CPU 1 (KCCR_BENCH_PIN=0 to leave them).
 */
import type { ElasticsearchAdapter } from '../services/shared/adapters/elasticsearch.js';
import { applierStatus, bulkLines, extractorStatus, startHarness, startReplication } from '../test/support/replication.js';
import type { Harness } from '../test/support/replication.js';
import { loadStack, uniqueName, waitFor } from '../test/support/stack.js';
import { bulkAll } from './catchup.js';
import type { CpuPinning } from './lib.js';
import {
  busyFractions,
  closeBenchHarness,
  cpuSeconds,
  cpuTimes,
  defaultServiceEnv,
  documentOfAbout1KB,
  envFlag,
  envNumbers,
  foundOnFollower,
  median,
  pidOfStackPart,
  setNice,
  table,
  waitForFollowerCount,
  writeResults,
} from './lib.js';
import { pinForBench } from './sustained.js';

const SIZES = envNumbers('KCCR_BENCH_SIZES', [100000, 1000000]);
const PIN = envFlag('KCCR_BENCH_PIN', true);
const BASELINE_SECONDS = 15;
const BUSY_SECONDS = 15;

interface PassResult {
  shardIds: number;
  deleteSeconds: number;
  /** From the delete to the applier starting the pass (the extractor's next poll, its checkpoint, the applier). */
  triggerSeconds: number;
  /** The pass, as the applier timed it: from its start to the last answer. */
  passSeconds: number;
  /** Ranges counted on both sides, and ids listed and checked on the leader. */
  rangesCounted: number;
  idsChecked: number;
  /** Leader requests of the pass: range counts and counts of id groups, and ids checked with realtime gets. */
  counts: number;
  gets: number;
  leaderCpuSeconds: number;
  extractorCpuSeconds: number;
  applierCpuSeconds: number;
  busy: Record<string, number>;
  /** Busy phase: passes run back to back, and the window they took. */
  passes?: number;
  windowSeconds?: number;
}

interface SizeResult {
  size: number;
  loadSeconds: number;
  replicateSeconds: number;
  quiet: PassResult;
  busy: PassResult & { rateBefore: number; rateDuring: number; ratio: number };
}

/** Writes to `index` as fast as the leader takes it; per-second document counts. */
function maxRateLoad(es: ElasticsearchAdapter, index: string) {
  const perSecond: { at: number; docs: number }[] = [];
  let running = true;
  let n = 0;
  let current = { at: Math.floor(Date.now() / 1000), docs: 0 };
  const one = async () => {
    while (running) {
      const lines = Array.from({ length: 500 }, () => ({ id: `p${n++}`, source: documentOfAbout1KB(n, Math.random) }));
      const items = await es.bulk(bulkLines(index, lines));
      const sec = Math.floor(Date.now() / 1000);
      if (sec !== current.at) {
        perSecond.push(current);
        current = { at: sec, docs: 0 };
      }
      current.docs += items.filter((i) => i.status < 300).length;
    }
  };
  const workers = Array.from({ length: 4 }, () => one());
  return {
    /** Median documents per second over whole seconds in [from, to) (ms). */
    rate(from: number, to: number): number {
      return median(perSecond.filter((s) => s.at * 1000 >= from && (s.at + 1) * 1000 <= to).map((s) => s.docs));
    },
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

async function gone(es: ElasticsearchAdapter, index: string, id: string): Promise<boolean> {
  return !(await foundOnFollower(es, index, [id])).some((d) => d.found);
}

/** Deletes `id` on the leader and times the pass it sets off over its shard. */
async function onePass(h: Harness, leaderIndex: string, followerIndex: string, id: string): Promise<PassResult> {
  const shard = (await h.leader.search<{ hits: { hits: { _shard?: string }[] } }>(leaderIndex, { query: { ids: { values: [id] } } }, { explain: true })).hits
    .hits[0]?._shard;
  const shardNo = Number(/\[(\d+)\]$/.exec(shard ?? '')?.[1] ?? Number.NaN);
  const shardIds = (await h.follower.shardStats(followerIndex)).find((s) => s.shard === shardNo)?.docs ?? Number.NaN;
  const before = extractorStatus(h, leaderIndex)?.reconcile;
  const checked0 = before?.idsChecked ?? 0;
  const beforeApplier = applierStatus(h, followerIndex)?.reconcile;
  const pids = { leader: pidOfStackPart('elasticsearch-leader'), extractor: h.extractor.pid!, applier: h.applier.pid! };
  const c0 = { leader: cpuSeconds(pids.leader), extractor: cpuSeconds(pids.extractor), applier: cpuSeconds(pids.applier) };
  const b0 = cpuTimes();
  const t0 = Date.now();
  await h.leader.request('DELETE', `/${leaderIndex}/_doc/${encodeURIComponent(id)}`);
  const deleteSeconds =
    (await waitFor(`${id} gone on the follower`, async () => ((await gone(h.follower, followerIndex, id)) ? Date.now() : false), 600_000, 100)) - t0;
  const applier = await waitFor(
    'the pass in the applier status',
    async () => {
      const r = applierStatus(h, followerIndex)?.reconcile;
      return r?.lastPassAt && r.lastPassMs !== null && r.lastPassAt > t0 ? r : false;
    },
    900_000,
    100,
  );
  const passStart = applier.lastPassAt! - applier.lastPassMs!;
  return {
    shardIds,
    deleteSeconds: deleteSeconds / 1000,
    triggerSeconds: (passStart - t0) / 1000,
    passSeconds: applier.lastPassMs! / 1000,
    rangesCounted: (applier.rangesCounted ?? 0) - (beforeApplier?.rangesCounted ?? 0),
    idsChecked: (extractorStatus(h, leaderIndex)?.reconcile.idsChecked ?? 0) - checked0,
    counts: (extractorStatus(h, leaderIndex)?.reconcile.counts ?? 0) - (before?.counts ?? 0),
    gets: (extractorStatus(h, leaderIndex)?.reconcile.gets ?? 0) - (before?.gets ?? 0),
    leaderCpuSeconds: cpuSeconds(pids.leader) - c0.leader,
    extractorCpuSeconds: cpuSeconds(pids.extractor) - c0.extractor,
    applierCpuSeconds: cpuSeconds(pids.applier) - c0.applier,
    busy: busyFractions(b0, cpuTimes()),
  };
}

async function runSize(size: number, pinning: CpuPinning | undefined): Promise<SizeResult> {
  const stack = loadStack('plain');
  const h = await startHarness(stack, 'bench-reconcile', { env: { ...defaultServiceEnv(), KCCR_STATUS_INTERVAL_MS: '500' } });
  const leaderIndex = uniqueName('bench-rc');
  const followerIndex = uniqueName('bench-rc-f');
  const probeIndex = uniqueName('bench-rc-probe');
  try {
    if (pinning) for (const s of [h.extractor, h.applier]) if (s.pid) pinning.pin(s.name, s.pid, '1');
    const settings = { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } };
    await h.leader.createIndex(leaderIndex, settings);
    await h.leader.createIndex(probeIndex, settings);
    const load = await bulkAll(h.leader, leaderIndex, 2, size);
    console.log(`${size}: leader loaded in ${load.seconds.toFixed(1)} s`);
    const r0 = Date.now();
    await startReplication(h, leaderIndex, followerIndex);
    await waitForFollowerCount(h, followerIndex, size, 1_800_000);
    const replicateSeconds = (Date.now() - r0) / 1000;
    console.log(`${size}: replicated in ${replicateSeconds.toFixed(1)} s`);
    // Let the catch-up settle (merges on both sides) before measuring.
    await new Promise((r) => setTimeout(r, 10_000));
    const quiet = await onePass(h, leaderIndex, followerIndex, 'd1');
    console.log(`${size}: quiet pass ${JSON.stringify(quiet)}`);

    const generator = maxRateLoad(h.leader, probeIndex);
    setNice(process.pid, -10);
    const b0 = Date.now();
    await new Promise((r) => setTimeout(r, BASELINE_SECONDS * 1000));
    // Passes back to back for at least BUSY_SECONDS, so that the rate during them rests on several samples.
    const t0 = Date.now();
    const passes: PassResult[] = [];
    for (let victim = 2; passes.length === 0 || Date.now() - t0 < BUSY_SECONDS * 1000; victim++)
      passes.push(await onePass(h, leaderIndex, followerIndex, `d${victim}`));
    const t1 = Date.now();
    const pass: PassResult = {
      ...passes[0]!,
      deleteSeconds: median(passes.map((p) => p.deleteSeconds)),
      triggerSeconds: median(passes.map((p) => p.triggerSeconds)),
      passSeconds: median(passes.map((p) => p.passSeconds)),
      leaderCpuSeconds: passes.reduce((n, p) => n + p.leaderCpuSeconds, 0),
      extractorCpuSeconds: passes.reduce((n, p) => n + p.extractorCpuSeconds, 0),
      applierCpuSeconds: passes.reduce((n, p) => n + p.applierCpuSeconds, 0),
      counts: passes.reduce((n, p) => n + p.counts, 0),
      rangesCounted: passes.reduce((n, p) => n + p.rangesCounted, 0),
      idsChecked: passes.reduce((n, p) => n + p.idsChecked, 0),
      gets: passes.reduce((n, p) => n + p.gets, 0),
      passes: passes.length,
      windowSeconds: (t1 - t0) / 1000,
    };
    await generator.stop();
    const rateBefore = generator.rate(b0 + 2000, t0);
    const rateDuring = generator.rate(t0, t1);
    const busy = { ...pass, rateBefore, rateDuring, ratio: rateDuring / rateBefore };
    console.log(`${size}: pass under load ${JSON.stringify(busy)}; applier passes ${applierStatus(h, followerIndex)?.reconcile?.passes ?? '-'}`);
    return { size, loadSeconds: load.seconds, replicateSeconds, quiet, busy };
  } finally {
    await closeBenchHarness(h, [leaderIndex, probeIndex], [followerIndex]);
  }
}

export async function benchReconcile(): Promise<void> {
  const pinning = PIN ? pinForBench() : undefined;
  if (pinning) console.log(pinning.log.join('\n'));
  const results: SizeResult[] = [];
  try {
    for (const size of SIZES) results.push(await runSize(size, pinning));
  } finally {
    pinning?.restore();
  }
  const limit = process.env.KCCR_RECONCILE_IDS_PER_SECOND ?? '50000 (default)';
  const pct = (v: number | undefined) => (v === undefined ? '-' : `${Math.round(v * 100)}%`);
  const md = [
    '# Delete reconciliation: cost of one pass',
    '',
    `A 3-shard leader of ~1 KB documents, replicated; one delete sets off one pass over its shard (docs/design/reconciliation.md: leader and follower ledger counted per _seq_no range, differing ranges split by 32 and counted again, narrow ones listed (a shard of up to 20,000 documents listed whole) and their ids checked on the leader; at most KCCR_RECONCILE_IDS_PER_SECOND = ${limit} ids/s). Quiet: nothing else runs. Busy: the leader takes a second, unreplicated index as fast as it can (4 bulks of 500 in flight, the generator at nice -10), ${BASELINE_SECONDS} s before, then while passes run back to back (one delete after another) for at least ${BUSY_SECONDS} s: median pass, leader CPU summed over the window, the rate during the window against before it (medians of one-second samples). ${pinning ? 'Leader JVM on CPU 0, everything else on CPU 1.' : 'CPUs not pinned.'}`,
    '',
    table(
      [
        'documents',
        'ids in the shard',
        'leader',
        'delete on follower s',
        'pass started after s',
        'pass s',
        'ranges counted',
        'ids checked',
        'leader counts / ids got',
        'leader CPU s',
        'extractor / applier CPU s',
        'cpu0 / cpu1 busy',
        'leader docs/s before / during pass',
        'rate ratio',
      ],
      results.flatMap((r) => [
        [
          r.size,
          r.quiet.shardIds,
          'quiet',
          r.quiet.deleteSeconds.toFixed(1),
          r.quiet.triggerSeconds.toFixed(1),
          r.quiet.passSeconds.toFixed(2),
          r.quiet.rangesCounted,
          r.quiet.idsChecked,
          `${r.quiet.counts} / ${r.quiet.gets}`,
          r.quiet.leaderCpuSeconds.toFixed(1),
          `${r.quiet.extractorCpuSeconds.toFixed(1)} / ${r.quiet.applierCpuSeconds.toFixed(1)}`,
          `${pct(r.quiet.busy.cpu0)} / ${pct(r.quiet.busy.cpu1)}`,
          '-',
          '-',
        ],
        [
          r.size,
          r.busy.shardIds,
          `busy (${r.busy.passes ?? 1} passes, ${(r.busy.windowSeconds ?? 0).toFixed(0)} s)`,
          r.busy.deleteSeconds.toFixed(1),
          r.busy.triggerSeconds.toFixed(1),
          r.busy.passSeconds.toFixed(2),
          r.busy.rangesCounted,
          r.busy.idsChecked,
          `${r.busy.counts} / ${r.busy.gets}`,
          r.busy.leaderCpuSeconds.toFixed(1),
          `${r.busy.extractorCpuSeconds.toFixed(1)} / ${r.busy.applierCpuSeconds.toFixed(1)}`,
          `${pct(r.busy.busy.cpu0)} / ${pct(r.busy.busy.cpu1)}`,
          `${r.busy.rateBefore.toFixed(0)} / ${r.busy.rateDuring.toFixed(0)}`,
          r.busy.ratio.toFixed(3),
        ],
      ]),
    ),
    '',
    results
      .map(
        (r) =>
          `${r.size} documents: loaded into the leader in ${r.loadSeconds.toFixed(1)} s, on the follower ${r.replicateSeconds.toFixed(1)} s after replication started.`,
      )
      .join(' '),
    '',
  ].join('\n');
  console.log(`\n${md}`);
  console.log(`results: ${writeResults('reconcile', { limit, results }, md)}`);
}
