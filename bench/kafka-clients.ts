/**
 * `npm run bench -- kafka-clients`: the Kafka client on kccr's two hot paths, measured in one process.
 *
 * - produce (the extractor's path): real INDEX envelopes (envelope.ts's indexEvent over ~1 KB sources) encoded with the
 *   schema registry adapter, sent in calls of 1000 records for one partition at a time (a page of one shard), with an
 *   idempotent producer and acks=-1, to a fresh 3-partition topic configured as the extractor configures its topics;
 * - consume (the applier's path): the same topic from the beginning with a fresh group, eachBatch, offsets resolved and
 *   committed every 1000 records and at the end of each batch, 4 partitions consumed concurrently (the applier's
 *   defaults). Records are not decoded or written anywhere: that work does not depend on the client.
 *
 * Clients: kafkajs through kccr's own adapter (services/shared/adapters/kafka.ts, unchanged); `@platformatic/kafka`
 * (pure JavaScript, maintained; 1.22.0 is its last release that runs on Node 20, a dev dependency for this
 * measurement), whose consumer is a stream of records, grouped into per-partition batches below; and, when it can be
 * loaded, `@confluentinc/kafka-javascript` through its KafkaJS-compatible API. Each is wrapped below the way the
 * adapter wraps kafkajs (same settings, same byte chunking, same batch handler). Runs interleave the clients and alternate their
 * order. Figures: messages per second, and CPU seconds of the whole process (process.cpuUsage: user + system, every
 * thread, so librdkafka's native threads count too) per 1000 messages; medians over the runs.
 *   KCCR_BENCH_MESSAGES (default 200000), KCCR_BENCH_RUNS (default 3)
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chunkByBytes, DEFAULT_MAX_REQUEST_BYTES, KafkaAdapter } from '../services/shared/adapters/kafka.js';
import type { BatchControl, ConsumedBatch, OutgoingMessage } from '../services/shared/adapters/kafka.js';
import { SchemaRegistryAdapter } from '../services/shared/adapters/registry.js';
import { envelopeSchema, indexEvent } from '../services/shared/envelope.js';
import type { OriginBase } from '../services/shared/envelope.js';
import { loadStack, uniqueName } from '../test/support/stack.js';
import { documentOfAbout1KB, median, ROOT, table, writeResults } from './lib.js';

const MESSAGES = Number(process.env.KCCR_BENCH_MESSAGES ?? 200_000);
const RUNS = Number(process.env.KCCR_BENCH_RUNS ?? 3);
const PARTITIONS = 3;
/** Records per send call: the extractor's page (KCCR_EXTRACTOR_BATCH_SIZE). */
const SEND_SIZE = 1000;
/** Records per commit within a batch: the applier's flush (KCCR_APPLIER_BATCH_SIZE). */
const COMMIT_EVERY = 1000;
/** The applier's defaults: KCCR_APPLIER_CONCURRENCY and KCCR_APPLIER_MAX_BYTES_PER_PARTITION. */
const CONCURRENCY = 4;
const MAX_BYTES_PER_PARTITION = 2 * 1024 * 1024;
/** The extractor's topic configuration (index-extractor.ts, default KCCR_TOPIC_MAX_MESSAGE_BYTES). */
const TOPIC_CONFIG = { 'cleanup.policy': 'compact', 'compression.type': 'producer', 'max.message.bytes': String(16 * 1024 * 1024) };
const CONSUME_TIMEOUT_MS = 600_000;

type BatchHandler = (batch: ConsumedBatch, control: BatchControl) => Promise<void>;

