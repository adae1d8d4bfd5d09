/**
 * The only module that imports the Kafka client (@platformatic/kafka). Topics, a producer and a consumer in kccr's
 * terms; failures become KccrErrors with the catalogue's retriable flag.
 */
import {
  AclOperations,
  AclPermissionTypes,
  Admin,
  ConfigResourceTypes,
  ConnectionPool,
  Consumer,
  IS_CONTROL,
  Producer,
  ResourcePatternTypes,
  ResourceTypes,
} from '@platformatic/kafka';
import type { ConnectionOptions, SASLOptions } from '@platformatic/kafka';
import { errorMessage, KccrError } from '../errors.js';
import { backoffDelay, retry, TRANSIENT_BACKOFF } from '../retry.js';
import type { Logger } from '../logger.js';
import { groupBySize } from '../grouping.js';

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

/**
 * One Kafka ACL in kccr's terms: `principal` (`User:<name>`) may (`allow`) or may not (`deny`, which wins over any
 * allow) do `operations` on the topics or groups named `name` exactly (`literal`) or starting with it (`prefixed`).
 */
export interface KafkaAcl {
  readonly principal: string;
  readonly resource: 'topic' | 'group' | 'cluster';
  readonly pattern: 'literal' | 'prefixed';
  readonly name: string;
  readonly operations: readonly KafkaAclOperation[];
  readonly permission: 'allow' | 'deny';
}

export type KafkaAclOperation =
  'all' | 'read' | 'write' | 'create' | 'delete' | 'alter' | 'describe' | 'describe_configs' | 'alter_configs' | 'idempotent_write';

const SASL_MECHANISMS = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' } as const;

/** Settings a caller may change: a health probe wants one quick try. */
export interface ClientTuning {
  /** Tries of a request beyond the first, in the client (default 5). */
  readonly retries?: number;
  readonly connectTimeout?: number;
}

/** What every client of one adapter shares: brokers, TLS, SASL, timeouts and the client's own retries. */
function clientOptions(conn: KafkaConnection, tuning: ClientTuning = {}) {
  const connection: ConnectionOptions = {
    connectTimeout: tuning.connectTimeout ?? 5000,
    requestTimeout: 30_000,
    ...(conn.ssl ? { tls: conn.ssl.ca ? { ca: [conn.ssl.ca] } : {} } : {}),
    ...(conn.sasl
      ? { sasl: { mechanism: SASL_MECHANISMS[conn.sasl.mechanism], username: conn.sasl.username, password: conn.sasl.password } satisfies SASLOptions }
      : {}),
  };
  return {
    connection,
    base: {
      clientId: conn.clientId,
      bootstrapBrokers: [...conn.brokers],
      ...connection,
      // Each request is tried a few times by the client; beyond that the caller's own retry (forever, with backoff) takes over.
      retries: tuning.retries ?? 5,
      retryDelay: (_client: unknown, _op: string, attempt: number) => Math.min(200 * 2 ** (attempt - 1), 5000),
      autocreateTopics: false,
    },
  };
}

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

/** The client's own error codes that stand for refused credentials (a failed SASL exchange). */
const CLIENT_CREDENTIAL_CODES = new Set(['PLT_KFK_AUTHENTICATION']);
/** The client's own error codes for what the server or the client cannot do at all: no retry helps. */
const CLIENT_PERMANENT_CODES = new Set(['PLT_KFK_UNSUPPORTED_COMPRESSION', 'PLT_KFK_UNSUPPORTED_API', 'PLT_KFK_UNSUPPORTED']);

/**
 * An idempotent producer whose broker lost its state (a restart without the producer's id, an epoch moved on)
 * answers these for good; a new producer (a new producer id) sends again. Duplicates are harmless downstream.
 */
const KAFKA_PRODUCER_STATE_ERRORS = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
  'DUPLICATE_SEQUENCE_NUMBER',
]);

interface ClientErrorShape {
  name?: string;
  code?: string;
  /** The Kafka protocol error, e.g. TOPIC_AUTHORIZATION_FAILED. */
  apiId?: string;
  message?: string;
  cause?: unknown;
  /** MultipleErrors (an AggregateError): every attempt, or every partition's error of one response. */
  errors?: unknown[];
}

/** Every Kafka protocol error id and client error code in an error tree (causes and aggregated errors). */
function kafkaErrorTypes(e: unknown): { apiIds: string[]; codes: string[] } {
  const apiIds: string[] = [];
  const codes: string[] = [];
  const seen = new Set<unknown>();
  const visit = (cur: unknown, depth: number) => {
    if (!cur || typeof cur !== 'object' || depth > 10 || seen.has(cur)) return;
    seen.add(cur);
    const err = cur as ClientErrorShape;
    if (typeof err.apiId === 'string') apiIds.push(err.apiId);
    if (typeof err.code === 'string') codes.push(err.code);
    if (Array.isArray(err.errors)) for (const inner of err.errors) visit(inner, depth + 1);
    visit(err.cause, depth + 1);
  };
  visit(e, 0);
  return { apiIds, codes };
}

/**
 * The decision for every Kafka failure: refused credentials or permissions are an operator's to fix; a request
 * Kafka refuses as malformed (too large, invalid config) is permanent; everything else — connections refused or
 * reset, timeouts, brokers or leaders not available, coordinators loading, a producer whose broker restarted,
 * errors the client itself gave up retrying — is transient.
 */
