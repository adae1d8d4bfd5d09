/**
 * The Kafka clients that `npm run bench -- kafka-clients` measures, each wrapped in the shapes of kccr's adapter
 * (services/shared/adapters/kafka.ts): the same producer settings and byte chunking, the same batch handler, and the
 * admin calls the adapter makes. A wrapper leaves out what its client cannot do (the checks report it missing).
 *
 * - adapter: kccr's adapter itself, on `@platformatic/kafka` (and the same with KCCR_TOPIC_COMPRESSION=gzip);
 * - `@confluentinc/kafka-javascript` (librdkafka) through its KafkaJS-compatible API, when it is installed: npm cannot
 *   fetch its prebuilt binary here, so it is built from source (bench/kafka-clients.ts says how).
 *
 * kafkajs, which the adapter used before, is no longer a dependency and cannot be measured; its figures are in
 * docs/performance/kafka-client.md.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KafkaAdapter } from '../services/shared/adapters/kafka.js';
import type { BatchControl, ConsumedBatch, OutgoingMessage } from '../services/shared/adapters/kafka.js';
import { ROOT } from './lib.js';

export type BatchHandler = (batch: ConsumedBatch, control: BatchControl) => Promise<void>;

export interface BenchProducer {
  connect(): Promise<void>;
  send(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  disconnect(): Promise<void>;
}

export interface BenchConsumer {
  subscribe(topics: readonly string[], fromBeginning: boolean): Promise<void>;
  run(handler: BatchHandler, opts: { partitionsConsumedConcurrently: number }): Promise<void>;
  /** Commits `nextOffset` for one partition, outside a batch (the consumer is a member of its group). */
  commit(topic: string, partition: number, nextOffset: string): Promise<void>;
  /** Per-partition flow control, as the applier uses it; absent where the client has none. */
  pause?(topic: string, partitions: number[]): void;
  resume?(topic: string, partitions: number[]): void;
  disconnect(): Promise<void>;
}

/** The adapter's admin calls; absent where the client has no such call. */
export interface BenchAdmin {
  createTopic?(topic: string, partitions: number, configs: Record<string, string>): Promise<void>;
  topicConfig?(topic: string, names: readonly string[]): Promise<Record<string, string>>;
  offsets?(topic: string): Promise<{ partition: number; low: string; high: string }[]>;
  offsetsByTimestamp?(topic: string, timestamp: number): Promise<{ partition: number; offset: string }[]>;
  groupOffsets?(groupId: string, topic: string): Promise<{ partition: number; offset: string }[]>;
  groupState?(groupId: string): Promise<string>;
  /** Sets the committed offsets of a group that has no running member. */
  setGroupOffsets?(groupId: string, topic: string, partitions: readonly { partition: number; offset: string }[]): Promise<void>;
  deleteGroup?(groupId: string): Promise<void>;
  close(): Promise<void>;
}

export interface ConsumerSettings {
  /** At most this much is fetched per partition at a time (KCCR_APPLIER_MAX_BYTES_PER_PARTITION). */
  readonly maxBytesPerPartition: number;
  /** At most this much per fetch, and what a client may hold fetched ahead of the handler. */
  readonly maxBytes: number;
}

export interface ClientUnderTest {
  readonly name: string;
  readonly version: string;
  producer(): BenchProducer;
  consumer(groupId: string, settings: ConsumerSettings): BenchConsumer;
  admin(): BenchAdmin;
  /** How the client is set up for the figures, for the report. */
  readonly settings: string;
}

export const CLIENT_IDS = ['adapter', 'adapter-gzip', 'confluent'] as const;
export type ClientId = (typeof CLIENT_IDS)[number];

