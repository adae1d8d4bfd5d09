/**
 * `npm run bench -- bootstrap`: how long a bootstrap takes, per mode, through the control service with the real
 * extractor and applier: from `_start` until the follower holds every document (status SYNCING, lag 0, the same
 * document count per shard). One leader index of KCCR_BENCH_DOCS (default 1,000,000) documents of ~1 KB, 3 shards,
 * bootstrapped once per mode and round (KCCR_BENCH_ROUNDS, default 1). Each mode against its own limit, in the
 * same round:
 *   - scan against a raw `_bulk` of the same documents (same ids and bytes; bulks of 1000, 3 in flight) into an
 *     empty 3-shard follower index, first and last in the round (the faster of the two is the limit);
 *   - snapshot against a plain snapshot of the leader index and its restore on the follower by hand
 *     (`wait_for_completion`), into the same shared repository. Every snapshot is deleted after its run, so each
 *     one copies every file (snapshots are incremental).
 * Leader JVM on CPU 0, everything else on CPU 1 (KCCR_BENCH_PIN=0 to leave them). With pinning, the scan runs a second
 * time with the extractor moved to CPU 0: the leader side (leader, extractor) and the follower side (follower, Kafka,
 * applier) each on one core, as when the two sides run on their own machines; the raw load stays as it is.
 */
import type { StatusView } from '../services/control/status/status.js';
import type { ElasticsearchAdapter } from '../services/shared/adapters/elasticsearch.js';
import { forgetClusters, registerPlainClusters, startControl } from '../test/support/control.js';
import { startHarness } from '../test/support/replication.js';
import { loadStack, uniqueName, waitFor } from '../test/support/stack.js';
import { bulkAll } from './catchup.js';
import { closeBenchHarness, cpuSeconds, envFlag, envNumber, median, pidOfStackPart, table, writeResults } from './lib.js';
import { pinForBench } from './sustained.js';

const DOCS = envNumber('KCCR_BENCH_DOCS', 1_000_000);
const ROUNDS = envNumber('KCCR_BENCH_ROUNDS', 1);
const PIN = envFlag('KCCR_BENCH_PIN', true);
/** The scan once more with the extractor on the leader's CPU: the leader side and the follower side each on a core. */
const SCAN_SPLIT = 'scan, extractor on the leader CPU';
/** The raw load runs first and last: the leader's merges after its load, and the machine, vary over a round. */
const MODES = ['raw _bulk', 'scan', SCAN_SPLIT, 'plain snapshot + restore', 'snapshot', 'raw _bulk'] as const;
const isScan = (m: string) => m === 'scan' || m === SCAN_SPLIT;
/** KCCR_BENCH_MODES: a comma-separated subset of raw, scan, split, plain, snapshot (default: all). */
const MODE_KEYS: Record<string, string> = {
  'raw _bulk': 'raw',
  scan: 'scan',
  [SCAN_SPLIT]: 'split',
  'plain snapshot + restore': 'plain',
  snapshot: 'snapshot',
};
const wanted = (m: string) => !process.env.KCCR_BENCH_MODES || process.env.KCCR_BENCH_MODES.split(',').includes(MODE_KEYS[m] ?? m);
type Mode = (typeof MODES)[number];

async function sameCounts(es: ElasticsearchAdapter, index: string, expected: readonly number[]): Promise<boolean> {
  if (!(await es.indexExists(index))) return false;
  await es.refresh(index);
  return JSON.stringify((await es.shardStats(index)).map((x) => x.docs)) === JSON.stringify(expected);
}

/** True once the primaries of `index` have taken at least `n` index operations (read without a refresh). */
async function indexedAtLeast(es: ElasticsearchAdapter, index: string, n: number): Promise<boolean> {
  if (!(await es.indexExists(index))) return false;
  return (await es.shardStats(index)).reduce((sum, s) => sum + s.indexTotal, 0) >= n;
}

async function deleteSnapshots(es: ElasticsearchAdapter, repository: string, leaderIndex: string): Promise<void> {
  const r = await es.request<{ snapshots: { snapshot: string; indices: string[] }[] }>('GET', `/_snapshot/${repository}/_all`);
  for (const s of r.body.snapshots) if (s.indices.includes(leaderIndex)) await es.request('DELETE', `/_snapshot/${repository}/${s.snapshot}`);
}