/** What the bench needs of a client: the adapter's producer and consumer shapes. */
interface BenchProducer {
  connect(): Promise<void>;
  send(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  disconnect(): Promise<void>;
}

interface BenchConsumer {
  subscribe(topics: readonly string[], fromBeginning: boolean): Promise<void>;
  run(handler: BatchHandler, opts: { partitionsConsumedConcurrently: number }): Promise<void>;
  disconnect(): Promise<void>;
}

interface ClientUnderTest {
  readonly name: string;
  readonly version: string;
  producer(): BenchProducer;
  consumer(groupId: string): BenchConsumer;
}

// ---- @confluentinc/kafka-javascript, KafkaJS-compatible API: only what is used here (from its types/kafkajs.d.ts) ----

interface CkjsMessage {
  key: Buffer | null;
  value: Buffer | null;
  offset: string;
  timestamp: string;
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
  run(config: { eachBatchAutoResolve: boolean; partitionsConsumedConcurrently: number; eachBatch: (payload: CkjsEachBatchPayload) => Promise<void> }): Promise<void>;
  commitOffsets(offsets: { topic: string; partition: number; offset: string }[]): Promise<void>;
}

interface CkjsKafka {
  producer(config: Record<string, unknown>): CkjsProducer;
  consumer(config: Record<string, unknown>): CkjsConsumer;
}

interface CkjsModule {
  KafkaJS: { Kafka: new (config: Record<string, unknown>) => CkjsKafka; logLevel: { WARN: number } };
  librdkafkaVersion?: string;
}

const CONFLUENT = '@confluentinc/kafka-javascript';

/** The confluent client when it is installed and its native binding loads; otherwise why not. */
function loadConfluent(): { module: CkjsModule; version: string } | { reason: string } {
  const require = createRequire(import.meta.url);
  try {
    const module = require(CONFLUENT) as CkjsModule;
    const pkg = require(`${CONFLUENT}/package.json`) as { version: string };
    return { module, version: `${pkg.version} (librdkafka ${module.librdkafkaVersion ?? '?'})` };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(`'${CONFLUENT}'`)) {
      return { reason: `${CONFLUENT} is not installed (\`npm install --no-save ${CONFLUENT}\` to measure it; its install needs its prebuilt binary from GitHub or a source build of librdkafka)` };
    }
    return { reason: `${CONFLUENT} does not load: ${err.message ?? String(e)}` };
  }
}

/** The adapter's producer, on the confluent client: idempotent, acks=-1, one request of at most 768 KiB at a time. */
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
    for (const chunk of chunkByBytes(messages, DEFAULT_MAX_REQUEST_BYTES)) {
      await this.producer.send({ topic, messages: chunk.map((m) => ({ key: m.key, value: m.value, partition: m.partition, ...(m.headers ? { headers: m.headers } : {}) })) });
    }
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect().catch(() => undefined);
  }
}

/** The adapter's consumer, on the confluent client: nothing resolved or committed but what the handler says. */
class ConfluentConsumer implements BenchConsumer {
  private connected = false;

  constructor(private readonly consumer: CkjsConsumer) {}

  async subscribe(topics: readonly string[]): Promise<void> {
    // fromBeginning is a consumer setting with this client (set in confluentClient below), not a subscribe option.
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
            messages: batch.messages.map((m) => ({ topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value, timestamp: m.timestamp })),
          },
          {
            heartbeat: () => payload.heartbeat(),
            isActive: () => payload.isRunning() && !payload.isStale(),
            resolve: (offset) => payload.resolveOffset(offset),
            commit: async (nextOffset) => {
              payload.resolveOffset(String(BigInt(nextOffset) - 1n));
              await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: nextOffset }]);
            },
          },
        );
      },
    });
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.consumer.disconnect().catch(() => undefined);
  }
}

