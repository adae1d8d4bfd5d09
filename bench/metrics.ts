/**
 * `npm run bench -- metrics`: what /metrics costs. The same fixed-rate load (KCCR_BENCH_RATE, 1000 index operations/s
 * in bulks of 100, KCCR_BENCH_SECONDS (30), a 3-shard leader index) replicated by a real extractor and applier, run
 * with their /metrics listeners off (KCCR_METRICS_PORT=off) and on while this process scrapes both every
 * KCCR_BENCH_SCRAPE_MS (1000: fifteen times Prometheus' default interval, a harsh case), KCCR_BENCH_RUNS (3) times each,
 * interleaved and alternating the order. Per run: the extractor's and the applier's CPU seconds per 1,000 operations
 * replicated (from the start of the load to the follower holding every document); then medians, and the ratio on/off
 * of each round (the machine is shared: ratios within one round are the fairer figure). Also the control service's
 * cost: the time to render its /metrics for KCCR_BENCH_REPLICATIONS (100) replications of 3 shards, in process.
 */
import { performance } from 'node:perf_hooks';
import type { ApplierStatus, ExtractorStatus, ReplicationSpec } from '../services/shared/replication.js';
import { render } from '../services/shared/metrics/exposition.js';
import { replicationMetrics } from '../services/control/status/metrics.js';
import { replicationStatus } from '../services/control/status/status.js';
import { startHarness, startReplication } from '../test/support/replication.js';
import { freePort, loadStack, uniqueName } from '../test/support/stack.js';
import { closeBenchHarness, cpuSeconds, defaultServiceEnv, envNumber, fixedRateLoad, median, table, waitForFollowerCount, writeResults } from './lib.js';

const RATE = envNumber('KCCR_BENCH_RATE', 1000);
const SECONDS = envNumber('KCCR_BENCH_SECONDS', 30);
const RUNS = envNumber('KCCR_BENCH_RUNS', 3);
const SCRAPE_MS = envNumber('KCCR_BENCH_SCRAPE_MS', 1000);
const REPLICATIONS = envNumber('KCCR_BENCH_REPLICATIONS', 100);

interface Run {
  readonly mode: 'off' | 'on';
  readonly operations: number;
  readonly extractorPer1000: number;
  readonly applierPer1000: number;
  readonly scrapes: number;
}

