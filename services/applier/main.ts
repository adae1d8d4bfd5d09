/**
 * The applier service: one consumer group per follower cluster. Follows the replication specs, consumes the topics
 * of the active ones, and applies each partition in order through an IndexApplier.
 */
import { ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import { KafkaAdapter } from '../shared/adapters/kafka.js';
import type { KafkaConsumer } from '../shared/adapters/kafka.js';
import { SchemaRegistryAdapter } from '../shared/adapters/registry.js';
import type { IndexMetadata } from '../shared/envelope.js';
import { errorMessage, isRetriable } from '../shared/errors.js';
import { abortableSleep } from '../shared/retry.js';
import { createLogger } from '../shared/logger.js';
import type { ApplierStatus, ReplicationSpec } from '../shared/replication.js';
import { applierStatusKey, RECONCILE_TOPIC } from '../shared/replication.js';
import { runService } from '../shared/service.js';
import { CompactedTable, CONTROL_TOPICS } from '../shared/table.js';
import { changeTopic, deadLetterTopic } from '../shared/topics.js';
import { readApplierConfig } from './config.js';
import type { ApplierConfig } from './config.js';
import { IndexApplier } from './index-applier.js';
import type { ApplierDeps } from './index-applier.js';
import { Reconciler } from './reconciler.js';

interface Followed {
  spec: ReplicationSpec;
  readonly applier: IndexApplier;
  readonly reconciler: Reconciler;
}

export class ApplierService {
  private readonly logger;
  private readonly kafka: KafkaAdapter;
  private readonly deps: ApplierDeps;
  private readonly replications: CompactedTable<ReplicationSpec>;
  private readonly status: CompactedTable<ApplierStatus>;
  private readonly followed = new Map<string, Followed>(); // by topic
  private consumer?: KafkaConsumer;
  private subscribed = '';
  private syncing: Promise<void> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;

  constructor(readonly config: ApplierConfig) {
    this.logger = createLogger('applier').child({ followerCluster: config.followerCluster });
    this.kafka = new KafkaAdapter({ ...config.kafka, clientId: `kccr-applier-${config.followerCluster}` }, this.logger);
    this.deps = {
      config,
      es: new ElasticsearchAdapter(config.follower),
      registry: new SchemaRegistryAdapter({ url: config.registryUrl }),
      producer: this.kafka.producer(),
      metadata: new CompactedTable<IndexMetadata>(this.kafka, CONTROL_TOPICS.metadata, this.logger),
      logger: this.logger,
    };
    this.replications = new CompactedTable<ReplicationSpec>(this.kafka, CONTROL_TOPICS.replications, this.logger);
    this.status = new CompactedTable<ApplierStatus>(this.kafka, CONTROL_TOPICS.status, this.logger);
  }

  async start(): Promise<void> {
    await Promise.all([this.replications.open(), this.status.open(), this.deps.metadata.open()]);
    await this.kafka.ensureTopic(deadLetterTopic(this.config.followerCluster), 1, { 'retention.ms': String(30 * 24 * 3600 * 1000), 'max.message.bytes': String(this.config.maxMessageBytes) });
    await this.kafka.ensureTopic(RECONCILE_TOPIC, 1, { 'retention.ms': String(24 * 3600 * 1000) });
    this.replications.on('change', () => this.scheduleSync());
    this.scheduleSync();
    await this.syncing;
    this.timers.push(setInterval(() => void this.publishStatus(), this.config.statusIntervalMs));
    this.timers.push(setInterval(() => this.periodicReconcile(), this.config.reconcileIntervalMs));
    this.logger.info({ follower: this.config.follower.url }, 'applier started');
  }

  private scheduleSync(): void {
    this.syncing = this.syncing.then(() => this.sync()).catch((e: unknown) => this.logger.error({ err: errorMessage(e) }, 'could not follow the replication changes'));
  }

  /** Brings the followed set and the consumer's subscription in line with the specs. */
  private async sync(): Promise<void> {
    if (this.stopping) return;
    const wanted = new Map<string, ReplicationSpec>();
    for (const [, spec] of this.replications.entries()) {
      if (spec.followerCluster !== this.config.followerCluster) continue;
      wanted.set(changeTopic(spec.leaderCluster, spec.leaderIndex), spec);
    }
    for (const [topic, f] of this.followed) {
      const spec = wanted.get(topic);
      if (spec && spec.followerIndex === f.spec.followerIndex && spec.createdAt === f.spec.createdAt) {
        // The same replication, paused, resumed or updated: keep its applier, counters and checkpoints.
        if (spec.updatedAt !== f.spec.updatedAt) {
          const wasFailed = f.applier.failed;
          f.spec = spec;
          f.applier.updateSpec(spec);
          // A failed index had its partitions paused; an operator's new word gives them another chance.
          const shards = this.deps.metadata.get(topic)?.shards ?? 0;
          if (wasFailed && shards > 0) this.consumer?.resume(topic, Array.from({ length: shards }, (_, i) => i));
          await this.writeStatus(f.applier.status());
        }
        continue;
      }
      this.followed.delete(topic);
      await f.reconciler.stop();
      // The final word of this applier: its counters, as stopped.
      await this.writeStatus({ ...f.applier.status(), state: 'stopped' });
    }
    for (const [topic, spec] of wanted) {
      if (this.followed.has(topic)) continue;
      const reconciler = new Reconciler({ es: this.deps.es, producer: this.deps.producer, logger: this.logger, pageSize: this.config.reconcilePageSize, minIntervalMs: this.config.reconcileMinIntervalMs }, spec);
      this.followed.set(topic, { spec, applier: new IndexApplier(this.deps, spec, topic, reconciler), reconciler });
    }
    const active = [...this.followed.entries()].filter(([, f]) => f.spec.state === 'active').map(([t]) => t).sort();
    const key = active.join(',');
    if (key === this.subscribed) return;
    await this.consumer?.disconnect();
    this.consumer = undefined;
    this.subscribed = key;
    if (active.length === 0) return;
    for (const topic of active) await this.waitForTopic(topic);
    const consumer = this.kafka.consumer(`kccr-applier-${this.config.followerCluster}`, { maxBytesPerPartition: this.config.maxBytesPerPartition });
    this.consumer = consumer;
    await consumer.subscribe(active, true);
    await consumer.run(
      async (batch, control) => {
        const f = this.followed.get(batch.topic);
        if (!f || f.spec.state !== 'active' || f.applier.failed) return;
        try {
          await f.applier.handleBatch(batch, control);
        } catch (e) {
          // One follower index never stops the others: what is not resolved is fetched again (retriable),
          // or this topic is paused with the reason in its status.
          if (isRetriable(e)) {
            this.logger.warn({ topic: batch.topic, partition: batch.partition, err: errorMessage(e) }, 'batch failed; it will be fetched again');
            await abortableSleep(1000);
            return;
          }
          this.logger.error({ topic: batch.topic, err: errorMessage(e) }, 'replication of this index failed');
          f.applier.fail(errorMessage(e));
          consumer.pause(batch.topic, [batch.partition]);
        }
      },
      { partitionsConsumedConcurrently: this.config.concurrency },
    );
    this.logger.info({ topics: active }, 'consuming');
  }

  /** The extractor creates the topic; a follower started first waits for it rather than failing. */
  private async waitForTopic(topic: string): Promise<void> {
    for (let i = 0; (await this.kafka.partitionCount(topic)) === undefined; i++) {
      if (this.stopping) return;
      if (i % 10 === 0) this.logger.info({ topic }, 'waiting for the extractor to create the topic');
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  private periodicReconcile(): void {
    for (const [topic, f] of this.followed) {
      if (f.spec.state !== 'active') continue;
      const shards = this.deps.metadata.get(topic)?.shards ?? 0;
      for (let s = 0; s < shards; s++) f.reconciler.request(s, 'periodic');
    }
  }

  private async writeStatus(s: ApplierStatus): Promise<void> {
    await this.status.put(applierStatusKey(s.followerCluster, s.followerIndex), s);
  }

  private async publishStatus(): Promise<void> {
    for (const [, f] of this.followed) {
      await this.writeStatus(f.applier.status()).catch((e: unknown) => this.logger.warn({ err: errorMessage(e) }, 'status not written'));
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    await this.syncing.catch(() => undefined);
    // Disconnecting lets the batch in flight finish and commit.
    await this.consumer?.disconnect();
    await Promise.all([...this.followed.values()].map((f) => f.reconciler.stop()));
    await this.publishStatus();
    await this.deps.producer.disconnect();
    await Promise.all([this.replications.close(), this.status.close(), this.deps.metadata.close()]);
    await this.kafka.close();
    await this.deps.es.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  void runService('applier', () => new ApplierService(readApplierConfig()));
}