function confluentClient(module: CkjsModule, version: string, brokers: readonly string[]): ClientUnderTest {
  const { Kafka, logLevel } = module.KafkaJS;
  const kafka = new Kafka({
    kafkaJS: { clientId: 'kccr-bench', brokers: [...brokers], connectionTimeout: 5000, requestTimeout: 30_000, retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 }, logLevel: logLevel.WARN },
  });
  return {
    name: CONFLUENT,
    version,
    producer: () => new ConfluentProducer(kafka.producer({ kafkaJS: { idempotent: true, maxInFlightRequests: 1, acks: -1, compression: 'none', allowAutoTopicCreation: false } })),
    consumer: (groupId) =>
      new ConfluentConsumer(
        kafka.consumer({
          kafkaJS: {
            groupId,
            fromBeginning: true,
            autoCommit: false,
            allowAutoTopicCreation: false,
            sessionTimeout: 10_000,
            heartbeatInterval: 2000,
            maxBytesPerPartition: MAX_BYTES_PER_PARTITION,
            maxBytes: 10 * 1024 * 1024,
            maxWaitTimeInMs: 250,
          },
          // Its eachBatch hands at most 32 records by default; the applier works in batches of up to 1000.
          'js.consumer.max.batch.size': COMMIT_EVERY,
        }),
      ),
  };
}

// ---- @platformatic/kafka (pure JavaScript, maintained): only what is used here (from its dist/*.d.ts) ----

interface PltMessage {
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer | undefined;
  value: Buffer | undefined;
  timestamp: bigint;
}

interface PltStream {
  on(event: 'data', listener: (m: PltMessage) => void): void;
  on(event: 'error', listener: (e: Error) => void): void;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

interface PltModule {
  Producer: new (options: Record<string, unknown>) => { send(options: { messages: Record<string, unknown>[] }): Promise<unknown>; close(): Promise<void> };
  Consumer: new (options: Record<string, unknown>) => {
    consume(options: Record<string, unknown>): Promise<PltStream>;
    commit(options: { offsets: { topic: string; partition: number; offset: bigint; leaderEpoch: number }[] }): Promise<void>;
    close(force?: boolean): Promise<void>;
  };
}

const PLATFORMATIC = '@platformatic/kafka';

/** @platformatic/kafka when it is installed (a dev dependency of kccr, for this measurement); otherwise why not. */
async function loadPlatformatic(): Promise<{ module: PltModule; version: string } | { reason: string }> {
  try {
    const module = (await import(PLATFORMATIC)) as PltModule;
    // Its package exports do not include package.json.
    const pkg = JSON.parse(readFileSync(join(ROOT, 'node_modules', PLATFORMATIC, 'package.json'), 'utf8')) as { version: string };
    return { module, version: pkg.version };
  } catch (e) {
    return { reason: `${PLATFORMATIC} does not load: ${(e as Error).message}` };
  }
}

/** The adapter's producer, on @platformatic/kafka: idempotent, acks=-1, one request of at most 768 KiB at a time. */
class PlatformaticProducer implements BenchProducer {
  private producer?: InstanceType<PltModule['Producer']>;

  constructor(
    private readonly module: PltModule,
    private readonly brokers: readonly string[],
  ) {}

  async connect(): Promise<void> {
    this.producer ??= new this.module.Producer({ clientId: 'kccr-bench', bootstrapBrokers: [...this.brokers], idempotent: true, acks: -1, connectTimeout: 5000, timeout: 30_000, retries: 5, retryDelay: 200 });
  }

  async send(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.connect();
    for (const chunk of chunkByBytes(messages, DEFAULT_MAX_REQUEST_BYTES)) {
      await this.producer!.send({ messages: chunk.map((m) => ({ topic, key: Buffer.from(m.key), value: m.value, partition: m.partition, ...(m.headers ? { headers: m.headers } : {}) })) });
    }
  }

  async disconnect(): Promise<void> {
    await this.producer?.close().catch(() => undefined);
    this.producer = undefined;
  }
}

/**
 * The adapter's consumer, on @platformatic/kafka. Its consumer is a stream of single records, not of batches: the
 * records of one partition that arrive together (until the stream yields to the event loop) are handed over as one
 * batch, with the stream paused while the handler works, so a partition is never handled twice at once.
 */
class PlatformaticConsumer implements BenchConsumer {
  private stream?: PltStream;
  private topics: string[] = [];

  constructor(private readonly consumer: InstanceType<PltModule['Consumer']>) {}

  async subscribe(topics: readonly string[]): Promise<void> {
    this.topics = [...topics];
  }