export function toKafkaError(e: unknown, what: string): KccrError {
  if (e instanceof KccrError) return e;
  const err = e as ClientErrorShape;
  const { apiIds, codes } = kafkaErrorTypes(e);
  // The client's top message is often generic ("Creating topics failed."): the Kafka error it wraps says why, and is
  // what an operator looks up (TOPIC_AUTHORIZATION_FAILED: grant an ACL).
  const said = err.message ?? String(e);
  const message = `${what}: ${said}${apiIds[0] && !said.includes(apiIds[0]) ? ` (${apiIds[0]})` : ''}`;
  const kafkaError = apiIds[0] ?? codes.find((c) => c !== 'PLT_KFK_MULTIPLE' && c !== 'PLT_KFK_RESPONSE') ?? err.name;
  const details = kafkaError ? { kafkaError } : {};
  if (apiIds.some((t) => KAFKA_CREDENTIAL_ERRORS.has(t)) || codes.some((c) => CLIENT_CREDENTIAL_CODES.has(c)))
    return new KccrError('KAFKA_UNAUTHORIZED', message, details, { cause: e });
  if (apiIds.some((t) => KAFKA_PERMANENT_ERRORS.has(t)) || codes.some((c) => CLIENT_PERMANENT_CODES.has(c)))
    return new KccrError('KAFKA_REJECTED', message, details, { cause: e });
  return new KccrError('KAFKA_UNAVAILABLE', message, details, { cause: e });
}

function hasApiError(e: unknown, ids: ReadonlySet<string> | string): boolean {
  const { apiIds } = kafkaErrorTypes(e);
  return typeof ids === 'string' ? apiIds.includes(ids) : apiIds.some((t) => ids.has(t));
}

function producerStateLost(e: unknown): boolean {
  return hasApiError(e, KAFKA_PRODUCER_STATE_ERRORS) || /producer.*(fenced|epoch)|sequence/i.test(errorMessage(e));
}

/** One Kafka ACL entry per operation, as the protocol carries them. */
function aclEntries(acls: readonly KafkaAcl[]) {
  const resource = { topic: ResourceTypes.TOPIC, group: ResourceTypes.GROUP, cluster: ResourceTypes.CLUSTER } as const;
  return acls.flatMap((a) =>
    a.operations.map((op) => ({
      resourceType: resource[a.resource],
      resourceName: a.name,
      resourcePatternType: a.pattern === 'prefixed' ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
      principal: a.principal,
      host: '*',
      operation: AclOperations[op.toUpperCase() as Uppercase<KafkaAclOperation>],
      permissionType: a.permission === 'deny' ? AclPermissionTypes.DENY : AclPermissionTypes.ALLOW,
    })),
  );
}

/** Group states as Kafka names them in DescribeGroups (this client may give them in upper snake case). */
const GROUP_STATES: Record<string, string> = {
  PREPARING_REBALANCE: 'PreparingRebalance',
  COMPLETING_REBALANCE: 'CompletingRebalance',
  STABLE: 'Stable',
  DEAD: 'Dead',
  EMPTY: 'Empty',
};

/** ListOffsets' special timestamps: the earliest offset, and the next one to be written. */
const EARLIEST = -2n;
const LATEST = -1n;

export class KafkaAdapter {
  private admin?: Admin;
  private readonly options: ReturnType<typeof clientOptions>;

  constructor(
    readonly connection: KafkaConnection,
    private readonly logger?: Logger,
    tuning?: ClientTuning,
  ) {
    this.options = clientOptions(connection, tuning);
  }

  private adminClient(): Admin {
    this.admin ??= new Admin({ ...this.options.base });
    return this.admin;
  }

  /** The topics of the cluster (internal ones aside). */
  async listTopics(): Promise<string[]> {
    try {
      return await this.adminClient().listTopics();
    } catch (e) {
      throw toKafkaError(e, `listing the topics of Kafka at ${this.connection.brokers.join(',')}`);
    }
  }

  /** Whether the cluster answers: it names its brokers and a controller. */
  async clusterReady(): Promise<boolean> {
    try {
      const meta = await this.adminClient().metadata({ topics: [], forceUpdate: true });
      return meta.brokers.size > 0 && meta.controllerId >= 0;
    } catch (e) {
      throw toKafkaError(e, `reading the metadata of Kafka at ${this.connection.brokers.join(',')}`);
    }
  }