export async function benchBootstrap(): Promise<void> {
  const stack = loadStack('plain');
  const pinning = PIN ? pinForBench() : undefined;
  if (pinning) console.log(pinning.log.join('\n'));
  const h = await startHarness(stack, 'bench-bootstrap', { env: { KCCR_LOG_LEVEL: 'warn', KCCR_STATUS_INTERVAL_MS: '1000' } });
  if (pinning) for (const s of [h.extractor, h.applier]) if (s.pid) pinning.pin(s.name, s.pid, '1');
  const control = await startControl(stack, { followerCluster: h.names.followerCluster });
  await registerPlainClusters(control, stack, h.names);
  const repository = stack.snapshotRepository.name;
  const leaderIndex = uniqueName('bench-boot');
  // Each scan needs a leader index the extractor has not published yet (a second replication of one leader index
  // reads the topic the first filled, without reading the leader): the split scan gets its own copy.
  const splitLeaderIndex = uniqueName('bench-boot-split');
  const results: { mode: Mode; round: number; seconds: number; syncingSeconds: number; docsPerSecond: number; cpu: Record<string, number> }[] = [];
  const pids = {
    leader: pidOfStackPart('elasticsearch-leader'),
    follower: pidOfStackPart('elasticsearch-follower'),
    kafka: pidOfStackPart('kafka'),
    extractor: h.extractor.pid!,
    applier: h.applier.pid!,
  };
  const cpuNow = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  let loadSeconds = 0;
  try {
    for (const index of pinning ? [leaderIndex, splitLeaderIndex] : [leaderIndex]) {
      await h.leader.createIndex(index, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
      const seconds = (await bulkAll(h.leader, index, 2, DOCS)).seconds;
      if (index === leaderIndex) loadSeconds = seconds;
      await h.leader.refresh(index);
      // One segment set that stays put: merges finishing during a run would make the snapshots differ in size.
      await h.leader.request('POST', `/${index}/_flush`);
    }
    console.log(`loaded ${DOCS} documents in ${loadSeconds.toFixed(1)} s`);
    const leaderCounts = (await h.leader.shardStats(leaderIndex)).map((s) => s.docs);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const mode of MODES) {
        if ((mode === SCAN_SPLIT && !pinning) || !wanted(mode)) continue;
        const followerIndex = uniqueName(`bench-boot-${mode.split(/[ ,]/)[0]}`);
        if (mode === SCAN_SPLIT) pinning!.pin('extractor', h.extractor.pid!, '0');
        const start = Date.now();
        let documentsAt: number | undefined;
        const cpu0 = cpuNow();
        if (mode === 'raw _bulk') {
          await h.follower.createIndex(followerIndex, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
          await bulkAll(h.follower, followerIndex, 3, DOCS);
          await waitFor('the raw load to be visible', () => sameCounts(h.follower, followerIndex, leaderCounts), 600_000, 500);
        } else if (mode === 'plain snapshot + restore') {
          const name = `bench-plain-${Date.now()}`;
          await h.leader.request('PUT', `/_snapshot/${repository}/${name}`, {
            query: { wait_for_completion: true },
            body: { indices: leaderIndex, include_global_state: false },
          });
          await h.follower.request('POST', `/_snapshot/${repository}/${name}/_restore`, {
            query: { wait_for_completion: true },
            body: { indices: leaderIndex, include_global_state: false, include_aliases: false, rename_pattern: '(.+)', rename_replacement: followerIndex },
          });
          await waitFor('the restored index to be complete', () => sameCounts(h.follower, followerIndex, leaderCounts), 600_000, 500);
        } else {
          const bootstrap = isScan(mode) ? 'scan' : mode;
          const r = await control.call('PUT', `/_plugins/_replication/${followerIndex}/_start`, {
            leader_alias: h.names.leaderCluster,
            leader_index: mode === SCAN_SPLIT ? splitLeaderIndex : leaderIndex,
            bootstrap,
          });
          if (r.status !== 200) throw new Error(`start ${mode}: ${r.status} ${JSON.stringify(r.body)}`);
          // A scan indexes: wait on the primaries' indexing totals (no refresh), then compare the counts. A refresh
          // forced every poll would cut the follower's segments small and cost it more than the bootstrap does.
          const written = isScan(mode) ? () => indexedAtLeast(h.follower, followerIndex, DOCS) : async () => true;
          await waitFor(
            `${mode} bootstrap of ${DOCS} documents on the follower`,
            async () => (await written()) && sameCounts(h.follower, followerIndex, leaderCounts),
            1_800_000,
            200,
          );
          documentsAt = Date.now();
          await waitFor(
            `${mode} bootstrap to be reported done`,
            async () => {
              const s = (await control.call<StatusView>('GET', `/_plugins/_replication/${followerIndex}/_status`)).body;
              return s.status === 'SYNCING' && s.lag_operations === 0;
            },
            600_000,
            200,
          );
        }
        const seconds = ((documentsAt ?? Date.now()) - start) / 1000;
        const syncingSeconds = (Date.now() - start) / 1000;
        const cpu1 = cpuNow();
        const cpu = Object.fromEntries(Object.keys(pids).map((k) => [k, cpu1[k]! - cpu0[k]!]));
        results.push({ mode, round, seconds, syncingSeconds, docsPerSecond: DOCS / seconds, cpu });
        console.log(`round ${round} ${mode}: documents ${seconds.toFixed(1)} s, reported done ${syncingSeconds.toFixed(1)} s`);
        if (mode !== 'raw _bulk' && mode !== 'plain snapshot + restore') await control.call('POST', `/_plugins/_replication/${followerIndex}/_stop`, {});
        if (mode === SCAN_SPLIT) pinning!.pin('extractor', h.extractor.pid!, '1');
        await h.follower.deleteIndex(followerIndex);
        await deleteSnapshots(h.leader, repository, leaderIndex);
      }
    }
  } finally {
    pinning?.restore();
    await forgetClusters(control, [h.names.leaderCluster, h.names.followerCluster]);
    await deleteSnapshots(h.leader, repository, leaderIndex).catch(() => undefined);
    await closeBenchHarness(h, [leaderIndex, splitLeaderIndex], []);
    await control.close();
  }
  const secondsOf = (m: Mode) => median(results.filter((r) => r.mode === m).map((r) => r.seconds));
  const ratio = (m: Mode) => {
    if (isScan(m)) return `${(secondsOf('raw _bulk') / secondsOf(m)).toFixed(2)} of raw rate (target >= 0.7)`;
    if (m === 'snapshot') return `${(secondsOf('snapshot') / secondsOf('plain snapshot + restore')).toFixed(2)}x plain time (target <= 1.2)`;
    return 'limit';
  };
  const cpuOf = (m: Mode) => {
    const mine = results.filter((r) => r.mode === m);
    return Object.keys(pids)
      .map((k) => median(mine.map((r) => r.cpu[k]!)).toFixed(1))
      .join(' / ');
  };
  const syncingOf = (m: Mode) => median(results.filter((r) => r.mode === m).map((r) => r.syncingSeconds));
  const rows = [...new Set(MODES)]
    .filter((m) => results.some((r) => r.mode === m))
    .map((m) => [
      m,
      DOCS,
      secondsOf(m).toFixed(1),
      isScan(m) || m === 'snapshot' ? syncingOf(m).toFixed(1) : '-',
      (DOCS / secondsOf(m)).toFixed(0),
      ratio(m),
      cpuOf(m),
    ]);
  const md = `# Bootstrap\n\n${DOCS} documents of ~1 KB (loaded into the leader in ${loadSeconds.toFixed(1)} s), 3 shards, from the start to every document on the follower; medians of ${ROUNDS} round(s). scan and snapshot are kccr's bootstraps (\`_start\` with \`bootstrap\`; timed to the same per-shard counts on the follower, the ratios' basis, and to status SYNCING with lag 0); raw \`_bulk\` (same documents, 3 bulks of 1000 in flight; first and last in each round, the faster of the two is the limit) and a plain snapshot + restore by hand are their limits. ${pinning ? `Leader JVM on CPU 0, everything else on CPU 1; "${SCAN_SPLIT}": the same scan with the extractor moved to CPU 0 (the leader side on one core, the follower side on the other, as the two sides run on their own machines when deployed).` : 'CPUs not pinned.'}\n\n${table(['mode', 'documents', 'seconds to every document on the follower', 'seconds to SYNCING, lag 0', 'documents/s', 'against its limit', 'CPU s: leader / follower / Kafka / extractor / applier'], rows)}\n`;
  console.log(`\n${md}`);
  console.log(`results: ${writeResults('bootstrap', { docs: DOCS, rounds: ROUNDS, loadSeconds, results }, md)}`);
}
