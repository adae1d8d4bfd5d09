/**
 * `npm run bench -- deletes`: delete propagation through reconciliation. For each index size, a 3-shard leader
 * is filled and replicated; then documents are deleted one every 200 ms, and each delete's time from the
 * leader's acknowledgement to its absence on the follower (realtime GET) is measured.
 *   KCCR_BENCH_SIZES (default "10000,100000"), KCCR_BENCH_DELETES (default 100)
 */
import type { ApplierStatus, ExtractorStatus } from '../services/shared/replication.js';
import { bulkLines, startHarness, startReplication } from '../test/support/replication.js';
import { loadStack, uniqueName } from '../test/support/stack.js';
import {
  closeBenchHarness,
  cpuSeconds,
  documentOfAbout1KB,
  envNumber,
  envNumbers,
  foundOnFollower,
  percentile,
  pidOfStackPart,
  table,
  waitForFollowerCount,
  writeResults,
} from './lib.js';

const SIZES = envNumbers('KCCR_BENCH_SIZES', [10000, 100000]);
const DELETES = envNumber('KCCR_BENCH_DELETES', 100);

interface SizeResult {
  size: number;
  deletes: number;
  p50: number;
  p99: number;
  max: number;
  passes: number;
  lastPassMs: number | null;
  idsChecked: number;
  leaderCpuSeconds: number;
  seconds: number;
}

async function runSize(size: number): Promise<SizeResult> {
  const stack = loadStack('plain');
  const h = await startHarness(stack, 'bench-deletes', { env: { KCCR_LOG_LEVEL: 'warn', KCCR_STATUS_INTERVAL_MS: '2000' } });
  const leaderIndex = uniqueName('bench-del');
  const followerIndex = uniqueName('bench-del-f');
  try {
    await h.leader.createIndex(leaderIndex, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
    for (let i = 0; i < size; i += 1000) {
      await h.leader.bulk(
        bulkLines(
          leaderIndex,
          Array.from({ length: Math.min(1000, size - i) }, (_, k) => ({ id: `d${i + k}`, source: documentOfAbout1KB(i + k, Math.random) })),
        ),
      );
    }
    await startReplication(h, leaderIndex, followerIndex);
    await waitForFollowerCount(h, followerIndex, size, 600_000);
    const leaderPid = pidOfStackPart('elasticsearch-leader');
    const cpu0 = cpuSeconds(leaderPid);
    const t0 = Date.now();
    const pending = new Map<string, number>();
    const latencies: number[] = [];
    const victims = new Set<number>();
    while (victims.size < DELETES) victims.add(Math.floor(Math.random() * size));
    const poller = (async () => {
      while (latencies.length < DELETES) {
        if (pending.size > 0) {
          const docs = await foundOnFollower(h.follower, followerIndex, pending.keys());
          const now = Date.now();
          for (const d of docs) {
            if (!d.found && pending.has(d.id)) {
              latencies.push(now - pending.get(d.id)!);
              pending.delete(d.id);
            }
          }
        }
        if (Date.now() - t0 > 600_000) throw new Error(`deletes still pending after 600 s: ${pending.size}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    for (const v of victims) {
      await h.leader.request('DELETE', `/${leaderIndex}/_doc/d${v}`);
      pending.set(`d${v}`, Date.now());
      await new Promise((r) => setTimeout(r, 200));
    }
    await poller;
    const seconds = (Date.now() - t0) / 1000;
    const leaderCpuSeconds = cpuSeconds(leaderPid) - cpu0;
    await new Promise((r) => setTimeout(r, 2500));
    const rows = h.status.entries();
    const applier = rows.find(([k]) => k.endsWith(`/${followerIndex}`))?.[1] as ApplierStatus | undefined;
    const extractor = rows.find(([k]) => k.endsWith(`/${leaderIndex}`) && k.startsWith('extractor/'))?.[1] as ExtractorStatus | undefined;
    return {
      size,
      deletes: latencies.length,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: Math.max(...latencies),
      passes: applier?.reconcile?.passes ?? 0,
      lastPassMs: applier?.reconcile?.lastPassMs ?? null,
      idsChecked: extractor?.reconcile.idsChecked ?? 0,
      leaderCpuSeconds,
      seconds,
    };
  } finally {
    await closeBenchHarness(h, [leaderIndex], [followerIndex]);
  }
}

export async function benchDeletes(): Promise<void> {
  const results: SizeResult[] = [];
  for (const size of SIZES) {
    const r = await runSize(size);
    results.push(r);
    console.log(JSON.stringify(r));
  }
  const md = `# Delete propagation\n\n${DELETES} deletes, one every 200 ms, on a replicated 3-shard index of ~1 KB documents.\n\n${table(
    [
      'documents',
      'deletes',
      'p50 ms',
      'p99 ms',
      'max ms',
      'passes (one per shard per trigger)',
      'last pass ms',
      'ids checked on leader',
      'leader CPU s during deletes',
      'phase s',
    ],
    results.map((r) => [r.size, r.deletes, r.p50, r.p99, r.max, r.passes, r.lastPassMs ?? '-', r.idsChecked, r.leaderCpuSeconds, r.seconds]),
  )}\n`;
  console.log(`\n${md}`);
  console.log(`results: ${writeResults('deletes', { deletes: DELETES, results }, md)}`);
}