  async partitionCount(topic: string): Promise<number | undefined> {
    const admin = this.adminClient();
    try {
      const topics = await admin.listTopics();
      if (!topics.includes(topic)) return undefined;
      const meta = await admin.metadata({ topics: [topic], forceUpdate: true });
      return meta.topics.get(topic)?.partitionsCount;
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
        throw new KccrError('CONFLICT', `topic ${topic} has ${existing} partitions but ${partitions} are needed (one per shard); delete or rename the topic`, {
          topic,
          existing,
          partitions,
        });
      }
      return 'exists';
    }
    const admin = this.adminClient();
    try {
      await admin.createTopics({ topics: [topic], partitions, replicas: -1, configs: Object.entries(configs).map(([name, value]) => ({ name, value })) });
    } catch (e) {
      // Another process may have created it between our look and our create.
      if (hasApiError(e, 'TOPIC_ALREADY_EXISTS') || /already exists/i.test(errorMessage(e))) return this.ensureTopic(topic, partitions, configs);
      throw toKafkaError(e, `creating topic ${topic}`);
    }
    await this.waitForLeaders(topic, partitions);
    return 'created';
  }

  /** A topic just created has no leaders for a moment; producing or fetching then fails. */
  private async waitForLeaders(topic: string, partitions: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (let attempt = 1; Date.now() < deadline; attempt++) {
      try {
        const meta = await this.adminClient().metadata({ topics: [topic], forceUpdate: true });
        const t = meta.topics.get(topic);
        if (t && t.partitionsCount === partitions && t.partitions.every((p) => p && p.leader >= 0)) return;
      } catch {
        // not known yet
      }
      await sleep(Math.min(50 * attempt, 500));
    }
  }

  /** The topic's effective configuration values asked for (its own, else the broker's default). */
  async topicConfig(topic: string, names: readonly string[]): Promise<Record<string, string>> {
    try {
      const r = await this.adminClient().describeConfigs({
        includeSynonyms: false,
        resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: topic, configurationKeys: [...names] }],
      });
      return Object.fromEntries((r[0]?.configs ?? []).map((c) => [c.name, c.value ?? '']));
    } catch (e) {
      throw toKafkaError(e, `reading the configuration of topic ${topic}`);
    }
  }

  async deleteTopics(topics: string[]): Promise<void> {
    try {
      await this.adminClient().deleteTopics({ topics });
    } catch (e) {
      throw toKafkaError(e, `deleting topics ${topics.join(',')}`);
    }
  }

  /** Per partition of a topic, the offset ListOffsets gives for `timestamp` (or a special one). */
  private async listOffsets(topic: string, timestamp: bigint): Promise<{ partition: number; offset: bigint }[]> {
    const admin = this.adminClient();
    const meta = await admin.metadata({ topics: [topic] });
    const count = meta.topics.get(topic)?.partitionsCount ?? 0;
    const r = await admin.listOffsets({ topics: [{ name: topic, partitions: Array.from({ length: count }, (_, p) => ({ partitionIndex: p, timestamp })) }] });
    return (r[0]?.partitions ?? []).map((p) => ({ partition: p.partitionIndex, offset: p.offset })).sort((a, b) => a.partition - b.partition);
  }

  /**
   * Earliest and next offset of every partition of a topic. Read-only, so failures are retried a few times:
   * right after a topic is created, the client's metadata may not know its leaders yet.
   */
  async offsets(topic: string): Promise<{ partition: number; low: string; high: string }[]> {
    return retry(
      async () => {
        try {
          const [low, high] = await Promise.all([this.listOffsets(topic, EARLIEST), this.listOffsets(topic, LATEST)]);
          const lows = new Map(low.map((p) => [p.partition, p.offset]));
          return high.map((p) => ({ partition: p.partition, low: String(lows.get(p.partition) ?? 0n), high: String(p.offset) }));
        } catch (e) {
          this.adminClient().clearMetadata();
          throw toKafkaError(e, `reading offsets of topic ${topic}`);
        }
      },
      { attempts: 5, initialMs: 200, maxMs: 1000 },
    );
  }

  /** The group's committed offsets of one topic; -1 for a partition without one. */
  async groupOffsets(groupId: string, topic: string): Promise<{ partition: number; offset: string }[]> {
    try {
      const r = await this.adminClient().listConsumerGroupOffsets({ groups: [groupId] });
      const t = r.find((g) => g.groupId === groupId)?.topics.find((x) => x.name === topic);
      return (t?.partitions ?? []).map((p) => ({ partition: p.partitionIndex, offset: String(p.committedOffset) })).sort((a, b) => a.partition - b.partition);
    } catch (e) {
      throw toKafkaError(e, `reading offsets of group ${groupId}`);
    }
  }

  /** Per partition, the offset of the first record at or after `timestamp` (epoch ms); the partition's end when none is. */
  async offsetsByTimestamp(topic: string, timestamp: number): Promise<{ partition: number; offset: string }[]> {
    try {
      const [at, high] = await Promise.all([this.listOffsets(topic, BigInt(timestamp)), this.listOffsets(topic, LATEST)]);
      const highs = new Map(high.map((p) => [p.partition, p.offset]));
      // No record at or after the time: -1, which is reported as the partition's end.
      return at.map((p) => ({ partition: p.partition, offset: String(p.offset < 0n ? (highs.get(p.partition) ?? 0n) : p.offset) }));
    } catch (e) {
      throw toKafkaError(e, `reading offsets of topic ${topic} at ${new Date(timestamp).toISOString()}`);
    }
  }

  /** The group's state as its coordinator tells it: Empty, Stable, PreparingRebalance, CompletingRebalance, Dead. */
  async groupState(groupId: string): Promise<string> {
    try {
      const r = await this.adminClient().describeGroups({ groups: [groupId] });
      const state = r.get(groupId)?.state as string | undefined;
      return state === undefined ? 'Dead' : (GROUP_STATES[state] ?? state);
    } catch (e) {
      throw toKafkaError(e, `describing group ${groupId}`);
    }
  }

  /**
   * Sets a consumer group's committed offsets for these partitions of one topic; its other topics and partitions keep
   * theirs. Kafka takes this only while the group has no running member, so the caller stops its consumers first; a
   * group with members is a retriable KAFKA_UNAVAILABLE (members may be on their way out). Done with
   * OffsetCommit through the admin API (AlterConsumerGroupOffsets); the result is read back and compared.
   */
  async setGroupOffsets(groupId: string, topic: string, partitions: readonly { partition: number; offset: string }[]): Promise<void> {
    if (partitions.length === 0) return;
    const state = await this.groupState(groupId);
    if (state !== 'Empty' && state !== 'Dead') {
      throw new KccrError(
        'KAFKA_UNAVAILABLE',
        `consumer group ${groupId} has running members (state ${state}); its offsets can only be set while every member is stopped`,
        { groupId, state },
      );
    }
    try {
      await this.adminClient().alterConsumerGroupOffsets({
        groupId,
        topics: [{ name: topic, partitionOffsets: partitions.map((p) => ({ partition: p.partition, offset: BigInt(p.offset) })) }],
      });
    } catch (e) {
      throw toKafkaError(e, `setting offsets of group ${groupId} for ${topic}`);
    }
    const now = new Map((await this.groupOffsets(groupId, topic)).map((p) => [p.partition, p.offset]));
    const wrong = partitions.filter((p) => now.get(p.partition) !== p.offset);
    if (wrong.length > 0) {
      throw new KccrError(
        'KAFKA_UNAVAILABLE',
        `group ${groupId} did not take the offsets of ${topic} for partitions ${wrong.map((p) => p.partition).join(', ')}`,
        { groupId, topic },
      );
    }
  }

  /**
   * Adds ACLs (an ACL Kafka already holds is left as it is, so this may run at every start). Needs a principal with
   * Alter on the cluster; refused otherwise with KAFKA_UNAUTHORIZED.
   */
  async createAcls(acls: readonly KafkaAcl[]): Promise<void> {
    if (acls.length === 0) return;
    const creations = aclEntries(acls);
    try {
      await this.adminClient().createAcls({ creations });
    } catch (e) {
      throw toKafkaError(e, `creating ${creations.length} ACLs`);
    }
  }

  /** Removes exactly these ACLs (those Kafka does not hold are ignored). */
  async deleteAcls(acls: readonly KafkaAcl[]): Promise<void> {
    if (acls.length === 0) return;
    const filters = aclEntries(acls);
    try {
      await this.adminClient().deleteAcls({ filters });
    } catch (e) {
      throw toKafkaError(e, `deleting ${filters.length} ACLs`);
    }
  }

  /** Deletes a consumer group without members (its committed offsets go with it). */
  async deleteGroup(groupId: string): Promise<void> {
    try {
      await this.adminClient().deleteGroups({ groups: [groupId] });
    } catch (e) {
      throw toKafkaError(e, `deleting group ${groupId}`);
    }
  }

  producer(opts: { compression?: 'none' | 'gzip'; maxRequestBytes?: number } = {}): KafkaProducer {
    const compression = opts.compression === 'gzip' ? 'gzip' : 'none';
    return new KafkaProducer(
      // Idempotent, acks from all in-sync replicas, one request in flight. `retries` must stay >= 2: with fewer, this
      // client's idempotent producer retries forever, and a send would never fail back to the caller.
      () => new Producer({ ...this.options.base, retries: Math.max(2, this.options.base.retries), idempotent: true, acks: -1, compression, timeout: 30_000 }),
      opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    );
  }

  consumer(groupId: string, opts: { maxBytesPerPartition?: number; sessionTimeoutMs?: number } = {}): KafkaConsumer {
    const sessionTimeout = opts.sessionTimeoutMs ?? 10_000;
    return new KafkaConsumer(
      groupId,
      {
        base: this.options.base,
        connection: this.options.connection,
        // Short enough that a crashed member's partitions move on within seconds, long enough for one _bulk (the
        // client heartbeats on its own timer, whatever the handlers do).
        sessionTimeout,
        heartbeatInterval: 2000,
        rebalanceTimeout: Math.max(sessionTimeout, 30_000),
        // Bounds memory whatever the backlog: at most this much is fetched ahead per partition.
        maxBytesPerPartition: opts.maxBytesPerPartition ?? 1024 * 1024,
        maxBytes: 10 * 1024 * 1024,
        maxWaitTime: 250,
      },
      () => this.listTopics(),
      this.logger,
    );
  }

  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.close().catch(() => undefined);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
