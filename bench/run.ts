/**
 * `npm run bench -- <scenario>`: benchmarks against the local stack (`npm run stack:up` first).
 * Each prints a table of medians and ratios measured in the same run, and writes result.json and summary.md
 * under bench-results/.
 */
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { benchBootstrap } from './bootstrap.js';
import { benchCatchup } from './catchup.js';
import { benchDeletes } from './deletes.js';
import { benchSustained } from './sustained.js';
import { benchKafkaClients } from './kafka-clients.js';
import { benchVisibility } from './visibility.js';

const ROOT = resolve(import.meta.dirname, '..');

const SCENARIOS: Record<string, () => Promise<void>> = {
  visibility: benchVisibility,
  deletes: benchDeletes,
  bootstrap: benchBootstrap,
  sustained: benchSustained,
  catchup: benchCatchup,
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

const name = process.argv[2];
const scenario = name ? SCENARIOS[name] : undefined;
if (!scenario) {
  console.error(`usage: npm run bench -- <scenario>\nscenarios: ${Object.keys(SCENARIOS).join(', ')}`);
  process.exit(2);
}
build();
scenario().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench ${name}: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
  },
);