  async run(handler: BatchHandler, opts: { partitionsConsumedConcurrently: number }): Promise<void> {
    const stream = await this.consumer.consume({ topics: this.topics, mode: 'earliest', autocommit: false, maxBytes: 10 * 1024 * 1024, maxWaitTime: 250, sessionTimeout: 10_000, heartbeatInterval: 2000 });
    this.stream = stream;
    const pending = new Map<number, PltMessage[]>();
    let scheduled = false;
    let active = 0;
    const drain = () => {
      scheduled = false;
      const ready = [...pending].slice(0, Math.max(1, opts.partitionsConsumedConcurrently - active));
      for (const [partition, messages] of ready) {
        pending.delete(partition);
        active++;
        const topic = messages[0]!.topic;
        const batch: ConsumedBatch = {
          topic,
          partition,
          highWatermark: '-1',
          messages: messages.map((m) => ({ topic, partition, offset: String(m.offset), key: m.key ?? null, value: m.value ?? null, timestamp: String(m.timestamp) })),
        };
        void handler(batch, {
          heartbeat: async () => undefined,
          isActive: () => this.stream !== undefined,
          resolve: () => undefined,
          commit: (nextOffset) => this.consumer.commit({ offsets: [{ topic, partition, offset: BigInt(nextOffset), leaderEpoch: -1 }] }),
        }).finally(() => {
          active--;
          if (pending.size > 0) drain();
          else stream.resume();
        });
      }
      if (pending.size > 0 || active > 0) stream.pause();
    };
    stream.on('data', (m) => {
      const list = pending.get(m.partition) ?? [];
      list.push(m);
      pending.set(m.partition, list);
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
    });
    stream.on('error', (e) => console.warn(`${PLATFORMATIC} consumer: ${e.message}`));
  }

  async disconnect(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    await stream?.close().catch(() => undefined);
    await this.consumer.close(true).catch(() => undefined);
  }
}

function platformaticClient(module: PltModule, version: string, brokers: readonly string[]): ClientUnderTest {
  return {
    name: PLATFORMATIC,
    version,
    producer: () => new PlatformaticProducer(module, brokers),
    consumer: (groupId) => new PlatformaticConsumer(new module.Consumer({ clientId: 'kccr-bench', bootstrapBrokers: [...brokers], groupId, connectTimeout: 5000, timeout: 30_000 })),
  };
}

function kafkajsClient(adapter: KafkaAdapter): ClientUnderTest {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'kafkajs', 'package.json'), 'utf8')) as { version: string };
  return {
    name: 'kafkajs (kccr adapter)',
    version,
    producer: () => adapter.producer(),
    consumer: (groupId) => adapter.consumer(groupId, { maxBytesPerPartition: MAX_BYTES_PER_PARTITION }),
  };
}

/** The same with KCCR_TOPIC_COMPRESSION=gzip: what compressing the topic costs on both paths. */
function kafkajsGzipClient(adapter: KafkaAdapter): ClientUnderTest {
  const plain = kafkajsClient(adapter);
  return { ...plain, name: 'kafkajs (kccr adapter), gzip', producer: () => adapter.producer({ compression: 'gzip' }) };
}

// ---- the records ----

