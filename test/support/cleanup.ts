/**
 * What a test run leaves on a reused stack, removed at its end (vitest global setup of the stack projects):
 *
 * - every index and topic the run made: test names come from uniqueName(), which stamps them with the time they were
 *   made, so what carries a stamp from this run's start on is this run's (a run owns the stack while it runs);
 * - ledgers (`.kccr-ledger-<index>`) whose follower index is gone: a test or benchmark that ends by killing its
 *   services and deleting its follower index leaves the ledger behind, since no replication was stopped for the
 *   applier to drop it. Hundreds of them made a development cluster slow to start.
 */
import { existsSync } from 'node:fs';
import { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { KafkaAdapter } from '../../services/shared/adapters/kafka.js';
import { batchesOf } from '../../services/applier/main.js';
import type { LedgerMappings } from '../../services/applier/ledger.js';
import type { StackState } from '../../deploy/local/lib/state.js';
import { esConnection, kafkaConnection, leaderClusters, loadStack } from './stack.js';

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

/** The time a uniqueName() stamped into a name (`<prefix>-<ms base 36>-<6 hex>`), if it holds one. */
export function stampOf(name: string): number | undefined {
  const m = /-([0-9a-z]{8,9})-[0-9a-f]{6}(?![0-9a-f])/.exec(name);
  return m ? parseInt(m[1]!, 36) : undefined;
}

/** The names a run that started at `since` made (stamped from then until now). */
export function madeSince(names: readonly string[], since: number, now = Date.now()): string[] {
  return names.filter((n) => {
    const t = stampOf(n);
    return t !== undefined && t >= since && t <= now;
  });
}

/**
 * The write index of each data stream: it cannot be deleted, and the stream itself cannot be either where the
 * `_data_stream` API is missing (the integ-test distribution), so a test's data stream stays with one backing index.
 */
async function dataStreamWriteIndices(es: ElasticsearchAdapter): Promise<Set<string>> {
  const r = await es.request<{ data_streams?: { backing_indices?: string[] }[] }>('GET', '/_resolve/index/*', {
    query: { expand_wildcards: 'all' },
    ignore: [404],
  });
  return new Set((r.body.data_streams ?? []).map((d) => d.backing_indices?.at(-1)).filter((i): i is string => i !== undefined));
}

/** Deletes the indices of this cluster that the run made; returns how many. */
async function dropIndicesSince(es: ElasticsearchAdapter, since: number): Promise<number> {
  const r = await es.request<{ index: string }[]>('GET', '/_cat/indices', { query: { ...HIDDEN_TOO, format: 'json', h: 'index' } });
  const kept = await dataStreamWriteIndices(es);
  const mine = madeSince(
    r.body.map((i) => i.index).filter((i) => !kept.has(i)),
    since,
  );
  for (const batch of batchesOf(mine, 2000)) await es.deleteIndices(batch);
  return mine.length;
}

/** The stacks the tests were given (each of their clusters may have been a follower to some test). */
function stacks(): StackState[] {
  const found: StackState[] = [];
  for (const [kind, file] of [
    ['plain', process.env.KCCR_STACK_STATE],
    ['secure', process.env.KCCR_SECURE_STACK_STATE],
  ] as const) {
    if (file && existsSync(file)) found.push(loadStack(kind));
  }
  return found;
}

async function cleanStack(stack: StackState, since: number): Promise<string[]> {
  const said: string[] = [];
  for (const role of [...leaderClusters(stack), 'follower']) {
    const es = new ElasticsearchAdapter(esConnection(stack, role));
    try {
      const indices = await dropIndicesSince(es, since);
      const ledgers = await dropOrphanLedgers(es);
      if (indices + ledgers.length > 0) said.push(`${indices} indices and ${ledgers.length} other ledgers on the ${role}`);
    } finally {
      await es.close();
    }
  }
  const kafka = new KafkaAdapter(kafkaConnection(stack, 'kccr-test-cleanup'));
  try {
    const topics = madeSince(await kafka.listTopics(), since);
    if (topics.length > 0) await kafka.deleteTopics(topics);
    if (topics.length > 0) said.push(`${topics.length} topics`);
  } finally {
    await kafka.close();
  }
  return said;
}

/**
 * Vitest global setup: notes when the run starts; after the tests, removes what the run made from each stack, and
 * the ledgers of deleted follower indices. KCCR_KEEP_TEST_DATA=1 keeps everything (to look at it after a failure).
 */
export default function setup(): () => Promise<void> {
  // A second of margin: names are stamped by the test processes, whose clocks are this machine's.
  const since = Date.now() - 1000;
  return async () => {
    if (process.env.KCCR_KEEP_TEST_DATA === '1') return;
    for (const stack of stacks()) {
      try {
        const said = await cleanStack(stack, since);
        if (said.length > 0) console.log(`test: removed what the run made on the ${stack.mode} stack: ${said.join(', ')}`);
      } catch (e) {
        console.log(`test: could not remove what the run left on the ${stack.mode} stack: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  };
}