export function chunkByBytes<T extends { key: string; value: Buffer | null; headers?: Record<string, string> }>(
  messages: readonly T[],
  maxBytes: number,
): T[][] {
  const size = (m: T) =>
    Buffer.byteLength(m.key) + (m.value?.length ?? 0) + RECORD_OVERHEAD + Object.entries(m.headers ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0);
  return groupBySize(messages, size, maxBytes);
}

/** Record headers as this client wants them: Buffers, names included. */
function outgoingHeaders(headers: Record<string, string> | undefined): { headers?: Map<Buffer, Buffer> } {
  return headers ? { headers: new Map(Object.entries(headers).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])) } : {};
}

/** Record headers as strings (the last value of a repeated name); absent when there are none. */
function headersOf(headers: readonly [Buffer | null, Buffer | null][]): { headers?: Record<string, string> } {
  if (headers.length === 0) return {};
  const out: Record<string, string> = {};
  for (const [name, value] of headers) {
    if (name !== null && value !== null) out[name.toString()] = value.toString();
  }
  return Object.keys(out).length > 0 ? { headers: out } : {};
}

export class KafkaProducer {
  private producer?: Producer;
  /** Sends run one after the other: the records of one call are contiguous in each partition (chunks stay together). */
  private sending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly create: () => Producer,
    private readonly maxRequestBytes: number,
  ) {}

  /** Creates the producer and asks Kafka for its producer id, so that a Kafka out of reach shows here. */
  async connect(): Promise<void> {
    if (this.producer) return;
    const producer = this.create();
    try {
      await producer.initIdempotentProducer({});
      this.producer = producer;
    } catch (e) {
      await producer.close().catch(() => undefined);
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
          messages: chunk.map((m) => ({ topic, key: Buffer.from(m.key), value: m.value as Buffer, partition: m.partition, ...outgoingHeaders(m.headers) })),
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
    await old?.close().catch(() => undefined);
  }

  async disconnect(): Promise<void> {
    await this.reset();
  }
}

interface ConsumerSettings {
  readonly base: ReturnType<typeof clientOptions>['base'];
  readonly connection: ConnectionOptions;
  readonly sessionTimeout: number;
  readonly heartbeatInterval: number;
  readonly rebalanceTimeout: number;
  readonly maxBytesPerPartition: number;
  readonly maxBytes: number;
  readonly maxWaitTime: number;
}

type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>;
type FetchRequestTopic = Parameters<Consumer['fetch']>[0]['topics'][number];

type BatchHandler = (batch: ConsumedBatch, control: BatchControl) => Promise<void>;

/** One assigned partition of one membership: where to fetch, what is fetched ahead, whether a handler has it. */
interface Part {
  readonly topic: string;
  readonly partition: number;
  readonly key: string;
  /** The next offset to fetch; undefined until the committed offset is known. */
  position?: bigint;
  /** Bumped whenever the position is set from outside the fetch (a seek, a batch left unfinished): a fetch asked at an older one is dropped. */
  epoch: number;
  /** Records fetched ahead of the handler, in offset order, and their bytes. */
  buffer: ConsumedMessage[];
  bytes: number;
  highWatermark: string;
  /** A fetch for this partition is in flight. */
  fetching: boolean;
  /** The batch a handler works on. */
  running?: Promise<void>;
  /** After a handler threw: not handed to it again before this time. */
  notBefore: number;
  /** Set once the partition left this membership's assignment (or the consumer stopped or restarted). */
  revoked: boolean;
}