/** The extractor's sends: pages of SEND_SIZE INDEX envelopes of one shard each, shards in turn. */
async function buildSends(registry: SchemaRegistryAdapter, total: number): Promise<OutgoingMessage[][]> {
  const schemaId = await registry.register('kccr-bench-kafka-clients-value', envelopeSchema());
  const uuid = () => randomBytes(16).toString('base64url').slice(0, 22);
  const indexUuid = uuid();
  const bases: OriginBase[] = Array.from({ length: PARTITIONS }, (_, shard) => ({ cluster: 'kccr-leader', index: 'bench-clients', indexUuid, historyUuid: uuid(), shard }));
  const seqNos = new Array<number>(PARTITIONS).fill(0);
  const sends: OutgoingMessage[][] = [];
  for (let i = 0, k = 0; i < total; k++) {
    const shard = k % PARTITIONS;
    const size = Math.min(SEND_SIZE, total - i);
    const readAt = Date.now();
    sends.push(
      await Promise.all(
        Array.from({ length: size }, async (_, j) => {
          // Elasticsearch's generated _ids are 20 characters of base64url.
          const id = randomBytes(15).toString('base64url');
          const source = Buffer.from(JSON.stringify(documentOfAbout1KB(i + j, Math.random)));
          const event = indexEvent(bases[shard]!, { id, routing: null, source, seqNo: seqNos[shard]! + j, primaryTerm: 1 }, readAt);
          return { key: id, value: await registry.encode(schemaId, event), partition: shard };
        }),
      ),
    );
    seqNos[shard]! += size;
    i += size;
  }
  return sends;
}

// ---- one measurement ----

interface Measure {
  readonly messages: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly cpuSeconds: number;
  readonly cpuPer1000: number;
}

function measure(messages: number, wallMs: number, cpu: NodeJS.CpuUsage): Measure {
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { messages, seconds: wallMs / 1000, perSecond: messages / (wallMs / 1000), cpuSeconds, cpuPer1000: (cpuSeconds / messages) * 1000 };
}

async function produce(client: ClientUnderTest, topic: string, sends: readonly OutgoingMessage[][], total: number): Promise<Measure> {
  const producer = client.producer();
  try {
    await producer.connect();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const messages of sends) await producer.send(topic, messages);
    return measure(total, performance.now() - t0, process.cpuUsage(cpu0));
  } finally {
    await producer.disconnect();
  }
}

interface ConsumeMeasure extends Measure {
  /** From run() to the first batch: joining the group and the first fetch. Not in perSecond. */
  readonly firstBatchSeconds: number;
  readonly batches: number;
  readonly commits: number;
}

