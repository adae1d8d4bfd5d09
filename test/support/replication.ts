/**
 * Shared set-up for replication tests: unique kccr cluster names (so that these services only see this test's
 * replications), the replication store, and waits on the follower's content and on status rows.
 */
import { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { KafkaAdapter } from '../../services/shared/adapters/kafka.js';
import type { ConsumedMessage } from '../../services/shared/adapters/kafka.js';
import { deadLetterTopic } from '../../services/shared/topics.js';
import { ReplicationStore } from '../../services/control/replication/store.js';
import type { ApplierStatus, ExtractorStatus } from '../../services/shared/replication.js';
import { applierStatusKey, extractorStatusKey } from '../../services/shared/replication.js';
import { CompactedTable, CONTROL_TOPICS } from '../../services/shared/table.js';
import type { StackState } from '../../deploy/local/lib/state.js';
import { startService } from './services.js';
import type { ServiceOptions, ServiceProcess } from './services.js';
import { esConnection, kafkaConnection, uniqueName, waitFor } from './stack.js';
import { clusterAcls } from '../../deploy/local/lib/kafka-acls.js';

export interface Harness {
  readonly stack: StackState;
  readonly names: { leaderCluster: string; followerCluster: string };
  readonly leader: ElasticsearchAdapter;
  readonly follower: ElasticsearchAdapter;
  readonly kafka: KafkaAdapter;
  readonly store: ReplicationStore;
  readonly status: CompactedTable<ExtractorStatus | ApplierStatus>;
  readonly extractor: ServiceProcess;
  readonly applier: ServiceProcess;
  close(): Promise<void>;
}

export async function startHarness(stack: StackState, label: string, opts: Partial<ServiceOptions> = {}): Promise<Harness> {
  const names = { leaderCluster: uniqueName('lc'), followerCluster: uniqueName('fc') };
  // The tests read and write topics directly: as kccr-admin in secure mode.
  const kafka = new KafkaAdapter(kafkaConnection(stack, 'kccr-test'));
  // Secure mode: this test's cluster names get their change topics, dead letters and groups, as an operator grants
  // them for each registered cluster (deploy/local/lib/kafka-acls.ts).
  const grants = stack.kafka.sasl ? clusterAcls(names) : [];
  await kafka.createAcls(grants);
  const store = new ReplicationStore(kafka);
  const status = new CompactedTable<ExtractorStatus | ApplierStatus>(kafka, CONTROL_TOPICS.status);
  await Promise.all([store.open(), status.open()]);
  const options: ServiceOptions = { ...names, ...opts };
  const extractor = startService(stack, 'extractor', options, `${label}-${names.leaderCluster}`);
  const applier = startService(stack, 'applier', options, `${label}-${names.followerCluster}`);
  const leader = new ElasticsearchAdapter(esConnection(stack, 'leader'));
  const follower = new ElasticsearchAdapter(esConnection(stack, 'follower'));
  return {
    stack,
    names,
    leader,
    follower,
    kafka,
    store,
    status,
    extractor,
    applier,
    async close() {
      await Promise.all([extractor.stop(), applier.stop()]);
      for (const spec of store.list()) {
        if (spec.followerCluster === names.followerCluster && spec.state !== 'stopped')
          await store.setState(spec.followerCluster, spec.followerIndex, 'stopped', 'test cleanup');
      }
      await Promise.all([store.close(), status.close()]);
      // Nothing uses this test's cluster names any more: its grants go, so that a long-lived stack does not gather them.
      await kafka.deleteAcls(grants);
      await kafka.close();
      await Promise.all([leader.close(), follower.close()]);
    },
  };
}

export function startReplication(h: Harness, leaderIndex: string, followerIndex: string) {
  return h.store.start({ followerCluster: h.names.followerCluster, followerIndex, leaderCluster: h.names.leaderCluster, leaderIndex, requestedBy: 'test' });
}

export function applierStatus(h: Harness, followerIndex: string): ApplierStatus | undefined {
  return h.status.get(applierStatusKey(h.names.followerCluster, followerIndex)) as ApplierStatus | undefined;
}

export function extractorStatus(h: Harness, leaderIndex: string): ExtractorStatus | undefined {
  return h.status.get(extractorStatusKey(h.names.leaderCluster, leaderIndex)) as ExtractorStatus | undefined;
}

/** The follower's documents as id -> source (after a refresh of the follower). */
export async function documents(es: ElasticsearchAdapter, index: string): Promise<Record<string, unknown>> {
  if (!(await es.indexExists(index))) return {};
  await es.refresh(index);
  const res = await es.search<{ hits: { hits: { _id: string; _source: unknown }[] } }>(index, { size: 10_000, query: { match_all: {} } });
  return Object.fromEntries(res.hits.hits.map((h) => [h._id, h._source]));
}

/** Waits until the follower holds exactly `expected`. */
export async function waitForDocuments(es: ElasticsearchAdapter, index: string, expected: Record<string, unknown>, timeoutMs = 60_000): Promise<void> {
  const want = JSON.stringify(Object.entries(expected).sort());
  await waitFor(
    `${index} to hold ${Object.keys(expected).length} documents`,
    async () => {
      const docs = await documents(es, index);
      return JSON.stringify(Object.entries(docs).sort()) === want || (false as const);
    },
    timeoutMs,
    500,
  );
}

export function bulkLines(index: string, docs: readonly { id: string; routing?: string; source?: unknown; delete?: boolean }[]): string {
  return docs
    .map((d) => {
      const meta = { _index: index, _id: d.id, ...(d.routing ? { routing: d.routing } : {}) };
      return d.delete ? `${JSON.stringify({ delete: meta })}\n` : `${JSON.stringify({ index: meta })}\n${JSON.stringify(d.source)}\n`;
    })
    .join('');
}

/**
 * Makes a 3-shard leader index of `count` numbered documents (`d0`, `d1`, ...; a quarter of them with custom routing),
 * written 1000 a bulk and refreshed.
 */
export async function leaderWithDocuments(es: ElasticsearchAdapter, index: string, count: number): Promise<void> {
  await es.createIndex(index, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
  for (let i = 0; i < count; i += 1000) {
    const docs = Array.from({ length: Math.min(1000, count - i) }, (_, k) => ({
      id: `d${i + k}`,
      ...((i + k) % 4 === 0 ? { routing: `r${(i + k) % 9}` } : {}),
      source: { n: i + k, text: `document ${i + k}` },
    }));
    await es.bulk(bulkLines(index, docs));
  }
  await es.refresh(index);
}

/** The first `count` records of the harness's follower cluster's dead-letter topic, read with a group of their own. */
export async function readDeadLetters(h: Harness, count: number): Promise<ConsumedMessage[]> {
  const consumer = h.kafka.consumer(uniqueName('dlq-reader'));
  const seen: ConsumedMessage[] = [];
  await consumer.subscribe([deadLetterTopic(h.names.followerCluster)], true);
  await consumer.run(async (batch, control) => {
    seen.push(...batch.messages);
    control.resolve(batch.messages.at(-1)!.offset);
  });
  try {
    return await waitFor(`${count} dead letters`, async () => (seen.length >= count ? seen : undefined));
  } finally {
    await consumer.disconnect();
  }
}