/** Fetches of a broker or topic that failed are tried again after this (the client itself retries each request first). */
const FETCH_BACKOFF = { initialMs: 250, maxMs: 5000 };
const OFFSET_OUT_OF_RANGE = 1;

const partKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** Bytes a consumed record holds in memory, for the fetch-ahead bound. */
function recordBytes(m: ConsumedMessage): number {
  let n = 64 + (m.key?.length ?? 0) + (m.value?.length ?? 0);
  if (m.headers) for (const [k, v] of Object.entries(m.headers)) n += k.length + v.length;
  return n;
}

/**
 * A consumer group member whose fetching kccr drives itself: the client (@platformatic/kafka) keeps the membership
 * (join, sync, heartbeats on its own timer, rejoining on a rebalance) and answers fetch, commit and offset requests;
 * this class keeps, per assigned partition, the fetch position, the records fetched ahead and whether a handler has
 * it, which gives per-partition pause, resume and seek.
 *
 * - Fetching runs ahead of the handlers: a partition is fetched again while its handler works, as long as what it
 *   holds fetched is below maxBytesPerPartition (total ≈ partitions × maxBytesPerPartition, plus the batches being
 *   handled); a partition at the bound is not fetched (backpressure) until its handler takes the records.
 * - Batches: all a partition holds fetched, in offset order, one batch of a partition at a time, up to
 *   partitionsConsumedConcurrently partitions at once.
 * - What a handler leaves unresolved is fetched again: after a batch, a partition whose last record was not resolved
 *   (or committed) moves its fetch position back to the first record after the last resolved one, and drops what it
 *   fetched ahead.
 * - A rebalance: partitions that stay keep their position and records; new ones start at the group's committed
 *   offset (else the beginning or the end, per fromBeginning); lost ones are dropped and their batches see isActive()
 *   false.
 * - A membership that dies (a rejoin that failed, heartbeats stalled) is built anew with backoff: the restarts are
 *   counted and logged. Fetch failures (a broker down or hung) are retried with backoff, forever.
 */
export class KafkaConsumer {
  private client?: Consumer;
  private pool?: ConnectionPool;
  /** Which membership is current: events and fetches of an older one are ignored. */
  private incarnation = 0;
  private topics: (string | RegExp)[] = [];
  private subscribed: string[] = [];
  private fromBeginning = true;
  private handler?: BatchHandler;
  private concurrency = 1;
  private stopped = false;
  private readonly parts = new Map<string, Part>();
  /** Paused partitions, kept across rebalances and restarts. */
  private readonly paused = new Map<string, Set<number>>();
  /** Brokers with a fetch in flight (one at a time per broker). */
  private readonly fetchingNodes = new Set<number>();
  /** Brokers and topics waiting out failures: how many in a row, and until when. */
  private readonly nodeWait = new Map<number, { failures: number; until: number }>();
  private readonly topicWait = new Map<string, { failures: number; until: number }>();
  private readonly running = new Set<Promise<void>>();
  private restartTimer?: NodeJS.Timeout;
  private wakeTimer?: NodeJS.Timeout;
  /** Where the round-robin hand-out of batches goes on from. */
  private cursor = 0;
  /** Crashes after which the consumer had to be built anew. */
  restarts = 0;

  constructor(
    readonly groupId: string,
    private readonly settings: ConsumerSettings,
    private readonly listTopics: () => Promise<string[]>,
    private readonly logger?: Logger,
  ) {}

  /** The topics to follow (names, or patterns matched against the topics that exist now), from the beginning or the end when the group has no offset. */
  async subscribe(topics: readonly (string | RegExp)[], fromBeginning = true): Promise<void> {
    this.topics = [...topics];
    this.fromBeginning = fromBeginning;
    try {
      this.subscribed = await this.resolveTopics();
    } catch (e) {
      throw toKafkaError(e, `subscribing to ${topics.join(',')}`);
    }
  }

  private async resolveTopics(): Promise<string[]> {
    const existing = await this.listTopics();
    const names = new Set<string>();
    for (const t of this.topics) {
      if (typeof t === 'string') names.add(t);
      else for (const name of existing) if (t.test(name)) names.add(name);
    }
    return [...names].sort();
  }

  /**
   * Hands each fetched batch (one partition, offset order) to `handler`. Nothing is resolved or committed here:
   * the handler calls `control.commit` after the writes the batch stands for have succeeded (or `control.resolve`
   * when it keeps no committed position). What it has not resolved is fetched again.
   */
  async run(handler: BatchHandler, opts: { partitionsConsumedConcurrently?: number } = {}): Promise<void> {
    this.handler = handler;
    this.concurrency = Math.max(1, opts.partitionsConsumedConcurrently ?? 1);
    await this.start();
  }

  /** Joins the group with a new client; a failure is handled as a crash (built anew with backoff). */
  private async start(): Promise<void> {
    if (this.stopped) return;
    const incarnation = ++this.incarnation;
    const { base, connection, sessionTimeout, heartbeatInterval, rebalanceTimeout, maxBytes, maxWaitTime } = this.settings;
    const client = new Consumer({
      ...base,
      groupId: this.groupId,
      autocommit: false,
      sessionTimeout,
      heartbeatInterval,
      rebalanceTimeout,
      maxBytes,
      maxWaitTime,
      minBytes: 1,
    });
    // Fetches wait up to maxWaitTime at the broker: they get connections of their own, away from heartbeats and commits.
    const pool = new ConnectionPool(base.clientId, { ...connection });
    pool.on('failed', () => undefined);
    this.client = client;
    this.pool = pool;
    client.on('error', (e: Error) => this.crashed(incarnation, e));
    client.on('consumer:heartbeat:stalled', (p) => this.crashed(incarnation, p.lastError ?? new Error(`no heartbeat for ${p.stalledFor} ms`)));
    client.on('consumer:group:join', () => void this.assigned(incarnation));
    try {
      if (this.topics.some((t) => typeof t !== 'string')) this.subscribed = await this.resolveTopics();
      for (const topic of this.subscribed) client.topics.track(topic);
      await client.joinGroup({ sessionTimeout, heartbeatInterval, rebalanceTimeout });
    } catch (e) {
      this.crashed(incarnation, e);
    }
  }

