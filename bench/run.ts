/**
 * `npm run bench -- <scenario>`: benchmarks against the local stack (`npm run stack:up` first).
 * Each prints a table of medians and ratios measured in the same run, and writes result.json and summary.md
 * under bench-results/. `npm run bench` alone runs every scenario in turn (a failing one is reported and the
 * others still run) and gathers their summaries into bench-results/suite-<time>/summary.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { benchBootstrap } from './bootstrap.js';
import { benchCatchup } from './catchup.js';
import { benchDeletes } from './deletes.js';
import { benchSustained } from './sustained.js';
import { benchKafkaClients } from './kafka-clients.js';
import { benchLarge } from './large.js';
import { benchLedger } from './ledger.js';
import { benchReconcile } from './reconcile.js';
import { benchVisibility } from './visibility.js';
import { benchMetrics } from './metrics.js';
import { benchFanIn } from './fan-in.js';
import { benchFanInMerged } from './fan-in-merged.js';
import { envFlag, writeResults } from './lib.js';

const ROOT = resolve(import.meta.dirname, '..');

const SCENARIOS: Record<string, () => Promise<void>> = {
  visibility: benchVisibility,
  deletes: benchDeletes,
  bootstrap: benchBootstrap,
  sustained: benchSustained,
  catchup: benchCatchup,
  reconcile: benchReconcile,
  'kafka-clients': benchKafkaClients,
  large: benchLarge,
  ledger: benchLedger,
  metrics: benchMetrics,
  'fan-in': benchFanIn,
  'fan-in-merged': benchFanInMerged,
};

/** The services run as users run them: the compiled build (KCCR_SERVICE_RUNTIME=tsx runs the sources instead). */
function build(): void {
  if (process.env.KCCR_SERVICE_RUNTIME === 'tsx') return;
  process.env.KCCR_SERVICE_RUNTIME = 'dist';
  const t0 = Date.now();
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  console.log(`built the services (dist/) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/**
 * The suite: every scenario in turn, each in its own process (its settings are read once at start), the
 * sustained load twice (fixed rate, then the search for the highest bounded rate). One summary of all.
 */
const SUITE: { name: string; scenario: string; env?: Record<string, string> }[] = [
  { name: 'sustained', scenario: 'sustained' },
  { name: 'sustained, highest bounded rate', scenario: 'sustained', env: { KCCR_BENCH_FIND_MAX: '1' } },
  { name: 'catch-up', scenario: 'catchup' },
  { name: 'bootstrap', scenario: 'bootstrap' },
  { name: 'reconciliation', scenario: 'reconcile' },
  { name: 'delete propagation', scenario: 'deletes' },
  { name: 'visibility', scenario: 'visibility' },
  { name: 'Kafka clients', scenario: 'kafka-clients' },
  { name: 'large documents', scenario: 'large' },
  { name: 'delete ledger', scenario: 'ledger' },
  { name: 'metrics cost', scenario: 'metrics' },
  { name: 'fan-in', scenario: 'fan-in' },
];

async function suite(): Promise<void> {
  const t0 = Date.now();
  const results = join(ROOT, 'bench-results');
  mkdirSync(results, { recursive: true });
  const before = new Set(readdirSync(results));
  const failed: string[] = [];
  for (const step of SUITE) {
    console.log(`\n===== ${step.name} =====`);
    const code = await new Promise<number | null>((res) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), step.scenario], {
        stdio: 'inherit',
        env: { ...process.env, ...step.env },
      });
      child.on('exit', (c) => res(c));
    });
    if (code !== 0) failed.push(step.name);
  }
  const dirs = readdirSync(results)
    .filter((d) => !before.has(d))
    .map((d) => ({ d, at: statSync(join(results, d)).mtimeMs }))
    .sort((a, b) => a.at - b.at)
    .map(({ d }) => join(results, d));
  const minutes = ((Date.now() - t0) / 60_000).toFixed(1);
  const md = [
    `# kccr benchmark suite`,
    '',
    `${new Date().toISOString()}, ${minutes} min, Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB.${failed.length ? ` Failed: ${failed.join(', ')} (see the log).` : ''}`,
    '',
    ...dirs.filter((d) => existsSync(join(d, 'summary.md'))).map((d) => `${readFileSync(join(d, 'summary.md'), 'utf8').replace(/^# /, '## ')}\n(${d})\n`),
  ].join('\n');
  const dir = writeResults('suite', { minutes, failed, scenarios: dirs }, md);
  console.log(`\nsuite: ${minutes} min; summary ${join(dir, 'summary.md')}`);
  if (failed.length) throw new Error(`scenarios failed: ${failed.join(', ')}`);
}

const name = process.argv[2];
const scenario = name === undefined || name === 'all' ? suite : SCENARIOS[name];
// The suite builds once; each scenario process it starts then runs the build as it is.
const built = envFlag('KCCR_BENCH_BUILT', false);
if (!scenario) {
  console.error(`usage: npm run bench [-- <scenario>]\nscenarios: ${Object.keys(SCENARIOS).join(', ')} (none or "all": every one)`);
  process.exit(2);
}
if (!built) build();
process.env.KCCR_BENCH_BUILT = '1';
scenario().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench ${name ?? 'all'}: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
  },
);
