/**
 * The only module that imports the Kafka client. Topics, a producer and a consumer in kccr's terms;
 * failures become KccrErrors with the catalogue's retriable flag.
 */
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import type { Admin, Consumer, EachBatchPayload, IHeaders, KafkaConfig, Producer, SASLOptions } from 'kafkajs';
import { errorMessage, KccrError } from '../errors.js';
import { backoffDelay, retry, TRANSIENT_BACKOFF } from '../retry.js';
import type { Logger } from '../logger.js';

export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly ssl?: { readonly ca?: string };
  readonly sasl?: { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string };
}

export interface OutgoingMessage {
  readonly key: string;
  /** null writes a tombstone: compaction then removes the key. */
  readonly value: Buffer | null;
  readonly partition: number;
  readonly headers?: Record<string, string>;
}

export interface ConsumedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly timestamp: string;
  /** Record headers as UTF-8 strings (chunked envelopes carry their place and digest there). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ConsumedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly ConsumedMessage[];
  readonly highWatermark: string;
}

export interface BatchControl {
  heartbeat(): Promise<void>;
  /** False once a rebalance took the partition away or the consumer is stopping: stop working on this batch. */
  isActive(): boolean;
  /** Marks messages up to `offset` done for this consumer's fetch position (nothing is committed). */
  resolve(offset: string): void;
  /** Marks messages before `nextOffset` done and commits `nextOffset` for the group. */
  commit(nextOffset: string): Promise<void>;
}

const KAFKA_LOG_LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

function toKafkaConfig(conn: KafkaConnection, logger?: Logger): KafkaConfig {
  return {
    clientId: conn.clientId,
    brokers: [...conn.brokers],
    ...(conn.ssl ? { ssl: conn.ssl.ca ? { ca: [conn.ssl.ca] } : true } : {}),
    ...(conn.sasl ? { sasl: { mechanism: conn.sasl.mechanism, username: conn.sasl.username, password: conn.sasl.password } as SASLOptions } : {}),
    connectionTimeout: 5000,
    requestTimeout: 30_000,
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      if (!logger) return;
      const level = KAFKA_LOG_LEVELS[entry.level] ?? 'info';
      const { message, ...rest } = entry.log;
      logger[level]({ kafka: entry.namespace, ...rest }, message);
    },
  };
}

/** The TOPIC config resource type of DescribeConfigs (kafkajs' ConfigResourceTypes.TOPIC, not an ESM export). */
const TOPIC_RESOURCE = 2;

/** Kafka error types no retry fixes: only an operator, by granting access or fixing credentials. */
const KAFKA_CREDENTIAL_ERRORS = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'DELEGATION_TOKEN_AUTHORIZATION_FAILED',
  'UNSUPPORTED_SASL_MECHANISM',
  'ILLEGAL_SASL_STATE',
]);

/** Kafka error types that a retry of the same request cannot fix: the request itself is wrong. */
const KAFKA_PERMANENT_ERRORS = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_TOPIC_EXCEPTION',
  'INVALID_CONFIG',
  'INVALID_PARTITIONS',
  'INVALID_REPLICATION_FACTOR',
  'INVALID_REPLICA_ASSIGNMENT',
  'POLICY_VIOLATION',
  'TOPIC_DELETION_DISABLED',
  'UNSUPPORTED_COMPRESSION_TYPE',
  'INVALID_RECORD',
  'INVALID_REQUIRED_ACKS',
  'UNSUPPORTED_VERSION',
]);

/**
 * An idempotent producer whose broker lost its state (a restart without the producer's id, an epoch moved on)
 * answers these for good; a new producer (a new producer id) sends again. Duplicates are harmless downstream.
 */
const KAFKA_PRODUCER_STATE_ERRORS = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING', 'DUPLICATE_SEQUENCE_NUMBER']);