function packageVersion(name: string): string {
  // Not every package exports its package.json.
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

// ---- kccr's adapter (@platformatic/kafka) ----

const PLATFORMATIC = '@platformatic/kafka';

function adapterClient(brokers: readonly string[], gzip: boolean): ClientUnderTest {
  const adapter = new KafkaAdapter({ brokers, clientId: 'kccr-bench' });
  return {
    name: gzip ? 'kccr adapter, gzip' : 'kccr adapter',
    version: `${PLATFORMATIC} ${packageVersion(PLATFORMATIC)}`,
    settings: 'the adapter as the services use it',
    producer: () => adapter.producer(gzip ? { compression: 'gzip' } : {}),
    consumer: (groupId, s) => adapter.consumer(groupId, { maxBytesPerPartition: s.maxBytesPerPartition }),
    admin: () => ({
      createTopic: async (topic, partitions, configs) => void (await adapter.ensureTopic(topic, partitions, configs)),
      topicConfig: (topic, names) => adapter.topicConfig(topic, names),
      offsets: (topic) => adapter.offsets(topic),
      offsetsByTimestamp: (topic, ts) => adapter.offsetsByTimestamp(topic, ts),
      groupOffsets: (groupId, topic) => adapter.groupOffsets(groupId, topic),
      groupState: (groupId) => adapter.groupState(groupId),
      setGroupOffsets: (groupId, topic, partitions) => adapter.setGroupOffsets(groupId, topic, partitions),
      deleteGroup: (groupId) => adapter.deleteGroup(groupId),
      close: () => adapter.close(),
    }),
  };
}

// ---- @confluentinc/kafka-javascript, KafkaJS-compatible API: only what is used here (from its types/kafkajs.d.ts) ----

interface CkjsMessage {
  key: Buffer | null;
  value: Buffer | null;
  offset: string;
  timestamp: string;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

interface CkjsEachBatchPayload {
  batch: { topic: string; partition: number; highWatermark: string; messages: CkjsMessage[] };
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
}

interface CkjsProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(record: { topic: string; messages: { key: string; value: Buffer | null; partition: number; headers?: Record<string, string> }[] }): Promise<unknown>;
}

interface CkjsConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(subscription: { topics: string[] }): Promise<void>;
  run(config: {
    eachBatchAutoResolve: boolean;
    partitionsConsumedConcurrently: number;
    eachBatch: (payload: CkjsEachBatchPayload) => Promise<void>;
  }): Promise<void>;
  commitOffsets(offsets: { topic: string; partition: number; offset: string }[]): Promise<void>;
  pause(topics: { topic: string; partitions: number[] }[]): void;
  resume(topics: { topic: string; partitions: number[] }[]): void;
  assignment(): { topic: string; partition: number }[];
}

interface CkjsAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  createTopics(options: { topics: { topic: string; numPartitions: number; configEntries: { name: string; value: string }[] }[] }): Promise<boolean>;
  fetchTopicOffsets(topic: string): Promise<{ partition: number; offset: string; low: string; high: string }[]>;
  fetchTopicOffsetsByTimestamp(topic: string, timestamp: number): Promise<{ partition: number; offset: string }[]>;
  fetchOffsets(options: { groupId: string; topics: string[] }): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
  describeGroups(groups: string[]): Promise<{ groups: { groupId: string; state: number | string }[] }>;
  deleteGroups(groups: string[]): Promise<unknown>;
}

interface CkjsKafka {
  producer(config: Record<string, unknown>): CkjsProducer;
  consumer(config: Record<string, unknown>): CkjsConsumer;
  admin(config?: Record<string, unknown>): CkjsAdmin;
}

interface CkjsModule {
  KafkaJS: { Kafka: new (config: Record<string, unknown>) => CkjsKafka; logLevel: { WARN: number }; ConsumerGroupStates?: Record<string, number> };
  librdkafkaVersion?: string;
}

export const CONFLUENT = '@confluentinc/kafka-javascript';
/** The version measured; kccr does not install it (its install would need a source build in every fresh clone). */
export const CONFLUENT_VERSION = '1.10.1';
export const CONFLUENT_INSTALL =
  'apt-get install libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev libcurl4-openssl-dev; ' +
  `CKJS_LINKING=dynamic npm install --no-save ${CONFLUENT}@${CONFLUENT_VERSION} (and npm_config_nodedir=<the folder of the running Node> when npm's nodedir is another Node's)`;

/** The confluent client when it is installed and its native binding loads; otherwise why not. */
function loadConfluent(): { module: CkjsModule; version: string } | { reason: string } {
  const require = createRequire(import.meta.url);
  try {
    const module = require(CONFLUENT) as CkjsModule;
    return { module, version: `${packageVersion(CONFLUENT)} (librdkafka ${module.librdkafkaVersion ?? '?'})` };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(`'${CONFLUENT}'`)) {
      return { reason: `${CONFLUENT} is not installed (to measure it: ${CONFLUENT_INSTALL})` };
    }
    return { reason: `${CONFLUENT} does not load: ${err.message ?? String(e)}` };
  }
}

