/**
 * `npm run bench -- visibility`: what each way of making the leader's operations visible costs the leader and
 * gives in lag. Modes, interleaved in each round so that the machine's noise hits all alike:
 *   none       no replication (the leader's baseline)
 *   refresh     the extractor forces a refresh of the leader index when a shard advanced (polling every 500 ms)
 *   refresh-1s  the same, polling no faster than every 1000 ms (the default refresh_interval)
 *   scheduled   the extractor waits for the leader's own scheduled refreshes
 * (The Fleet search API is not in the distribution the local stack runs, so it is not measured here.)
 *
 * At a fixed write rate it reports the leader's CPU seconds, its refresh count, its bulk latency, and the
 * end-to-end lag from the leader's acknowledgement to the document on the follower (realtime GET).
 *   KCCR_BENCH_RATE (docs/s, default 1500), KCCR_BENCH_SECONDS (default 30), KCCR_BENCH_ROUNDS (default 3)
 */
import { ElasticsearchAdapter } from '../services/shared/adapters/elasticsearch.js';
import { startHarness, startReplication } from '../test/support/replication.js';
import type { Harness } from '../test/support/replication.js';
import { esConnection, loadStack, uniqueName } from '../test/support/stack.js';
import { dropOrphanLedgers } from '../test/support/cleanup.js';
import { cpuSeconds, documentOfAbout1KB, envNumber, fixedRateLoad, foundOnFollower, median, percentile, pidOfStackPart, table, writeResults } from './lib.js';

type Mode = 'none' | 'refresh' | 'refresh-1s' | 'scheduled';
const MODES: Mode[] = ['none', 'refresh', 'refresh-1s', 'scheduled'];
/** How each mode runs the extractor. refresh-1s: forced refreshes, but polls no faster than the default refresh_interval. */
const MODE_ENV: Record<Exclude<Mode, 'none'>, Record<string, string>> = {
  refresh: { KCCR_EXTRACTOR_VISIBILITY: 'refresh' },
  'refresh-1s': { KCCR_EXTRACTOR_VISIBILITY: 'refresh', KCCR_EXTRACTOR_MIN_POLL_MS: '1000' },
  scheduled: { KCCR_EXTRACTOR_VISIBILITY: 'scheduled' },
};
const RATE = envNumber('KCCR_BENCH_RATE', 1500);
const SECONDS = envNumber('KCCR_BENCH_SECONDS', 30);
const ROUNDS = envNumber('KCCR_BENCH_ROUNDS', 3);

interface RunResult {
  mode: Mode;
  round: number;
  leaderRate: number;
  leaderCpuSeconds: number;
  leaderRefreshes: number;
  forcedRefreshes: number;
  extractorCpuSeconds: number;
  bulkP50: number;
  bulkP99: number;
  lagP50: number | null;
  lagP99: number | null;
  lagMax: number | null;
  probes: number;
}

async function refreshCount(es: ElasticsearchAdapter, index: string): Promise<number> {
  const stats = await es.shardStats(index);
  return stats.reduce((n, s) => n + Object.values(s.refreshTotals).reduce((a, b) => a + b, 0), 0);
}