  /** The membership died: drop it, and build a new one after a backoff. */
  private crashed(incarnation: number, e: unknown): void {
    if (incarnation !== this.incarnation || this.stopped) return;
    this.incarnation++;
    this.restarts++;
    const delay = backoffDelay(Math.min(this.restarts, 8), TRANSIENT_BACKOFF.initialMs, TRANSIENT_BACKOFF.maxMs);
    this.logger?.warn({ groupId: this.groupId, err: errorMessage(e), restarts: this.restarts, retryInMs: delay }, 'Kafka consumer stopped; starting it again');
    this.dropParts(() => true);
    void this.closeClient();
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.start();
    }, delay);
  }

  private async closeClient(): Promise<void> {
    const { client, pool } = this;
    this.client = undefined;
    this.pool = undefined;
    this.nodeWait.clear();
    this.topicWait.clear();
    this.fetchingNodes.clear();
    await Promise.all([client?.close(true).catch(() => undefined), pool?.close().catch(() => undefined)]);
  }

  private dropParts(which: (p: Part) => boolean): void {
    for (const [key, p] of this.parts) {
      if (!which(p)) continue;
      p.revoked = true;
      p.buffer = [];
      p.bytes = 0;
      this.parts.delete(key);
    }
  }

  /** The group gave this member its partitions (after a join or a rebalance). */
  private async assigned(incarnation: number): Promise<void> {
    const client = this.client;
    if (incarnation !== this.incarnation || !client) return;
    const wanted = new Map<string, { topic: string; partition: number }>();
    for (const a of client.assignments ?? []) for (const partition of a.partitions) wanted.set(partKey(a.topic, partition), { topic: a.topic, partition });
    this.dropParts((p) => !wanted.has(p.key));
    const fresh: Part[] = [];
    for (const [key, { topic, partition }] of wanted) {
      if (this.parts.has(key)) continue;
      const p: Part = { topic, partition, key, epoch: 0, buffer: [], bytes: 0, highWatermark: '-1', fetching: false, notBefore: 0, revoked: false };
      this.parts.set(key, p);
      fresh.push(p);
    }
    this.logger?.debug({ groupId: this.groupId, assigned: [...wanted.values()] }, 'Kafka consumer assigned partitions');
    if (fresh.length > 0) await this.findPositions(incarnation, fresh);
    this.pump();
  }

  /** The committed offsets of new partitions, else the beginning or the end; tried again until known (or the partition is gone). */
  private async findPositions(incarnation: number, parts: Part[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const client = this.client;
      const open = parts.filter((p) => !p.revoked && p.position === undefined);
      if (open.length === 0 || incarnation !== this.incarnation || !client) return;
      try {
        const byTopic = new Map<string, number[]>();
        for (const p of open) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition]);
        const committed = await client.listCommittedOffsets({ topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) });
        const missing = open.filter((p) => (committed.get(p.topic)?.[p.partition] ?? -1n) < 0n);
        const ends = missing.length
          ? await client.listOffsets({
              topics: [...new Set(missing.map((p) => p.topic))],
              partitions: Object.fromEntries(
                [...new Set(missing.map((p) => p.topic))].map((t) => [t, missing.filter((p) => p.topic === t).map((p) => p.partition)]),
              ),
              timestamp: this.fromBeginning ? EARLIEST : LATEST,
            })
          : new Map<string, bigint[]>();
        for (const p of open) {
          const c = committed.get(p.topic)?.[p.partition] ?? -1n;
          p.position = c >= 0n ? c : (ends.get(p.topic)?.[p.partition] ?? 0n);
        }
        return;
      } catch (e) {
        const delay = backoffDelay(Math.min(attempt, 8), TRANSIENT_BACKOFF.initialMs, TRANSIENT_BACKOFF.maxMs);
        this.logger?.warn(
          { groupId: this.groupId, err: errorMessage(e), retryInMs: delay },
          'could not read the committed offsets of the assigned partitions; trying again',
        );
        await sleep(delay);
      }
    }
  }

  private isPaused(p: Part): boolean {
    return this.paused.get(p.topic)?.has(p.partition) ?? false;
  }

  /** Starts what can start: fetches for partitions below their bound, batches for idle partitions with records. */
  private pump(): void {
    if (this.stopped || !this.client) return;
    this.dispatch();
    this.fetch();
  }

  private dispatch(): void {
    const all = [...this.parts.values()];
    if (all.length === 0) return;
    const now = Date.now();
    let wakeAt = Infinity;
    for (let i = 0; i < all.length && this.running.size < this.concurrency; i++) {
      const p = all[(this.cursor + i) % all.length]!;
      if (p.running || p.buffer.length === 0 || this.isPaused(p)) continue;
      if (p.notBefore > now) {
        wakeAt = Math.min(wakeAt, p.notBefore);
        continue;
      }
      this.cursor = (this.cursor + i + 1) % all.length;
      this.handBatch(p);
    }
    if (wakeAt !== Infinity && !this.wakeTimer) {
      this.wakeTimer = setTimeout(() => {
        this.wakeTimer = undefined;
        this.pump();
      }, wakeAt - now);
    }
  }

  private handBatch(p: Part): void {
    const messages = p.buffer;
    p.buffer = [];
    p.bytes = 0;
    const epoch = p.epoch;
    const last = BigInt(messages[messages.length - 1]!.offset);
    let resolved = BigInt(messages[0]!.offset) - 1n;
    const owned = () => !p.revoked && this.parts.get(p.key) === p;
    const resolve = (offset: string) => {
      const o = BigInt(offset);
      if (o > resolved) resolved = o;
    };
    const control: BatchControl = {
      heartbeat: async () => undefined,
      isActive: () => owned() && !this.stopped,
      resolve,
      commit: async (nextOffset) => {
        // The fetch position never moves back: records resolved past the commit (chunks held) are not read again.
        resolve(String(BigInt(nextOffset) - 1n));
        if (!owned())
          throw new KccrError(
            'KAFKA_UNAVAILABLE',
            `committing offset ${nextOffset} of ${p.topic}[${p.partition}]: the partition is no longer assigned to this consumer`,
          );
        await this.commit(p.topic, p.partition, nextOffset);
      },
    };
    const batch: ConsumedBatch = { topic: p.topic, partition: p.partition, highWatermark: p.highWatermark, messages };
    const run = (async () => {
      try {
        await this.handler!(batch, control);
      } catch (e) {
        // A handler that throws gets the same records again, after a pause.
        p.notBefore = Date.now() + TRANSIENT_BACKOFF.initialMs * 2;
        this.logger?.warn(
          { groupId: this.groupId, topic: p.topic, partition: p.partition, err: errorMessage(e) },
          'batch handler failed; the records are read again',
        );
      }
    })();
    p.running = run;
    this.running.add(run);
    void run.finally(() => {
      p.running = undefined;
      this.running.delete(run);
      // What the handler left unresolved is read again, from the first record after the last resolved one.
      if (owned() && p.epoch === epoch && resolved < last) {
        p.position = resolved + 1n;
        p.epoch++;
        p.buffer = [];
        p.bytes = 0;
      }
      this.pump();
    });
    // Fetching goes on for this partition while its handler works.
    this.fetch();
  }

  private fetch(): void {
    const client = this.client;
    const pool = this.pool;
    if (this.stopped || !client || !pool) return;
    const now = Date.now();
    const ready = [...this.parts.values()].filter(
      (p) =>
        p.position !== undefined &&
        !p.fetching &&
        !this.isPaused(p) &&
        p.bytes < this.settings.maxBytesPerPartition / 2 &&
        !((this.topicWait.get(p.topic)?.until ?? 0) > now),
    );
    if (ready.length === 0) return;
    const incarnation = this.incarnation;
    // Metadata per topic (cached by the client): a topic that cannot be read (deleted, no leader) waits alone.
    void Promise.all(
      [...new Set(ready.map((p) => p.topic))].map((topic) =>
        client.metadata({ topics: [topic] }).then(
          (m) => [topic, m.topics.get(topic)] as const,
          (e: unknown) => {
            if (incarnation === this.incarnation) this.topicFailed(topic, e);
            return [topic, undefined] as const;
          },
        ),
      ),
    ).then((found) => {
      if (incarnation !== this.incarnation || this.stopped) return;
      const topics = new Map(found.filter((f) => f[1] !== undefined) as [string, NonNullable<(typeof found)[number][1]>][]);
      const byNode = new Map<number, Part[]>();
      for (const p of ready) {
        const leader = topics.get(p.topic)?.partitions[p.partition]?.leader;
        if (
          leader === undefined ||
          leader < 0 ||
          this.fetchingNodes.has(leader) ||
          (this.nodeWait.get(leader)?.until ?? 0) > Date.now() ||
          p.fetching ||
          p.revoked
        )
          continue;
        byNode.set(leader, [...(byNode.get(leader) ?? []), p]);
      }
      const ids = new Map([...topics].map(([name, t]) => [name, t.id]));
      for (const [node, parts] of byNode) this.fetchFrom(client, pool, ids, node, parts);
    });
  }

  private fetchFrom(client: Consumer, pool: ConnectionPool, ids: Map<string, string>, node: number, parts: Part[]): void {
    const incarnation = this.incarnation;
    const topics = new Map<string, FetchRequestTopic>();
    const asked = new Map<string, { part: Part; offset: bigint; epoch: number }>();
    for (const p of parts) {
      const topicId = ids.get(p.topic)!;
      const t = topics.get(topicId) ?? { topicId, partitions: [] };
      t.partitions.push({
        partition: p.partition,
        fetchOffset: p.position!,
        partitionMaxBytes: Math.max(this.settings.maxBytesPerPartition - p.bytes, 64 * 1024),
        currentLeaderEpoch: -1,
        lastFetchedEpoch: -1,
      });
      topics.set(topicId, t);
      asked.set(p.key, { part: p, offset: p.position!, epoch: p.epoch });
      p.fetching = true;
    }
    this.fetchingNodes.add(node);
    const names = new Map([...ids].map(([name, id]) => [id, name]));
    client.fetch(
      { node, topics: [...topics.values()], connectionPool: pool, maxWaitTime: this.settings.maxWaitTime, minBytes: 1, maxBytes: this.settings.maxBytes },
      (error, response) => {
        for (const { part } of asked.values()) part.fetching = false;
        if (incarnation !== this.incarnation || this.stopped) return;
        this.fetchingNodes.delete(node);
        if (error) {
          const partial = (error as { response?: FetchResponse }).response;
          if (partial?.responses) this.partitionErrors(partial, names, asked);
          else this.nodeFailed(node, error);
        } else if (response) {
          this.nodeWait.delete(node);
          this.took(response, names, asked);
        }
        this.pump();
      },
    );
  }

  /** Records of a fetch response into the partitions' buffers, unless the partition moved meanwhile. */
  private took(response: FetchResponse, names: Map<string, string>, asked: Map<string, { part: Part; offset: bigint; epoch: number }>): void {
    for (const t of response.responses) {
      const topic = names.get(t.topicId) ?? t.topicId;
      this.topicWait.delete(topic);
      for (const r of t.partitions) {
        const a = asked.get(partKey(topic, r.partitionIndex));
        if (!a || a.part.revoked || a.part.epoch !== a.epoch || a.part.position !== a.offset) continue;
        const p = a.part;
        p.highWatermark = String(r.highWatermark);
        const batches = r.records ?? [];
        for (const b of batches) {
          const next = b.firstOffset + BigInt(b.lastOffsetDelta) + 1n;
          if (next > p.position!) p.position = next;
          if (b.attributes & IS_CONTROL) continue;
          for (const rec of b.records) {
            const offset = b.firstOffset + BigInt(rec.offsetDelta);
            if (offset < a.offset) continue;
            const m: ConsumedMessage = {
              topic,
              partition: p.partition,
              offset: String(offset),
              key: rec.key ?? null,
              // A tombstone has no value (null), an empty value is an empty Buffer.
              value: rec.value ?? null,
              timestamp: String(b.firstTimestamp + rec.timestampDelta),
              ...headersOf(rec.headers),
            };
            p.buffer.push(m);
            p.bytes += recordBytes(m);
          }
        }
      }
    }
  }

  /**
   * A fetch answered with errors for some partitions: a position outside the log (records removed by retention or
   * compaction) moves to the beginning, or the end; a topic deleted, or a leader moved, waits and is tried again.
   */
  private partitionErrors(response: FetchResponse, names: Map<string, string>, asked: Map<string, { part: Part; offset: bigint; epoch: number }>): void {
    for (const t of response.responses) {
      const topic = names.get(t.topicId) ?? t.topicId;
      for (const r of t.partitions) {
        const a = asked.get(partKey(topic, r.partitionIndex));
        if (!a || r.errorCode === 0 || a.part.epoch !== a.epoch || a.part.position !== a.offset) continue;
        if (r.errorCode !== OFFSET_OUT_OF_RANGE) {
          this.topicFailed(topic, new Error(`fetching ${topic}[${r.partitionIndex}]: Kafka error code ${r.errorCode}`));
          continue;
        }
        const to = this.fromBeginning || a.offset < r.logStartOffset ? r.logStartOffset : r.highWatermark;
        if (to < 0n) {
          a.part.position = undefined;
          void this.findPositions(this.incarnation, [a.part]).then(() => this.pump());
          continue;
        }
        this.logger?.warn(
          { groupId: this.groupId, topic, partition: r.partitionIndex, from: String(a.offset), to: String(to) },
          'fetch position out of range; moving it',
        );
        a.part.position = to;
        a.part.epoch++;
      }
    }
  }

  /** A broker down, hung or refusing: its partitions wait and are fetched again, forever, with backoff. */
  private nodeFailed(node: number, error: unknown): void {
    this.client?.clearMetadata();
    const failures = (this.nodeWait.get(node)?.failures ?? 0) + 1;
    this.nodeWait.set(node, { failures, until: Date.now() + this.wait(failures) });
    const log = failures === 1 || failures % 10 === 0 ? 'warn' : 'debug';
    this.logger?.[log]({ groupId: this.groupId, node, err: errorMessage(error), failures }, 'Kafka fetch failed; trying again');
  }

  /** A topic whose metadata or partitions cannot be read now (deleted, leaders moving): it waits, the others go on. */
  private topicFailed(topic: string, error: unknown): void {
    this.client?.clearMetadata();
    const failures = (this.topicWait.get(topic)?.failures ?? 0) + 1;
    this.topicWait.set(topic, { failures, until: Date.now() + this.wait(failures) });
    const log = failures === 1 || failures % 10 === 0 ? 'warn' : 'debug';
    this.logger?.[log]({ groupId: this.groupId, topic, err: errorMessage(error), failures }, 'cannot fetch this topic now; trying again');
  }

  /** The backoff before fetching again, and a wake-up when it is over. */
  private wait(failures: number): number {
    const delay = backoffDelay(Math.min(failures, 8), FETCH_BACKOFF.initialMs, FETCH_BACKOFF.maxMs);
    setTimeout(() => this.pump(), delay + 1).unref();
    return delay;
  }

  /** Commits `nextOffset` (the offset of the next message to read) for one partition. */
  async commit(topic: string, partition: number, nextOffset: string): Promise<void> {
    const client = this.client;
    try {
      if (!client) throw new Error('the consumer is not a member of its group (restarting or stopped)');
      await client.commit({ offsets: [{ topic, partition, offset: BigInt(nextOffset), leaderEpoch: -1 }] });
    } catch (e) {
      throw toKafkaError(e, `committing offset ${nextOffset} of ${topic}[${partition}]`);
    }
  }

  /** Stops fetching these partitions and handing out their records, until resumed (kept across rebalances). */
  pause(topic: string, partitions: number[]): void {
    const set = this.paused.get(topic) ?? new Set<number>();
    for (const p of partitions) set.add(p);
    this.paused.set(topic, set);
  }

  resume(topic: string, partitions: number[]): void {
    const set = this.paused.get(topic);
    for (const p of partitions) set?.delete(p);
    if (set?.size === 0) this.paused.delete(topic);
    this.pump();
  }

  /** The next fetch of this partition starts at `offset`; what was fetched ahead is dropped. */
  seek(topic: string, partition: number, offset: string): void {
    const p = this.parts.get(partKey(topic, partition));
    if (!p) return;
    p.position = BigInt(offset);
    p.epoch++;
    p.buffer = [];
    p.bytes = 0;
    this.pump();
  }

  /** Lets the batches in flight finish (they see isActive() false and may still commit), then leaves the group. */
  async disconnect(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    await Promise.allSettled([...this.running]);
    this.incarnation++;
    this.dropParts(() => true);
    await this.closeClient();
  }
}