function ckjsHeaders(headers: CkjsMessage['headers']): { headers?: Record<string, string> } {
  if (!headers) return {};
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const v = Array.isArray(value) ? value[value.length - 1] : value;
    if (v !== undefined) out[name] = v.toString();
  }
  return Object.keys(out).length > 0 ? { headers: out } : {};
}

class ConfluentProducer implements BenchProducer {
  private connected = false;

  constructor(private readonly producer: CkjsProducer) {}

  async connect(): Promise<void> {
    if (this.connected) return;
    await this.producer.connect();
    this.connected = true;
  }

  async send(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.connect();
    // One call for the whole send: librdkafka cuts its requests to batch.size and message.max.bytes itself (cutting
    // them here as for kafkajs costs ~40% of the rate: every request then waits for its acknowledgement alone).
    await this.producer.send({
      topic,
      messages: messages.map((m) => ({ key: m.key, value: m.value, partition: m.partition, ...(m.headers ? { headers: m.headers } : {}) })),
    });
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect().catch(() => undefined);
  }
}

class ConfluentConsumer implements BenchConsumer {
  private connected = false;

  constructor(private readonly consumer: CkjsConsumer) {}

  async subscribe(topics: readonly string[]): Promise<void> {
    // fromBeginning is a consumer setting with this client (set below), not a subscribe option.
    if (!this.connected) {
      await this.consumer.connect();
      this.connected = true;
    }
    await this.consumer.subscribe({ topics: [...topics] });
  }

  async run(handler: BatchHandler, opts: { partitionsConsumedConcurrently: number }): Promise<void> {
    await this.consumer.run({
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently,
      eachBatch: async (payload) => {
        const { batch } = payload;
        await handler(
          {
            topic: batch.topic,
            partition: batch.partition,
            highWatermark: batch.highWatermark,
            messages: batch.messages.map((m) => ({
              topic: batch.topic,
              partition: batch.partition,
              offset: m.offset,
              key: m.key,
              value: m.value,
              timestamp: m.timestamp,
              ...ckjsHeaders(m.headers),
            })),
          },
          {
            heartbeat: () => payload.heartbeat(),
            isActive: () => payload.isRunning() && !payload.isStale(),
            resolve: (offset) => payload.resolveOffset(offset),
            commit: async (nextOffset) => {
              payload.resolveOffset(String(BigInt(nextOffset) - 1n));
              await this.commit(batch.topic, batch.partition, nextOffset);
            },
          },
        );
      },
    });
  }

  async commit(topic: string, partition: number, nextOffset: string): Promise<void> {
    await this.consumer.commitOffsets([{ topic, partition, offset: nextOffset }]);
  }

  pause(topic: string, partitions: number[]): void {
    this.consumer.pause([{ topic, partitions }]);
  }

  resume(topic: string, partitions: number[]): void {
    this.consumer.resume([{ topic, partitions }]);
  }

  /** Whether the group has assigned it partitions (it has no group-join event in the KafkaJS API). */
  assigned(): boolean {
    return this.consumer.assignment().length > 0;
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.consumer.disconnect().catch(() => undefined);
  }
}