async function oneRun(mode: 'off' | 'on'): Promise<Run> {
  const stack = loadStack('plain');
  const ports = mode === 'on' ? { extractor: await freePort(), applier: await freePort() } : undefined;
  const h = await startHarness(stack, `bench-metrics-${mode}`, {
    env: defaultServiceEnv(),
    extractorEnv: { KCCR_METRICS_PORT: ports ? String(ports.extractor) : 'off' },
    applierEnv: { KCCR_METRICS_PORT: ports ? String(ports.applier) : 'off' },
  });
  const leaderIndex = uniqueName('bench-met-l');
  const followerIndex = uniqueName('bench-met-f');
  try {
    await h.leader.createIndex(leaderIndex, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
    await startReplication(h, leaderIndex, followerIndex);
    // Let both services settle (topic, follower index, first checkpoints) before measuring.
    await new Promise((r) => setTimeout(r, 5000));
    const cpu = () => ({ extractor: cpuSeconds(h.extractor.pid!), applier: cpuSeconds(h.applier.pid!) });
    let scrapes = 0;
    let scraping = true;
    const scraper = (async () => {
      while (ports && scraping) {
        const texts = await Promise.all([ports.extractor, ports.applier].map((p) => fetch(`http://127.0.0.1:${p}/metrics`).then((r) => r.text())));
        if (texts.every((t) => t.includes('process_cpu_seconds_total'))) scrapes++;
        await new Promise((r) => setTimeout(r, SCRAPE_MS));
      }
    })();
    const before = cpu();
    const payload = JSON.stringify({ n: 1, text: 'x'.repeat(200) });
    const load = await fixedRateLoad(h.leader, RATE, SECONDS, 100, (i) => `{"index":{"_index":"${leaderIndex}","_id":"d${i}"}}\n${payload}\n`);
    await waitForFollowerCount(h, followerIndex, load.acked, 120_000);
    const after = cpu();
    scraping = false;
    await scraper;
    const per1000 = (s: number) => (s / load.acked) * 1000;
    return {
      mode,
      operations: load.acked,
      extractorPer1000: per1000(after.extractor - before.extractor),
      applierPer1000: per1000(after.applier - before.applier),
      scrapes,
    };
  } finally {
    await closeBenchHarness(h, [leaderIndex], [followerIndex]);
  }
}

/** The control service's render of /metrics for many replications (pure: views from synthetic rows). */
function controlRenderMs(): { replications: number; medianMs: number; bytes: number } {
  const now = Date.now();
  const rows = Array.from({ length: REPLICATIONS }, (_, i) => {
    const spec: ReplicationSpec = {
      followerCluster: 'fc',
      followerIndex: `index-${i}`,
      leaderCluster: 'lc',
      leaderIndex: `index-${i}`,
      state: 'active',
      bootstrap: 'none',
      requestedBy: 'bench',
      createdAt: now,
      updatedAt: now,
    };
    const shards = [0, 1, 2];
    const extractor: ExtractorStatus = {
      kind: 'extractor',
      leaderCluster: 'lc',
      leaderIndex: spec.leaderIndex,
      topic: 't',
      state: 'running',
      shards: shards.map((shard) => ({ shard, globalCheckpoint: 1000, maxSeqNo: 1000, cursor: 1000, docs: 10, observedAt: now, published: 1000 })),
      reconcile: { requests: 0, idsChecked: 0, deletesPublished: 0, lastMs: null },
      updatedAt: now,
    };
    const applier: ApplierStatus = {
      kind: 'applier',
      followerCluster: 'fc',
      followerIndex: spec.followerIndex,
      topic: 't',
      state: 'syncing',
      shards: shards.map((shard) => ({
        shard,
        appliedCheckpoint: 990,
        appliedObservedAt: now - 500,
        offset: '990',
        highWatermark: '1000',
        applied: 990,
        skipped: 0,
        deadLettered: 0,
        lastAppliedAt: now,
      })),
      updatedAt: now,
    };
    return { spec, extractor, applier };
  });
  const times: number[] = [];
  let bytes = 0;
  for (let k = 0; k < 30; k++) {
    const t0 = performance.now();
    const text = render(
      replicationMetrics(
        rows.map((r) => ({ spec: r.spec, view: replicationStatus(r.spec, { extractor: r.extractor, applier: r.applier }, now) })),
        now,
      ),
    );
    times.push(performance.now() - t0);
    bytes = text.length;
  }
  return { replications: REPLICATIONS, medianMs: median(times), bytes };
}

export async function benchMetrics(): Promise<void> {
  const runs: Run[] = [];
  for (let round = 0; round < RUNS; round++) {
    const order: ('off' | 'on')[] = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
    for (const mode of order) {
      const r = await oneRun(mode);
      runs.push(r);
      console.log(
        `round ${round + 1} ${mode}: ${r.operations} operations, extractor ${r.extractorPer1000.toFixed(4)} and applier ${r.applierPer1000.toFixed(4)} CPU s per 1000, ${r.scrapes} scrapes`,
      );
    }
  }
  const of = (mode: 'off' | 'on', f: (r: Run) => number) => median(runs.filter((r) => r.mode === mode).map(f));
  const ratios = (f: (r: Run) => number) =>
    median(Array.from({ length: RUNS }, (_, i) => f(runs.filter((r) => r.mode === 'on')[i]!) / f(runs.filter((r) => r.mode === 'off')[i]!)));
  const control = controlRenderMs();
  const markdown = [
    `# /metrics cost (${RATE} operations/s for ${SECONDS} s, ${RUNS} rounds, scrapes every ${SCRAPE_MS} ms when on)`,
    '',
    table(
      ['service', 'CPU s per 1000 operations, metrics off (median)', 'on, scraped (median)', 'ratio on/off (median of rounds)'],
      [
        [
          'extractor',
          of('off', (r) => r.extractorPer1000).toFixed(4),
          of('on', (r) => r.extractorPer1000).toFixed(4),
          ratios((r) => r.extractorPer1000).toFixed(2),
        ],
        ['applier', of('off', (r) => r.applierPer1000).toFixed(4), of('on', (r) => r.applierPer1000).toFixed(4), ratios((r) => r.applierPer1000).toFixed(2)],
      ],
    ),
    '',
    `Control service: /metrics for ${control.replications} replications of 3 shards rendered in ${control.medianMs.toFixed(1)} ms (median of 30), ${Math.round(control.bytes / 1024)} KiB.`,
    '',
  ].join('\n');
  console.log(markdown);
  const dir = writeResults('metrics', { runs, control }, markdown);
  console.log(`results: ${dir}`);
}
