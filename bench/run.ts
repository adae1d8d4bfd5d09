/**
 * `npm run bench -- <scenario>`: benchmarks against the local stack (`npm run stack:up` first).
 * Each prints a table of medians and ratios measured in the same run, and writes result.json and summary.md
 * under bench-results/.
 */
import { benchBootstrap } from './bootstrap.js';
import { benchCatchup } from './catchup.js';
import { benchDeletes } from './deletes.js';
import { benchSustained } from './sustained.js';
import { benchKafkaClients } from './kafka-clients.js';
import { benchVisibility } from './visibility.js';

const SCENARIOS: Record<string, () => Promise<void>> = {
  visibility: benchVisibility,
  deletes: benchDeletes,
  bootstrap: benchBootstrap,
  sustained: benchSustained,
  catchup: benchCatchup,
  'kafka-clients': benchKafkaClients,
};

const name = process.argv[2];
const scenario = name ? SCENARIOS[name] : undefined;
if (!scenario) {
  console.error(`usage: npm run bench -- <scenario>\nscenarios: ${Object.keys(SCENARIOS).join(', ')}`);
  process.exit(2);
}
scenario().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench ${name}: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
  },
);
