/**
 * Ledgers left by tests and benchmarks: a test that ends by killing its services and deleting its follower index
 * leaves the index's ledger (`.kccr-ledger-<index>`) behind, since no replication was stopped for the applier to drop
 * it. Hundreds of them make a development cluster slow to start. Dropped here once their follower index is gone.
 */
import { existsSync } from 'node:fs';
import { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { batchesOf } from '../../services/applier/main.js';
import type { LedgerMappings } from '../../services/applier/ledger.js';
import type { StackState } from '../../deploy/local/lib/state.js';
import { esConnection, loadStack } from './stack.js';

const HIDDEN_TOO = { expand_wildcards: 'open,closed,hidden' } as const;

/** Drops the ledgers whose follower index no longer exists on this cluster; returns their names. */
export async function dropOrphanLedgers(es: ElasticsearchAdapter): Promise<string[]> {
  const ledgers = await es.request<LedgerMappings>('GET', '/.kccr-ledger-*/_mapping', { query: HIDDEN_TOO, ignore: [404] });
  if (ledgers.status !== 200) return [];
  const indices = await es.request<{ index: string }[]>('GET', '/_cat/indices', { query: { ...HIDDEN_TOO, format: 'json', h: 'index' } });
  const present = new Set(indices.body.map((i) => i.index));
  const orphans = Object.entries(ledgers.body)
    .filter(([, m]) => m.mappings?._meta?.kccr === 'ledger' && typeof m.mappings._meta.follower === 'string' && !present.has(m.mappings._meta.follower))
    .map(([name]) => name);
  for (const batch of batchesOf(orphans, 2000)) await es.deleteIndices(batch);
  return orphans;
}

/** Both clusters of each stack the tests were given (either may be a follower to some test). */
function stacks(): StackState[] {
  const found: StackState[] = [];
  for (const [kind, file] of [['plain', process.env.KCCR_STACK_STATE], ['secure', process.env.KCCR_SECURE_STACK_STATE]] as const) {
    if (file && existsSync(file)) found.push(loadStack(kind));
  }
  return found;
}

/** Vitest global setup: nothing before the tests; after them, the orphan ledgers of every cluster are dropped. */
export default function setup(): () => Promise<void> {
  return async () => {
    for (const stack of stacks()) {
      for (const role of ['leader', 'follower'] as const) {
        const es = new ElasticsearchAdapter(esConnection(stack, role));
        try {
          const dropped = await dropOrphanLedgers(es);
          if (dropped.length > 0) console.log(`test: dropped ${dropped.length} ledgers of deleted follower indices on the ${stack.mode} ${role}`);
        } catch (e) {
          console.log(`test: could not drop the ledgers left on the ${stack.mode} ${role}: ${e instanceof Error ? e.message : String(e)}`);
        } finally {
          await es.close();
        }
      }
    }
  };
}
