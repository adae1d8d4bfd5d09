/**
 * `npm run bench -- bootstrap`: how long a bootstrap takes, per mode, through the control service with the real
 * extractor and applier: from `_start` until the follower holds every document (status SYNCING, lag 0, the same
 * document count per shard). One leader index of KCCR_BENCH_DOCS (default 100,000) documents of ~1 KB, 3 shards,
 * bootstrapped once per mode and round (KCCR_BENCH_ROUNDS, default 1).
 */
import type { StatusView } from '../services/control/status.js';
import { forgetClusters, registerPlainClusters, startControl } from '../test/support/control.js';
import { bulkLines, startHarness } from '../test/support/replication.js';
import { loadStack, uniqueName, waitFor } from '../test/support/stack.js';
import { documentOfAbout1KB, median, table, writeResults } from './lib.js';

const DOCS = Number(process.env.KCCR_BENCH_DOCS ?? 100_000);
const ROUNDS = Number(process.env.KCCR_BENCH_ROUNDS ?? 1);
const MODES = ['scan', 'snapshot'] as const;

export async function benchBootstrap(): Promise<void> {
  const stack = loadStack('plain');
  const h = await startHarness(stack, 'bench-bootstrap', { env: { KCCR_LOG_LEVEL: 'warn', KCCR_STATUS_INTERVAL_MS: '1000' } });
  const control = await startControl(stack, { followerCluster: h.names.followerCluster });
  await registerPlainClusters(control, stack, h.names);
  const leaderIndex = uniqueName('bench-boot');
  const results: { mode: string; round: number; seconds: number; docsPerSecond: number }[] = [];
  try {
    await h.leader.createIndex(leaderIndex, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
    const t0 = Date.now();
    for (let i = 0; i < DOCS; i += 1000) {
      await h.leader.bulk(bulkLines(leaderIndex, Array.from({ length: Math.min(1000, DOCS - i) }, (_, k) => ({ id: `d${i + k}`, source: documentOfAbout1KB(i + k, Math.random) }))));
    }
    await h.leader.refresh(leaderIndex);
    console.log(`loaded ${DOCS} documents in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const leaderCounts = (await h.leader.shardStats(leaderIndex)).map((s) => s.docs);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const mode of MODES) {
        const followerIndex = uniqueName(`bench-boot-${mode}`);
        const start = Date.now();
        const r = await control.call('PUT', `/_plugins/_replication/${followerIndex}/_start`, { leader_alias: h.names.leaderCluster, leader_index: leaderIndex, bootstrap: mode });
        if (r.status !== 200) throw new Error(`start ${mode}: ${r.status} ${JSON.stringify(r.body)}`);
        await waitFor(
          `${mode} bootstrap of ${DOCS} documents`,
          async () => {
            const s = (await control.call<StatusView>('GET', `/_plugins/_replication/${followerIndex}/_status`)).body;
            if (s.status !== 'SYNCING' || s.lag_operations !== 0) return false;
            await h.follower.refresh(followerIndex);
            const counts = (await h.follower.shardStats(followerIndex)).map((x) => x.docs);
            return JSON.stringify(counts) === JSON.stringify(leaderCounts);
          },
          1_800_000,
          500,
        );
        const seconds = (Date.now() - start) / 1000;
        results.push({ mode, round, seconds, docsPerSecond: DOCS / seconds });
        console.log(`round ${round} ${mode}: ${seconds.toFixed(1)} s`);
        await control.call('POST', `/_plugins/_replication/${followerIndex}/_stop`, {});
        await h.follower.deleteIndex(followerIndex);
      }
    }
  } finally {
    await h.close();
    await forgetClusters(control, [h.names.leaderCluster, h.names.followerCluster]);
    await h.leader.deleteIndex(leaderIndex).catch(() => undefined);
  }
  const rows = MODES.map((m) => {
    const mine = results.filter((r) => r.mode === m);
    return [m, DOCS, median(mine.map((r) => r.seconds)), median(mine.map((r) => r.docsPerSecond))];
  });
  const md = `# Bootstrap\n\n${DOCS} documents of ~1 KB, 3 shards, from \`_start\` to every document on the follower; median of ${ROUNDS} round(s).\n\n${table(['mode', 'documents', 'seconds', 'documents/s'], rows)}\n`;
  console.log(`\n${md}`);
  console.log(`results: ${writeResults('bootstrap', { docs: DOCS, rounds: ROUNDS, results }, md)}`);
}