/** The innermost error of a kafkajs error chain, and every `type` along it. */
function kafkaErrorTypes(e: unknown): string[] {
  const types: string[] = [];
  for (let cur = e as { type?: string; name?: string; cause?: unknown } | undefined, depth = 0; cur && depth < 10; cur = cur.cause as typeof cur, depth++) {
    if (cur.type) types.push(cur.type);
    if (cur.name === 'KafkaJSSASLAuthenticationError') types.push('SASL_AUTHENTICATION_FAILED');
  }
  return types;
}

/**
 * The decision for every Kafka failure: refused credentials or permissions are an operator's to fix; a request
 * Kafka refuses as malformed (too large, invalid config) is permanent; everything else — connections refused or
 * reset, timeouts, brokers or leaders not available, coordinators loading, a producer whose broker restarted,
 * errors kafkajs itself gave up retrying — is transient.
 */
export function toKafkaError(e: unknown, what: string): KccrError {
  if (e instanceof KccrError) return e;
  const err = e as { name?: string; message?: string; type?: string };
  const message = `${what}: ${err.message ?? String(e)}`;
  const types = kafkaErrorTypes(e);
  const kafkaError = types[0] ?? err.name;
  if (types.some((t) => KAFKA_CREDENTIAL_ERRORS.has(t))) return new KccrError('KAFKA_UNAUTHORIZED', message, { kafkaError }, { cause: e });
  if (types.some((t) => KAFKA_PERMANENT_ERRORS.has(t))) return new KccrError('KAFKA_REJECTED', message, { kafkaError }, { cause: e });
  return new KccrError('KAFKA_UNAVAILABLE', message, { kafkaError }, { cause: e });
}

function producerStateLost(e: unknown): boolean {
  return kafkaErrorTypes(e).some((t) => KAFKA_PRODUCER_STATE_ERRORS.has(t)) || /producer.*(fenced|epoch)|sequence/i.test(errorMessage(e));
}

export class KafkaAdapter {
  private readonly kafka: Kafka;
  private admin?: Admin;

  constructor(
    readonly connection: KafkaConnection,
    private readonly logger?: Logger,
  ) {
    this.kafka = new Kafka(toKafkaConfig(connection, logger));
  }