async function consume(client: ClientUnderTest, adapter: KafkaAdapter, topic: string, total: number): Promise<ConsumeMeasure> {
  const ends = new Map((await adapter.offsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  const produced = [...ends.values()].reduce((n, h) => n + h, 0n);
  if (produced !== BigInt(total)) throw new Error(`${topic} holds ${produced} records, ${total} were sent`);
  const groupId = uniqueName('kccr-bench-clients');
  const consumer = client.consumer(groupId);
  const next = new Map<number, bigint>([...ends.keys()].map((p) => [p, 0n]));
  let seen = 0;
  let batches = 0;
  let commits = 0;
  let firstBatchAt: number | undefined;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const complete = () => [...ends].every(([p, high]) => next.get(p)! >= high);

  // The applier's batch handling, minus decoding and writing: commit every COMMIT_EVERY records and at the batch's end.
  const handler: BatchHandler = async (batch, control) => {
    firstBatchAt ??= performance.now();
    batches++;
    let last: string | undefined;
    let pending = 0;
    const commit = async () => {
      if (last === undefined || pending === 0) return;
      const nextOffset = BigInt(last) + 1n;
      await control.commit(String(nextOffset));
      await control.heartbeat();
      commits++;
      pending = 0;
      if (nextOffset > next.get(batch.partition)!) {
        seen += Number(nextOffset - next.get(batch.partition)!);
        next.set(batch.partition, nextOffset);
      }
    };
    for (const m of batch.messages) {
      if (!control.isActive()) break;
      if (!m.value) continue;
      last = m.offset;
      pending++;
      if (pending >= COMMIT_EVERY) await commit();
    }
    await commit();
    if (complete()) done();
  };

  try {
    await consumer.subscribe([topic], true);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await consumer.run(handler, { partitionsConsumedConcurrently: CONCURRENCY });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      finished,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${client.name}: consumed ${seen} of ${total} records of ${topic} in ${CONSUME_TIMEOUT_MS / 1000} s`)), CONSUME_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    const t1 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    const first = firstBatchAt ?? t1;
    return { ...measure(total, t1 - first, cpu), firstBatchSeconds: (first - t0) / 1000, batches, commits };
  } finally {
    await consumer.disconnect();
    // The commits must have reached the group: the applier's restart position depends on them.
    const committed = await adapter.groupOffsets(groupId, topic);
    for (const [p, high] of ends) {
      const c = committed.find((o) => o.partition === p)?.offset;
      if (c !== String(high)) console.warn(`${client.name}: group ${groupId} committed ${c ?? 'nothing'} for ${topic}[${p}], expected ${high}`);
    }
  }
}

// ---- the scenario ----

interface RunResult {
  readonly run: number;
  readonly client: string;
  readonly topic: string;
  readonly produce: Measure;
  readonly consume: ConsumeMeasure;
}

export async function benchKafkaClients(): Promise<void> {
  const stack = loadStack('plain');
  const adapter = new KafkaAdapter({ brokers: stack.kafka.brokers, clientId: 'kccr-bench-admin' });
  const registry = new SchemaRegistryAdapter({ url: stack.registry.url });
  const clients: ClientUnderTest[] = [kafkajsClient(adapter), kafkajsGzipClient(adapter)];
  const platformatic = await loadPlatformatic();
  if ('module' in platformatic) clients.push(platformaticClient(platformatic.module, platformatic.version, stack.kafka.brokers));
  else console.log(`not measured: ${platformatic.reason}`);
  const confluent = loadConfluent();
  if ('module' in confluent) clients.push(confluentClient(confluent.module, confluent.version, stack.kafka.brokers));
  else console.log(`not measured: ${confluent.reason}`);

  try {
    console.log(`building ${MESSAGES} INDEX envelopes (~1 KB sources), encoded with the registry adapter...`);
    const encodeCpu0 = process.cpuUsage();
    const sends = await buildSends(registry, MESSAGES);
    const encodeCpu = measure(MESSAGES, 1, process.cpuUsage(encodeCpu0)).cpuPer1000;
    const all = sends.flat();
    // For scale: the applier decodes every record it consumes (registry adapter, schema cached after the first).
    const decodeCpu0 = process.cpuUsage();
    for (const m of all) await registry.decode(m.value!);
    const decodeCpu = measure(MESSAGES, 1, process.cpuUsage(decodeCpu0)).cpuPer1000;
    console.log(`CPU s/1000 records outside the client: building and encoding ${encodeCpu.toFixed(3)}, decoding ${decodeCpu.toFixed(3)}`);
    const valueBytes = all.reduce((n, m) => n + (m.value?.length ?? 0), 0) / all.length;
    const keyBytes = all.reduce((n, m) => n + Buffer.byteLength(m.key), 0) / all.length;
    console.log(`${sends.length} sends of up to ${SEND_SIZE}; mean record value ${valueBytes.toFixed(0)} B, key ${keyBytes.toFixed(0)} B`);

    const results: RunResult[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const order = run % 2 === 1 ? clients : [...clients].reverse();
      for (const client of order) {
        const topic = uniqueName('kccr-bench-clients');
        await adapter.ensureTopic(topic, PARTITIONS, TOPIC_CONFIG);
        try {
          const p = await produce(client, topic, sends, MESSAGES);
          const c = await consume(client, adapter, topic, MESSAGES);
          const r: RunResult = { run, client: client.name, topic, produce: p, consume: c };
          results.push(r);
          console.log(
            `run ${run} ${client.name}: produce ${p.perSecond.toFixed(0)} msg/s, ${p.cpuPer1000.toFixed(3)} CPU s/1000; ` +
              `consume ${c.perSecond.toFixed(0)} msg/s, ${c.cpuPer1000.toFixed(3)} CPU s/1000 (first batch after ${c.firstBatchSeconds.toFixed(1)} s, ${c.batches} batches, ${c.commits} commits)`,
          );
        } finally {
          await adapter.deleteTopics([topic]).catch(() => undefined);
        }
      }
    }

    const medians = clients.map((client) => {
      const rs = results.filter((r) => r.client === client.name);
      return {
        client: client.name,
        version: client.version,
        producePerSecond: median(rs.map((r) => r.produce.perSecond)),
        produceCpuPer1000: median(rs.map((r) => r.produce.cpuPer1000)),
        consumePerSecond: median(rs.map((r) => r.consume.perSecond)),
        consumeCpuPer1000: median(rs.map((r) => r.consume.cpuPer1000)),
        firstBatchSeconds: median(rs.map((r) => r.consume.firstBatchSeconds)),
      };
    });
    const rows: (string | number)[][] = medians.map((m) => [
      `${m.client} ${m.version}`,
      Math.round(m.producePerSecond),
      m.produceCpuPer1000.toFixed(3),
      Math.round(m.consumePerSecond),
      m.consumeCpuPer1000.toFixed(3),
      m.firstBatchSeconds.toFixed(1),
    ]);
    const [base] = medians;
    for (const other of base ? medians.slice(1) : []) {
      rows.push([
        `ratio ${other.client} / ${base!.client}`,
        (other.producePerSecond / base!.producePerSecond).toFixed(2),
        (other.produceCpuPer1000 / base!.produceCpuPer1000).toFixed(2),
        (other.consumePerSecond / base!.consumePerSecond).toFixed(2),
        (other.consumeCpuPer1000 / base!.consumeCpuPer1000).toFixed(2),
        '-',
      ]);
    }
    const notMeasured = 'reason' in confluent ? `\n\nNot measured: ${confluent.reason}.` : '';
    const md =
      `# Kafka clients: the extractor's produce path and the applier's consume path\n\n` +
      `${MESSAGES} records per run (mean value ${valueBytes.toFixed(0)} B: INDEX envelopes of ~1 KB sources, Avro with the registry's framing; key ${keyBytes.toFixed(0)} B), ` +
      `3-partition topic configured like the extractor's. Produce: idempotent, acks=-1, no compression (the gzip row: KCCR_TOPIC_COMPRESSION=gzip), calls of ${SEND_SIZE} records for one partition at a time, ` +
      `each cut into requests of at most ${DEFAULT_MAX_REQUEST_BYTES / 1024} KiB sent one at a time. Consume: fresh group from the beginning, eachBatch, ` +
      `${CONCURRENCY} partitions concurrently, ${MAX_BYTES_PER_PARTITION / 1024 / 1024} MiB per partition fetch, commit every ${COMMIT_EVERY} records and at each batch's end; ` +
      `msg/s from the first batch to the last commit. CPU: user + system of the whole process (all threads) per 1000 records. ` +
      `Medians of ${RUNS} runs, clients interleaved.${notMeasured}\n\n` +
      `${table(['client', 'produce msg/s', 'produce CPU s/1000', 'consume msg/s', 'consume CPU s/1000', 'first batch s'], rows)}\n\n` +
      `For scale, CPU s per 1000 records outside the client, the same whoever the client is: building the envelopes and encoding them with the registry adapter ${encodeCpu.toFixed(3)} ` +
      `(the extractor also parses the search responses), decoding them ${decodeCpu.toFixed(3)} (the applier also builds and sends _bulk).\n`;
    console.log(`\n${md}`);
    const json = {
      messages: MESSAGES,
      runs: RUNS,
      partitions: PARTITIONS,
      sendSize: SEND_SIZE,
      meanValueBytes: valueBytes,
      meanKeyBytes: keyBytes,
      outsideClientCpuPer1000: { buildAndEncode: encodeCpu, decode: decodeCpu },
      node: process.version,
      clients: clients.map((c) => ({ name: c.name, version: c.version })),
      notMeasured: 'reason' in confluent ? [{ name: CONFLUENT, reason: confluent.reason }] : [],
      medians,
      results,
    };
    console.log(`results: ${writeResults('kafka-clients', json, md)}`);
  } finally {
    await adapter.close();
  }
}