/** librdkafka's group states (rd_kafka_consumer_group_state_t), as this client reports them: numbers. */
const CKJS_GROUP_STATES = ['Unknown', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead', 'Empty'];

function confluentClient(module: CkjsModule, version: string, brokers: readonly string[]): ClientUnderTest {
  const { Kafka, logLevel } = module.KafkaJS;
  const kafka = new Kafka({
    kafkaJS: {
      clientId: 'kccr-bench',
      brokers: [...brokers],
      connectionTimeout: 5000,
      requestTimeout: 30_000,
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 },
      logLevel: logLevel.WARN,
    },
  });
  const consumerConfig = (groupId: string, s: ConsumerSettings, extra: Record<string, unknown> = {}) => ({
    kafkaJS: {
      groupId,
      fromBeginning: true,
      autoCommit: false,
      allowAutoTopicCreation: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 2000,
      maxBytesPerPartition: s.maxBytesPerPartition,
      maxBytes: s.maxBytes,
      maxWaitTimeInMs: 250,
    },
    // Its eachBatch hands at most 32 records by default; the applier works in batches of up to 1000.
    'js.consumer.max.batch.size': 1000,
    // librdkafka fetches ahead into a queue of up to 64 MiB by default: bounded here like the others. Once the queue
    // is full it waits fetch.queue.backoff.ms (1 s by default) before fetching again, which cuts the rate by half.
    'queued.max.messages.kbytes': Math.ceil(s.maxBytes / 1024),
    'fetch.queue.backoff.ms': 10,
    ...extra,
  });
  return {
    name: CONFLUENT,
    version,
    settings:
      "KafkaJS-compatible API; idempotent producer (acks -1), one send call per page (librdkafka batches it); eachBatch of up to 1000 records; librdkafka's fetch-ahead queue bounded to maxBytes (queued.max.messages.kbytes, fetch.queue.backoff.ms 10)",
    producer: () =>
      new ConfluentProducer(
        kafka.producer({ kafkaJS: { idempotent: true, maxInFlightRequests: 1, acks: -1, compression: 'none', allowAutoTopicCreation: false } }),
      ),
    consumer: (groupId, s) => new ConfluentConsumer(kafka.consumer(consumerConfig(groupId, s))),
    admin: () => {
      const admin = kafka.admin();
      const connected = admin.connect();
      const ready = async () => {
        await connected;
        return admin;
      };
      return {
        createTopic: async (topic, partitions, configs) => {
          await (
            await ready()
          ).createTopics({ topics: [{ topic, numPartitions: partitions, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }] });
        },
        // No topicConfig: neither its KafkaJS admin nor its node-rdkafka admin has DescribeConfigs.
        offsets: async (topic) =>
          (await (await ready()).fetchTopicOffsets(topic))
            .map((p) => ({ partition: p.partition, low: p.low, high: p.high }))
            .sort((a, b) => a.partition - b.partition),
        offsetsByTimestamp: async (topic, ts) =>
          (await (await ready()).fetchTopicOffsetsByTimestamp(topic, ts))
            .map((p) => ({ partition: p.partition, offset: p.offset }))
            .sort((a, b) => a.partition - b.partition),
        groupOffsets: async (groupId, topic) =>
          ((await (await ready()).fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? []).map((p) => ({ partition: p.partition, offset: p.offset })),
        groupState: async (groupId) => {
          const state = (await (await ready()).describeGroups([groupId])).groups[0]?.state;
          return typeof state === 'number' ? (CKJS_GROUP_STATES[state] ?? String(state)) : (state ?? 'Dead');
        },
        // No AlterConsumerGroupOffsets: a short-lived member joins and commits.
        setGroupOffsets: async (groupId, topic, partitions) => {
          const member = new ConfluentConsumer(kafka.consumer(consumerConfig(groupId, { maxBytesPerPartition: 1024, maxBytes: 1024 * 1024 })));
          try {
            await member.subscribe([topic]);
            await member.run(async () => undefined, { partitionsConsumedConcurrently: 1 });
            member.pause(
              topic,
              partitions.map((p) => p.partition),
            );
            const t0 = Date.now();
            while (!member.assigned()) {
              if (Date.now() - t0 > 30_000) throw new Error(`no assignment in group ${groupId} after 30 s`);
              await new Promise((r) => setTimeout(r, 100));
            }
            await Promise.all(partitions.map((p) => member.commit(topic, p.partition, p.offset)));
          } finally {
            await member.disconnect();
          }
        },
        deleteGroup: async (groupId) => void (await (await ready()).deleteGroups([groupId])),
        close: async () => {
          await connected.catch(() => undefined);
          await admin.disconnect().catch(() => undefined);
        },
      };
    },
  };
}

/** The clients that can be measured here, and why any other cannot. */
export async function availableClients(): Promise<{ ids: ClientId[]; notMeasured: { name: string; reason: string }[] }> {
  const ids: ClientId[] = ['adapter', 'adapter-gzip'];
  const notMeasured: { name: string; reason: string }[] = [];
  const confluent = loadConfluent();
  if ('module' in confluent) ids.push('confluent');
  else notMeasured.push({ name: CONFLUENT, reason: confluent.reason });
  return { ids, notMeasured };
}

/** One client, loading nothing of the others (each measurement runs in a process of its own). */
export async function createClient(id: ClientId, brokers: readonly string[]): Promise<ClientUnderTest> {
  switch (id) {
    case 'adapter':
    case 'adapter-gzip':
      return adapterClient(brokers, id === 'adapter-gzip');
    case 'confluent': {
      const confluent = loadConfluent();
      if ('reason' in confluent) throw new Error(confluent.reason);
      return confluentClient(confluent.module, confluent.version, brokers);
    }
  }
}