  private async adminClient(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      try {
        await admin.connect();
      } catch (e) {
        throw toKafkaError(e, `connecting to Kafka at ${this.connection.brokers.join(',')}`);
      }
      this.admin = admin;
    }
    return this.admin;
  }

  async partitionCount(topic: string): Promise<number | undefined> {
    const admin = await this.adminClient();
    try {
      const topics = await admin.listTopics();
      if (!topics.includes(topic)) return undefined;
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      return meta.topics[0]?.partitions.length;
    } catch (e) {
      throw toKafkaError(e, `reading metadata of topic ${topic}`);
    }
  }

  /**
   * Creates the topic when missing. When it exists its partition count must be the one asked for:
   * partition = shard, and a mismatch would send shards to the wrong partitions.
   */
  async ensureTopic(topic: string, partitions: number, configs: Record<string, string> = {}): Promise<'created' | 'exists'> {
    const existing = await this.partitionCount(topic);
    if (existing !== undefined) {
      if (existing !== partitions) {
        throw new KccrError('CONFLICT', `topic ${topic} has ${existing} partitions but ${partitions} are needed (one per shard); delete or rename the topic`, { topic, existing, partitions });
      }
      return 'exists';
    }
    const admin = await this.adminClient();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: partitions, replicationFactor: -1, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }],
      });
    } catch (e) {
      // Another process may have created it between our look and our create.
      if ((e as { type?: string }).type === 'TOPIC_ALREADY_EXISTS' || /already exists/i.test(String((e as Error).message))) return this.ensureTopic(topic, partitions, configs);
      throw toKafkaError(e, `creating topic ${topic}`);
    }
    return 'created';
  }

  /** The topic's effective configuration values asked for (its own, else the broker's default). */
  async topicConfig(topic: string, names: readonly string[]): Promise<Record<string, string>> {
    const admin = await this.adminClient();
    try {
      const r = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: [...names] }] });
      return Object.fromEntries((r.resources[0]?.configEntries ?? []).map((e) => [e.configName, e.configValue]));
    } catch (e) {
      throw toKafkaError(e, `reading the configuration of topic ${topic}`);
    }
  }

  async deleteTopics(topics: string[]): Promise<void> {
    const admin = await this.adminClient();
    try {
      await admin.deleteTopics({ topics });
    } catch (e) {
      throw toKafkaError(e, `deleting topics ${topics.join(',')}`);
    }
  }

  /**
   * Earliest and next offset of every partition of a topic. Read-only, so failures are retried a few times:
   * right after a topic is created, the client's metadata may not know its leaders yet.
   */
  async offsets(topic: string): Promise<{ partition: number; low: string; high: string }[]> {
    const admin = await this.adminClient();
    return retry(
      async () => {
        try {
          const r = await admin.fetchTopicOffsets(topic);
          return r.map((p) => ({ partition: p.partition, low: p.low, high: p.high })).sort((a, b) => a.partition - b.partition);
        } catch (e) {
          throw toKafkaError(e, `reading offsets of topic ${topic}`);
        }
      },
      { attempts: 5, initialMs: 200, maxMs: 1000 },
    );
  }

  async groupOffsets(groupId: string, topic: string): Promise<{ partition: number; offset: string }[]> {
    const admin = await this.adminClient();
    try {
      const r = await admin.fetchOffsets({ groupId, topics: [topic] });
      return (r[0]?.partitions ?? []).map((p) => ({ partition: p.partition, offset: p.offset }));
    } catch (e) {
      throw toKafkaError(e, `reading offsets of group ${groupId}`);
    }
  }

  /** Per partition, the offset of the first record at or after `timestamp` (epoch ms); the partition's end when none is. */
  async offsetsByTimestamp(topic: string, timestamp: number): Promise<{ partition: number; offset: string }[]> {
    const admin = await this.adminClient();
    try {
      const r = await admin.fetchTopicOffsetsByTimestamp(topic, timestamp);
      return r.map((p) => ({ partition: p.partition, offset: p.offset })).sort((a, b) => a.partition - b.partition);
    } catch (e) {
      throw toKafkaError(e, `reading offsets of topic ${topic} at ${new Date(timestamp).toISOString()}`);
    }
  }

  /** The group's state as its coordinator tells it: Empty, Stable, PreparingRebalance, CompletingRebalance, Dead. */
  async groupState(groupId: string): Promise<string> {
    const admin = await this.adminClient();
    try {
      const r = await admin.describeGroups([groupId]);
      return r.groups[0]?.state ?? 'Dead';
    } catch (e) {
      throw toKafkaError(e, `describing group ${groupId}`);
    }
  }

  /**
   * Sets a consumer group's committed offsets for these partitions of one topic; its other topics and partitions keep
   * theirs. Kafka takes this only while the group has no running member, so the caller stops its consumers first; a
   * group with members is a retriable KAFKA_UNAVAILABLE (members may be on their way out).
   *
   * How: a short-lived member of the group joins (it is the only one), commits the offsets with its generation and
   * leaves. kafkajs' admin.setOffsets does the same but commits from its first fetch, which covers only the
   * partitions of the first broker to answer; committing explicitly covers every partition at once. The result is
   * read back and compared.
   */
  async setGroupOffsets(groupId: string, topic: string, partitions: readonly { partition: number; offset: string }[]): Promise<void> {
    if (partitions.length === 0) return;
    const state = await this.groupState(groupId);
    if (state !== 'Empty' && state !== 'Dead') {
      throw new KccrError('KAFKA_UNAVAILABLE', `consumer group ${groupId} has running members (state ${state}); its offsets can only be set while every member is stopped`, { groupId, state });
    }
    // A short fetch wait: leaving waits for the fetch in flight (kafkajs' default wait would add 5 s).
    const consumer = this.kafka.consumer({ groupId, allowAutoTopicCreation: false, sessionTimeout: 10_000, heartbeatInterval: 2000, maxWaitTimeInMs: 100, retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 2000 } });
    try {
      const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      // Nothing is processed or resolved: the member is there only to commit.
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => undefined });
      consumer.pause([{ topic }]);
      await withTimeout(joined, 30_000, `joining group ${groupId}`);
      await consumer.commitOffsets(partitions.map((p) => ({ topic, partition: p.partition, offset: p.offset })));
    } catch (e) {
      throw toKafkaError(e, `setting offsets of group ${groupId} for ${topic}`);
    } finally {
      await consumer.disconnect().catch(() => undefined);
    }
    const now = new Map((await this.groupOffsets(groupId, topic)).map((p) => [p.partition, p.offset]));
    const wrong = partitions.filter((p) => now.get(p.partition) !== p.offset);
    if (wrong.length > 0) {
      throw new KccrError('KAFKA_UNAVAILABLE', `group ${groupId} did not take the offsets of ${topic} for partitions ${wrong.map((p) => p.partition).join(', ')}`, { groupId, topic });
    }
  }

  producer(opts: { compression?: 'none' | 'gzip'; maxRequestBytes?: number } = {}): KafkaProducer {
    return new KafkaProducer(
      () => this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false }),
      opts.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
      opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    );
  }

  consumer(groupId: string, opts: { maxBytesPerPartition?: number; sessionTimeoutMs?: number } = {}): KafkaConsumer {
    return new KafkaConsumer(
      groupId,
      () =>
        this.kafka.consumer({
        groupId,
        allowAutoTopicCreation: false,
        // Short enough that a crashed member's partitions move on within seconds, long enough for one _bulk.
        sessionTimeout: opts.sessionTimeoutMs ?? 10_000,
        heartbeatInterval: 2000,
        // Bounds memory whatever the backlog: at most this much is fetched per partition at a time.
        maxBytesPerPartition: opts.maxBytesPerPartition ?? 1024 * 1024,
        maxBytes: 10 * 1024 * 1024,
        maxWaitTimeInMs: 250,
        retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
      }),
      this.logger,
    );
  }

  async close(): Promise<void> {
    await this.admin?.disconnect().catch(() => undefined);
    this.admin = undefined;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KccrError('KAFKA_UNAVAILABLE', `${what} took more than ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A produce request carries one record batch per partition, and a broker refuses batches above its
 * `message.max.bytes` (1 MiB by default): sends are cut into requests of at most this many bytes.
 */
export const DEFAULT_MAX_REQUEST_BYTES = 768 * 1024;
/** Per-record overhead in a batch (headers aside), for the byte count above. */
const RECORD_OVERHEAD = 32;

/**
 * Per partition of a topic, a group's committed offset (null when it has none) and how many records lie between it
 * and the end (null without a committed offset).
 */
export function groupLag(
  bounds: readonly { partition: number; high: string }[],
  committed: readonly { partition: number; offset: string }[],
): { partition: number; committed: string | null; behind: number | null }[] {
  return bounds.map((b) => {
    const c = committed.find((x) => x.partition === b.partition)?.offset;
    const at = c === undefined || BigInt(c) < 0n ? null : c;
    return { partition: b.partition, committed: at, behind: at === null ? null : Number(BigInt(b.high) - BigInt(at)) };
  });
}

/** Cuts messages, in order, into groups of at most `maxBytes` (a single larger message forms its own group). */
export function chunkByBytes<T extends { key: string; value: Buffer | null; headers?: Record<string, string> }>(messages: readonly T[], maxBytes: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = Buffer.byteLength(m.key) + (m.value?.length ?? 0) + RECORD_OVERHEAD + Object.entries(m.headers ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0);
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** kafkajs headers (Buffers, strings, arrays of them) as strings; absent when there are none. */
function headersOf(headers: IHeaders | undefined): { headers?: Record<string, string> } {
  if (!headers) return {};
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const v = Array.isArray(value) ? value[value.length - 1] : value;
    if (v !== undefined) out[name] = v.toString();
  }
  return Object.keys(out).length > 0 ? { headers: out } : {};
}

export class KafkaProducer {
  private producer?: Producer;
  private connected = false;
  /** Sends run one after the other: the records of one call are contiguous in each partition (chunks stay together). */
  private sending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly create: () => Producer,
    private readonly compression: CompressionTypes,
    private readonly maxRequestBytes: number,
  ) {}

  async connect(): Promise<void> {
    if (this.connected) return;
    this.producer ??= this.create();
    try {
      await this.producer.connect();
      this.connected = true;
    } catch (e) {
      throw toKafkaError(e, 'connecting the producer');
    }
  }

  /**
   * Resolves once every message is acknowledged by all in-sync replicas; order is kept (one request at a time).
   * A failure leaves it to the caller to send again (transient) or not; a producer whose broker lost its state is
   * replaced first, so that the next send can succeed.
   */
  send(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    const run = this.sending.then(
      () => this.sendNow(topic, messages),
      () => this.sendNow(topic, messages),
    );
    this.sending = run.catch(() => undefined);
    return run;
  }

  private async sendNow(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    await this.connect();
    for (const chunk of chunkByBytes(messages, this.maxRequestBytes)) {
      try {
        await this.producer!.send({
          topic,
          acks: -1,
          compression: this.compression,
          messages: chunk.map((m) => ({ key: m.key, value: m.value, partition: m.partition, ...(m.headers ? { headers: m.headers } : {}) })),
        });
      } catch (e) {
        if (producerStateLost(e)) await this.reset();
        throw toKafkaError(e, `producing ${chunk.length} messages to ${topic}`);
      }
    }
  }

  /** Drops the producer; the next send connects a new one (with a new producer id). */
  private async reset(): Promise<void> {
    const old = this.producer;
    this.producer = undefined;
    this.connected = false;
    await old?.disconnect().catch(() => undefined);
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    await this.reset();
  }
}

/**
 * A consumer whose run never ends silently. kafkajs restarts a crashed consumer only for errors it deems retriable;
 * after any other crash (while not stopped) this one is built anew, subscribed and run again with the same handler,
 * with backoff, and its paused partitions paused again. Restarts are counted and logged.
 */
export class KafkaConsumer {
  private consumer: Consumer;
  private connected = false;
  private stopped = false;
  private topics: (string | RegExp)[] = [];
  private fromBeginning = true;
  private runArgs?: Parameters<KafkaConsumer['run']>;
  private readonly paused = new Map<string, Set<number>>();
  private restartTimer?: NodeJS.Timeout;
  /** Crashes after which the consumer had to be built anew. */
  restarts = 0;

  constructor(
    readonly groupId: string,
    private readonly create: () => Consumer,
    private readonly logger?: Logger,
  ) {
    this.consumer = this.build();
  }

  private build(): Consumer {
    const consumer = this.create();
    consumer.on(consumer.events.CRASH, (event) => {
      if (event.payload.restart || this.stopped || consumer !== this.consumer) return;
      this.restarts++;
      const delay = backoffDelay(Math.min(this.restarts, 8), TRANSIENT_BACKOFF.initialMs, TRANSIENT_BACKOFF.maxMs);
      this.logger?.warn({ groupId: this.groupId, err: errorMessage(event.payload.error), restarts: this.restarts, retryInMs: delay }, 'Kafka consumer stopped; starting it again');
      this.restartTimer = setTimeout(() => void this.restart(), delay);
    });
    return consumer;
  }

  private async restart(): Promise<void> {
    this.restartTimer = undefined;
    if (this.stopped || !this.runArgs) return;
    await this.consumer.disconnect().catch(() => undefined);
    this.consumer = this.build();
    this.connected = false;
    try {
      await this.subscribe(this.topics, this.fromBeginning);
      await this.run(...this.runArgs);
    } catch (e) {
      this.restarts++;
      const delay = backoffDelay(Math.min(this.restarts, 8), TRANSIENT_BACKOFF.initialMs, TRANSIENT_BACKOFF.maxMs);
      this.logger?.warn({ groupId: this.groupId, err: errorMessage(e), retryInMs: delay }, 'Kafka consumer could not start again; trying again');
      if (!this.stopped) this.restartTimer = setTimeout(() => void this.restart(), delay);
    }
  }

  async subscribe(topics: readonly (string | RegExp)[], fromBeginning = true): Promise<void> {
    this.topics = [...topics];
    this.fromBeginning = fromBeginning;
    try {
      if (!this.connected) {
        await this.consumer.connect();
        this.connected = true;
      }
      await this.consumer.subscribe({ topics: [...topics], fromBeginning });
    } catch (e) {
      throw toKafkaError(e, `subscribing to ${topics.join(',')}`);
    }
  }

  /**
   * Hands each fetched batch (one partition, offset order) to `handler`. Nothing is resolved or committed here:
   * the handler calls `control.commit` after the writes the batch stands for have succeeded (or `control.resolve`
   * when it keeps no committed position). What it has not resolved is fetched again.
   */
  async run(handler: (batch: ConsumedBatch, control: BatchControl) => Promise<void>, opts: { partitionsConsumedConcurrently?: number } = {}): Promise<void> {
    this.runArgs = [handler, opts];
    const consumer = this.consumer;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 1,
      eachBatch: async (payload: EachBatchPayload) => {
        const { batch } = payload;
        let resolved = -1n;
        const resolve = (offset: string) => {
          if (BigInt(offset) <= resolved) return;
          resolved = BigInt(offset);
          payload.resolveOffset(offset);
        };
        await handler(
          {
            topic: batch.topic,
            partition: batch.partition,
            highWatermark: batch.highWatermark,
            messages: batch.messages.map((m) => ({ topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value, timestamp: m.timestamp, ...headersOf(m.headers) })),
          },
          {
            heartbeat: () => payload.heartbeat(),
            isActive: () => payload.isRunning() && !payload.isStale(),
            resolve,
            commit: async (nextOffset) => {
              // The fetch position never moves back: records resolved past the commit (chunks held) are not read again.
              resolve(String(BigInt(nextOffset) - 1n));
              await this.commit(batch.topic, batch.partition, nextOffset);
            },
          },
        );
      },
    });
    for (const [topic, partitions] of this.paused) consumer.pause([{ topic, partitions: [...partitions] }]);
  }

  /** Commits `nextOffset` (the offset of the next message to read) for one partition. */
  async commit(topic: string, partition: number, nextOffset: string): Promise<void> {
    try {
      await this.consumer.commitOffsets([{ topic, partition, offset: nextOffset }]);
    } catch (e) {
      throw toKafkaError(e, `committing offset ${nextOffset} of ${topic}[${partition}]`);
    }
  }

  pause(topic: string, partitions: number[]): void {
    const set = this.paused.get(topic) ?? new Set<number>();
    for (const p of partitions) set.add(p);
    this.paused.set(topic, set);
    this.consumer.pause([{ topic, partitions }]);
  }

  resume(topic: string, partitions: number[]): void {
    const set = this.paused.get(topic);
    for (const p of partitions) set?.delete(p);
    if (set?.size === 0) this.paused.delete(topic);
    this.consumer.resume([{ topic, partitions }]);
  }

  seek(topic: string, partition: number, offset: string): void {
    this.consumer.seek({ topic, partition, offset });
  }

  async disconnect(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (!this.connected) return;
    this.connected = false;
    await this.consumer.disconnect().catch(() => undefined);
  }
}
