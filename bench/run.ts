/**
 * `npm run bench -- <scenario>`: benchmarks against the local stack (`npm run stack:up` first).
 * Each prints a table of medians and ratios measured in the same run, and writes result.json and summary.md
 * under bench-results/. `npm run bench` alone runs every scenario in turn (a failing one is reported and the
 * others still run) and gathers their summaries into bench-results/suite-<time>/summary.md.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { benchBootstrap } from './bootstrap.js';
import { benchCatchup } from './catchup.js';
import { benchDeletes } from './deletes.js';
import { benchSustained } from './sustained.js';
import { benchKafkaClients } from './kafka-clients.js';
import { benchReconcile } from './reconcile.js';
import { benchVisibility } from './visibility.js';
import { writeResults, written } from './lib.js';

const ROOT = resolve(import.meta.dirname, '..');

const SCENARIOS: Record<string, () => Promise<void>> = {
  visibility: benchVisibility,
  deletes: benchDeletes,
  bootstrap: benchBootstrap,
  sustained: benchSustained,
  catchup: benchCatchup,
  reconcile: benchReconcile,
  'kafka-clients': benchKafkaClients,
};

/** The services run as users run them: the compiled build (KCCR_SERVICE_RUNTIME=tsx runs the sources instead). */
function build(): void {
  if (process.env.KCCR_SERVICE_RUNTIME === 'tsx') return;
  process.env.KCCR_SERVICE_RUNTIME = 'dist';
  const t0 = Date.now();
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  console.log(`built the services (dist/) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** Every scenario in turn; one summary of all. */
async function suite(): Promise<void> {
  const t0 = Date.now();
  const failed: string[] = [];
  for (const [name, run] of Object.entries(SCENARIOS)) {
    console.log(`\n===== ${name} =====`);
    try {
      await run();
    } catch (e) {
      failed.push(name);
      console.error(`bench ${name} failed: ${e instanceof Error ? e.stack : String(e)}`);
    }
  }
  const minutes = ((Date.now() - t0) / 60_000).toFixed(1);
  const md = [
    `# kccr benchmark suite`,
    '',
    `${new Date().toISOString()}, ${minutes} min, Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB.${failed.length ? ` Failed: ${failed.join(', ')} (see the log).` : ''}`,
    '',
    ...written.map((w) => `${w.markdown.replace(/^# /, '## ')}\n(${w.dir})\n`),
  ].join('\n');
  const dir = writeResults('suite', { minutes, failed, scenarios: written.map((w) => ({ scenario: w.scenario, dir: w.dir })) }, md);
  console.log(`\nsuite: ${minutes} min; summary ${join(dir, 'summary.md')}`);
  if (failed.length) throw new Error(`scenarios failed: ${failed.join(', ')}`);
}

const name = process.argv[2];
const scenario = name === undefined || name === 'all' ? suite : SCENARIOS[name];
if (!scenario) {
  console.error(`usage: npm run bench [-- <scenario>]\nscenarios: ${Object.keys(SCENARIOS).join(', ')} (none or "all": every one)`);
  process.exit(2);
}
build();
scenario().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench ${name ?? 'all'}: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
  },
);