/** Probes: a document every 200 ms on the leader, looked for on the follower every 50 ms (realtime GET). */
function startProbes(leader: ElasticsearchAdapter, follower: ElasticsearchAdapter, leaderIndex: string, followerIndex: string) {
  const acked = new Map<string, number>();
  const lags: number[] = [];
  let running = true;
  const writer = (async () => {
    for (let k = 0; running; k++) {
      const id = `probe-${k}`;
      await leader.request('PUT', `/${leaderIndex}/_doc/${id}`, { body: { probe: k } });
      acked.set(id, Date.now());
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const poller = (async () => {
    while (running || acked.size > 0) {
      if (acked.size > 0 && (await follower.indexExists(followerIndex))) {
        // Right after the follower index is created its shards may not be allocated yet: try again shortly.
        const docs = await foundOnFollower(follower, followerIndex, acked.keys());
        const now = Date.now();
        for (const d of docs) {
          if (d.found && acked.has(d.id)) {
            lags.push(now - acked.get(d.id)!);
            acked.delete(d.id);
          }
        }
      }
      if (!running && acked.size > 0 && lags.length > 0 && Date.now() - Math.min(...acked.values()) > 60_000) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await writer;
      await poller;
      return lags;
    },
  };
}

async function runOnce(mode: Mode, round: number): Promise<RunResult> {
  const stack = loadStack('plain');
  const leader = new ElasticsearchAdapter(esConnection(stack, 'leader'));
  const follower = new ElasticsearchAdapter(esConnection(stack, 'follower'));
  const leaderIndex = uniqueName(`bench-vis-${mode}`);
  const followerIndex = uniqueName(`bench-vis-f-${mode}`);
  await leader.createIndex(leaderIndex, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
  let h: Harness | undefined;
  if (mode !== 'none') {
    // The services' defaults, not the tests' fast polling: this measures what users get.
    const env = {
      ...MODE_ENV[mode],
      KCCR_LOG_LEVEL: 'warn',
      KCCR_STATUS_INTERVAL_MS: '2000',
      KCCR_EXTRACTOR_MIN_POLL_MS: MODE_ENV[mode].KCCR_EXTRACTOR_MIN_POLL_MS ?? '500',
      KCCR_EXTRACTOR_MAX_POLL_MS: '5000',
      KCCR_EXTRACTOR_IDLE_CHECKPOINT_MS: '5000',
    };
    h = await startHarness(stack, `bench-visibility-${mode}`, { env });
    await startReplication(h, leaderIndex, followerIndex);
  }
  const random = Math.random;
  const leaderPid = pidOfStackPart('elasticsearch-leader');
  const probes = mode === 'none' ? undefined : startProbes(leader, follower, leaderIndex, followerIndex);
  await new Promise((r) => setTimeout(r, 3000));
  const refresh0 = await refreshCount(leader, leaderIndex);
  const cpu0 = cpuSeconds(leaderPid);
  const ex0 = h?.extractor.pid ? cpuSeconds(h.extractor.pid) : 0;
  const load = await fixedRateLoad(
    leader,
    RATE,
    SECONDS,
    100,
    (i) => `{"index":{"_index":"${leaderIndex}","_id":"d${i}"}}\n${JSON.stringify(documentOfAbout1KB(i, random))}\n`,
  );
  const cpu1 = cpuSeconds(leaderPid);
  const ex1 = h?.extractor.pid ? cpuSeconds(h.extractor.pid) : 0;
  const refresh1 = await refreshCount(leader, leaderIndex);
  const lags = probes ? await probes.stop() : [];
  const status = h
    ? (h.status.entries().find(([k]) => k.startsWith('extractor/') && k.endsWith(`/${leaderIndex}`))?.[1] as { forcedRefreshes?: number } | undefined)
    : undefined;
  await h?.close();
  await leader.deleteIndex(leaderIndex);
  await follower.deleteIndex(followerIndex);
  await dropOrphanLedgers(follower).catch(() => undefined);
  await Promise.all([leader.close(), follower.close()]);
  return {
    mode,
    round,
    leaderRate: load.acked / load.seconds,
    leaderCpuSeconds: cpu1 - cpu0,
    leaderRefreshes: refresh1 - refresh0,
    forcedRefreshes: status?.forcedRefreshes ?? 0,
    extractorCpuSeconds: ex1 - ex0,
    bulkP50: percentile(load.bulkLatencies, 50),
    bulkP99: percentile(load.bulkLatencies, 99),
    lagP50: lags.length ? percentile(lags, 50) : null,
    lagP99: lags.length ? percentile(lags, 99) : null,
    lagMax: lags.length ? Math.max(...lags) : null,
    probes: lags.length,
  };
}

export async function benchVisibility(): Promise<void> {
  const runs: RunResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mode of MODES) {
      const r = await runOnce(mode, round);
      runs.push(r);
      console.log(`round ${round} ${mode}: ${JSON.stringify(r)}`);
    }
  }
  const by = (m: Mode) => runs.filter((r) => r.mode === m);
  const med = (m: Mode, f: (r: RunResult) => number | null) =>
    median(
      by(m)
        .map(f)
        .filter((v): v is number => v !== null),
    );
  const baseCpu = med('none', (r) => r.leaderCpuSeconds);
  const baseRate = med('none', (r) => r.leaderRate);
  const rows = MODES.map((m) => [
    m,
    med(m, (r) => r.leaderRate),
    med(m, (r) => r.leaderRate) / baseRate,
    med(m, (r) => r.leaderCpuSeconds),
    med(m, (r) => r.leaderCpuSeconds) / baseCpu,
    med(m, (r) => r.leaderRefreshes),
    med(m, (r) => r.forcedRefreshes),
    med(m, (r) => r.extractorCpuSeconds),
    med(m, (r) => r.bulkP99),
    m === 'none' ? '-' : med(m, (r) => r.lagP50),
    m === 'none' ? '-' : med(m, (r) => r.lagP99),
    m === 'none' ? '-' : med(m, (r) => r.lagMax),
  ]);
  const headers = [
    'mode',
    'leader docs/s',
    'rate ratio',
    'leader CPU s',
    'CPU ratio',
    'leader refreshes',
    'forced by kccr',
    'extractor CPU s',
    'bulk p99 ms',
    'lag p50 ms',
    'lag p99 ms',
    'lag max ms',
  ];
  const md = `# Visibility strategies on the leader\n\n${RATE} docs/s of ~1 KB for ${SECONDS} s on a 3-shard leader, ${ROUNDS} rounds, medians; ratios against no replication in the same rounds.\n\n${table(headers, rows)}\n`;
  console.log(`\n${md}`);
  console.log(`results: ${writeResults('visibility', { rate: RATE, seconds: SECONDS, rounds: ROUNDS, runs }, md)}`);
}
