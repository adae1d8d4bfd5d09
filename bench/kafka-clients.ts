/**
 * `npm run bench -- kafka-clients`: kccr's Kafka adapter (on `@platformatic/kafka`) on its two hot paths, plus what
 * kccr needs of it besides speed (bench/kafka-clients-checks.ts); `@confluentinc/kafka-javascript` beside it when
 * installed. The clients and their wrappers in kccr's shapes: bench/kafka-clients-drivers.ts. (kafkajs, measured here
 * before the adapter moved off it, is no longer a dependency: its figures stay in docs/performance/kafka-client.md.)
 *
 * - produce (the extractor's path): real INDEX envelopes (envelope.ts's indexEvent over ~1 KB sources) encoded with the
 *   schema registry adapter, sent in calls of 1000 records for one partition at a time (a page of one shard), with an
 *   idempotent producer and acks=-1, to a fresh 3-partition topic configured as the extractor configures its topics;
 * - consume (the applier's path): the same topic from the beginning with a fresh group, batches, offsets committed
 *   every 1000 records and at the end of each batch, 4 partitions consumed concurrently (the applier's defaults).
 *   Records are not decoded or written anywhere: that work does not depend on the client;
 * - consume, busy handler: the same, but the handler waits 25 ms per 1000 records before each commit (as the applier
 *   waits for its _bulk). A client that fetches while the handler waits hands over the next batch of a partition at
 *   once; one that fetches only after the handler returns leaves the handler idle meanwhile. Figures: msg/s, the
 *   share of the time each partition's handler was busy, and the median time from a partition's batch returning to
 *   its next batch.
 *
 * Every measurement runs in a process of its own (only that client loaded), so that CPU (process.cpuUsage: user +
 * system, every thread, librdkafka's native threads too) and peak RSS (VmHWM) are the client's. The produce process
 * holds every record (read from a file the bench writes once): its RSS before the client started is given too. The
 * consuming processes run with the services' heap ceiling (--max-old-space-size=128). Runs
 * interleave the clients and alternate their order; medians over the runs, and ratios to the adapter taken within
 * each run, then their median (the machine may be shared: ratios of one run are the fairer figure).
 *   KCCR_BENCH_MESSAGES (default 200000), KCCR_BENCH_RUNS (default 3), KCCR_BENCH_CLIENTS (comma-separated ids of
 *   bench/kafka-clients-drivers.ts, default every one that loads), KCCR_BENCH_CHECKS=0 skips the checks,
 *   KCCR_BENCH_CONSUMER_HEAP_MIB (default 128, the services' ceiling; 0: Node's default).
 *
 * `@confluentinc/kafka-javascript` is not a dependency of kccr: its install fetches a prebuilt binary from GitHub or
 * builds librdkafka from source, which `npm ci` of a fresh clone could not do here. To measure it, install it first
 * (the bench says how when it is missing).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaAdapter } from '../services/shared/adapters/kafka.js';
import type { OutgoingMessage } from '../services/shared/adapters/kafka.js';
import { SchemaRegistryAdapter } from '../services/shared/adapters/registry.js';
import { envelopeSchema, indexEvent } from '../services/shared/envelope.js';
import type { OriginBase } from '../services/shared/envelope.js';
import { loadStack, uniqueName } from '../test/support/stack.js';
import { checkClient } from './kafka-clients-checks.js';
import type { Check, DescribeProducers } from './kafka-clients-checks.js';
import { availableClients, CLIENT_IDS, createClient } from './kafka-clients-drivers.js';
import type { BatchHandler, ClientId, ConsumerSettings } from './kafka-clients-drivers.js';
import { documentOfAbout1KB, envFlag, envNumber, median, ROOT, table, writeResults } from './lib.js';

const MESSAGES = envNumber('KCCR_BENCH_MESSAGES', 200_000);
const RUNS = envNumber('KCCR_BENCH_RUNS', 3);
const PARTITIONS = 3;
/** Records per send call: the extractor's page (KCCR_EXTRACTOR_BATCH_SIZE). */
const SEND_SIZE = 1000;
/** Records per commit within a batch: the applier's flush (KCCR_APPLIER_BATCH_SIZE). */
const COMMIT_EVERY = 1000;
/** The applier's defaults: KCCR_APPLIER_CONCURRENCY and KCCR_APPLIER_MAX_BYTES_PER_PARTITION; kccr's maxBytes. */
const CONCURRENCY = 4;
const SETTINGS: ConsumerSettings = { maxBytesPerPartition: 2 * 1024 * 1024, maxBytes: 10 * 1024 * 1024 };
/** The busy handler's wait per 1000 records. */
const BUSY_MS_PER_1000 = 25;
/** The extractor's topic configuration (index-extractor.ts, default KCCR_TOPIC_MAX_MESSAGE_BYTES). */
const TOPIC_CONFIG = { 'cleanup.policy': 'compact', 'compression.type': 'producer', 'max.message.bytes': String(16 * 1024 * 1024) };
const CONSUME_TIMEOUT_MS = 600_000;
const CHILD_ENV = 'KCCR_BENCH_KAFKA_CHILD';
/** The consuming processes' heap ceiling, MiB (0: Node's default). */
const CONSUMER_HEAP_MIB = envNumber('KCCR_BENCH_CONSUMER_HEAP_MIB', 128);

type Phase = 'produce' | 'consume' | 'busy';

interface ChildTask {
  readonly client: ClientId;
  readonly phase: Phase;
  readonly brokers: string[];
  readonly topic: string;
  readonly groupId: string;
  readonly recordsFile: string;
  /** Per partition, the offset after the last record: where consuming ends. */
  readonly ends: Record<number, string>;
  readonly resultFile: string;
}

interface Measure {
  readonly messages: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly cpuSeconds: number;
  readonly cpuPer1000: number;
  /** Resident memory when the client started, and the process's peak (VmHWM), MiB. */
  readonly rssBeforeMiB: number;
  readonly peakRssMiB: number;
}

interface ConsumeMeasure extends Measure {
  /** From run() to the first batch: joining the group and the first fetch. Not in perSecond. */
  readonly firstBatchSeconds: number;
  readonly batches: number;
  readonly commits: number;
  /** Time inside the handler over (wall time x partitions). */
  readonly handlerBusyShare: number;
  /** Median time from a partition's batch returning to the start of its next batch, ms. */
  readonly medianGapMs: number;
}

function procStatusMiB(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

function measure(messages: number, wallMs: number, cpu: NodeJS.CpuUsage, rssBeforeMiB: number): Measure {
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    messages,
    seconds: wallMs / 1000,
    perSecond: messages / (wallMs / 1000),
    cpuSeconds,
    cpuPer1000: (cpuSeconds / messages) * 1000,
    rssBeforeMiB,
    peakRssMiB: procStatusMiB('VmHWM'),
  };
}

// ---- the records, built once and handed to each producing process in a file ----

/** The extractor's sends: pages of SEND_SIZE INDEX envelopes of one shard each, shards in turn. */
async function buildSends(registry: SchemaRegistryAdapter, total: number): Promise<OutgoingMessage[][]> {
  const schemaId = await registry.register('kccr-bench-kafka-clients-value', envelopeSchema());
  const uuid = () => randomBytes(16).toString('base64url').slice(0, 22);
  const indexUuid = uuid();
  const bases: OriginBase[] = Array.from({ length: PARTITIONS }, (_, shard) => ({
    cluster: 'kccr-leader',
    index: 'bench-clients',
    indexUuid,
    historyUuid: uuid(),
    shard,
  }));
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

/** Sends as: per send its record count, then per record partition, key length, key, value length, value. */
function writeSends(file: string, sends: readonly OutgoingMessage[][]): void {
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  for (const send of sends) {
    parts.push(u32(send.length));
    for (const m of send) {
      const key = Buffer.from(m.key);
      parts.push(u32(m.partition), u32(key.length), key, u32(m.value!.length), m.value!);
    }
  }
  writeFileSync(file, Buffer.concat(parts));
}

function readSends(file: string): OutgoingMessage[][] {
  const buf = readFileSync(file);
  const sends: OutgoingMessage[][] = [];
  let at = 0;
  const u32 = () => {
    const n = buf.readUInt32BE(at);
    at += 4;
    return n;
  };
  const bytes = (n: number) => {
    const b = buf.subarray(at, at + n);
    at += n;
    return b;
  };
  while (at < buf.length) {
    const count = u32();
    const send: OutgoingMessage[] = [];
    for (let i = 0; i < count; i++) {
      const partition = u32();
      const key = bytes(u32()).toString();
      send.push({ key, partition, value: bytes(u32()) });
    }
    sends.push(send);
  }
  return sends;
}

// ---- one measurement, in a process of its own ----

async function childProduce(task: ChildTask): Promise<Measure> {
  const sends = readSends(task.recordsFile);
  const total = sends.reduce((n, s) => n + s.length, 0);
  const client = await createClient(task.client, task.brokers);
  const producer = client.producer();
  try {
    const rssBefore = procStatusMiB('VmRSS');
    await producer.connect();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const messages of sends) await producer.send(task.topic, messages);
    return measure(total, performance.now() - t0, process.cpuUsage(cpu0), rssBefore);
  } finally {
    await producer.disconnect();
  }
}

async function childConsume(task: ChildTask, waitMsPer1000: number): Promise<ConsumeMeasure> {
  const ends = new Map(Object.entries(task.ends).map(([p, high]) => [Number(p), BigInt(high)]));
  const total = Number([...ends.values()].reduce((n, h) => n + h, 0n));
  const client = await createClient(task.client, task.brokers);
  const rssBefore = procStatusMiB('VmRSS');
  const consumer = client.consumer(task.groupId, SETTINGS);
  const next = new Map<number, bigint>([...ends.keys()].map((p) => [p, 0n]));
  let batches = 0;
  let commits = 0;
  let busyMs = 0;
  const lastEnd = new Map<number, number>();
  const gaps: number[] = [];
  let firstBatchAt: number | undefined;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const complete = () => [...ends].every(([p, high]) => next.get(p)! >= high);

  // The applier's batch handling, minus decoding and writing: commit every COMMIT_EVERY records and at the batch's end.
  const handler: BatchHandler = async (batch, control) => {
    const start = performance.now();
    firstBatchAt ??= start;
    const previous = lastEnd.get(batch.partition);
    if (previous !== undefined) gaps.push(start - previous);
    batches++;
    let last: string | undefined;
    let pending = 0;
    const commit = async () => {
      if (last === undefined || pending === 0) return;
      if (waitMsPer1000 > 0) await new Promise((r) => setTimeout(r, (waitMsPer1000 * pending) / 1000));
      const nextOffset = BigInt(last) + 1n;
      await control.commit(String(nextOffset));
      await control.heartbeat();
      commits++;
      pending = 0;
      if (nextOffset > next.get(batch.partition)!) next.set(batch.partition, nextOffset);
    };
    try {
      for (const m of batch.messages) {
        if (!control.isActive()) break;
        if (!m.value) continue;
        last = m.offset;
        pending++;
        if (pending >= COMMIT_EVERY) await commit();
      }
      await commit();
    } finally {
      const end = performance.now();
      busyMs += end - start;
      lastEnd.set(batch.partition, end);
    }
    if (complete()) done();
  };

  try {
    await consumer.subscribe([task.topic], true);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await consumer.run(handler, { partitionsConsumedConcurrently: CONCURRENCY });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      finished,
      new Promise<never>((_, reject) => {
        const seen = () => [...next.values()].reduce((n, o) => n + o, 0n);
        timer = setTimeout(
          () => reject(new Error(`${client.name}: consumed ${seen()} of ${total} records of ${task.topic} in ${CONSUME_TIMEOUT_MS / 1000} s`)),
          CONSUME_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    const t1 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    const first = firstBatchAt ?? t1;
    return {
      ...measure(total, t1 - first, cpu, rssBefore),
      firstBatchSeconds: (first - t0) / 1000,
      batches,
      commits,
      handlerBusyShare: busyMs / ((t1 - first) * ends.size),
      medianGapMs: gaps.length > 0 ? median(gaps) : Number.NaN,
    };
  } finally {
    await consumer.disconnect();
  }
}

async function runChild(task: ChildTask): Promise<void> {
  const result = task.phase === 'produce' ? await childProduce(task) : await childConsume(task, task.phase === 'busy' ? BUSY_MS_PER_1000 : 0);
  writeFileSync(task.resultFile, JSON.stringify(result));
}

/** Runs one measurement in a new process (this scenario again, told what to do by CHILD_ENV). */
async function inChild<T>(task: Omit<ChildTask, 'resultFile'>, dir: string): Promise<T> {
  const resultFile = join(dir, `${task.client}-${task.phase}-${randomBytes(4).toString('hex')}.json`);
  const code = await new Promise<number | null>((resolve) => {
    // Consumers run under the services' heap ceiling (package.json's start:applier), so that their RSS compares.
    const heap = task.phase === 'produce' || CONSUMER_HEAP_MIB === 0 ? [] : [`--max-old-space-size=${CONSUMER_HEAP_MIB}`];
    const child = spawn(process.execPath, [...heap, '--import', 'tsx', join(ROOT, 'bench', 'run.ts'), 'kafka-clients'], {
      stdio: 'inherit',
      env: { ...process.env, [CHILD_ENV]: JSON.stringify({ ...task, resultFile }), KCCR_BENCH_BUILT: '1' },
    });
    child.on('exit', (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`${task.client} ${task.phase}: the measuring process exited with ${code}`);
  return JSON.parse(readFileSync(resultFile, 'utf8')) as T;
}

// ---- DescribeProducers, for the idempotence check (through @platformatic/kafka's protocol layer) ----

async function describeProducersVia(brokers: readonly string[]): Promise<DescribeProducers | undefined> {
  try {
    const plt = await import('@platformatic/kafka');
    return async (topic, partitions) => {
      const [host, port] = brokers[0]!.split(':');
      const connection = new plt.Connection('kccr-bench');
      try {
        await connection.connect(host!, Number(port));
        const r = await plt.describeProducersV0.api.async(connection, [{ name: topic, partitionIndexes: partitions }]);
        return (r.topics[0]?.partitions ?? []).map((p) => ({ partition: p.partitionIndex, producerIds: p.activeProducers.map((a) => String(a.producerId)) }));
      } finally {
        await connection.close().catch(() => undefined);
      }
    };
  } catch {
    return undefined;
  }
}

// ---- the scenario ----

interface RunResult {
  readonly run: number;
  readonly client: ClientId;
  readonly topic: string;
  readonly produce: Measure;
  readonly consume: ConsumeMeasure;
  readonly busy?: ConsumeMeasure;
}

const f0 = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : String(Math.round(n)));
const f2 = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(2));
const f3 = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(3));

export async function benchKafkaClients(): Promise<void> {
  const childTask = process.env[CHILD_ENV];
  if (childTask) return runChild(JSON.parse(childTask) as ChildTask);

  const stack = loadStack('plain');
  const brokers = stack.kafka.brokers;
  const adapter = new KafkaAdapter({ brokers, clientId: 'kccr-bench-admin' });
  const registry = new SchemaRegistryAdapter({ url: stack.registry.url });
  const available = await availableClients();
  const wanted = process.env.KCCR_BENCH_CLIENTS?.split(',').map((s) => s.trim()) as ClientId[] | undefined;
  for (const id of wanted ?? []) if (!CLIENT_IDS.includes(id)) throw new Error(`KCCR_BENCH_CLIENTS: unknown client ${id}; known: ${CLIENT_IDS.join(', ')}`);
  const ids = available.ids.filter((id) => !wanted || wanted.includes(id));
  for (const n of available.notMeasured) console.log(`not measured: ${n.reason}`);
  const clients = new Map(await Promise.all(ids.map(async (id) => [id, await createClient(id, brokers)] as const)));
  const dir = mkdtempSync(join(tmpdir(), 'kccr-bench-clients-'));

  try {
    console.log(`building ${MESSAGES} INDEX envelopes (~1 KB sources), encoded with the registry adapter...`);
    const encodeCpu0 = process.cpuUsage();
    const sends = await buildSends(registry, MESSAGES);
    const encodeCpu = measure(MESSAGES, 1, process.cpuUsage(encodeCpu0), 0).cpuPer1000;
    const all = sends.flat();
    // For scale: the applier decodes every record it consumes (registry adapter, schema cached after the first).
    const decodeCpu0 = process.cpuUsage();
    for (const m of all) await registry.decode(m.value!);
    const decodeCpu = measure(MESSAGES, 1, process.cpuUsage(decodeCpu0), 0).cpuPer1000;
    console.log(`CPU s/1000 records outside the client: building and encoding ${encodeCpu.toFixed(3)}, decoding ${decodeCpu.toFixed(3)}`);
    const valueBytes = all.reduce((n, m) => n + (m.value?.length ?? 0), 0) / all.length;
    const keyBytes = all.reduce((n, m) => n + Buffer.byteLength(m.key), 0) / all.length;
    console.log(`${sends.length} sends of up to ${SEND_SIZE}; mean record value ${valueBytes.toFixed(0)} B, key ${keyBytes.toFixed(0)} B`);
    const recordsFile = join(dir, 'records.bin');
    writeSends(recordsFile, sends);

    const results: RunResult[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const order = run % 2 === 1 ? ids : [...ids].reverse();
      for (const id of order) {
        const name = clients.get(id)!.name;
        const topic = uniqueName('kccr-bench-clients');
        await adapter.ensureTopic(topic, PARTITIONS, TOPIC_CONFIG);
        try {
          const base = { client: id, brokers: [...brokers], topic, recordsFile, ends: {} };
          const produce = await inChild<Measure>({ ...base, phase: 'produce', groupId: '' }, dir);
          const bounds = await adapter.offsets(topic);
          const produced = bounds.reduce((n, p) => n + BigInt(p.high), 0n);
          if (produced !== BigInt(MESSAGES)) throw new Error(`${topic} holds ${produced} records, ${MESSAGES} were sent by ${name}`);
          const ends = Object.fromEntries(bounds.map((p) => [p.partition, p.high]));
          const consumeOnce = async (phase: Phase) => {
            const groupId = uniqueName('kccr-bench-clients');
            const m = await inChild<ConsumeMeasure>({ ...base, ends, phase, groupId }, dir);
            // The commits must have reached the group: the applier's restart position depends on them.
            const committed = await adapter.groupOffsets(groupId, topic);
            for (const p of bounds) {
              const c = committed.find((o) => o.partition === p.partition)?.offset;
              if (c !== p.high) console.warn(`${name}: group ${groupId} committed ${c ?? 'nothing'} for ${topic}[${p.partition}], expected ${p.high}`);
            }
            return m;
          };
          const consume = await consumeOnce('consume');
          // The busy handler tells how the client fetches, which compression does not change.
          const busy = id === 'adapter-gzip' ? undefined : await consumeOnce('busy');
          results.push({ run, client: id, topic, produce, consume, ...(busy ? { busy } : {}) });
          console.log(
            `run ${run} ${name}: produce ${f0(produce.perSecond)} msg/s, ${f3(produce.cpuPer1000)} CPU s/1000, peak RSS ${f0(produce.peakRssMiB)} MiB (${f0(produce.rssBeforeMiB)} before); ` +
              `consume ${f0(consume.perSecond)} msg/s, ${f3(consume.cpuPer1000)} CPU s/1000, peak RSS ${f0(consume.peakRssMiB)} MiB (first batch after ${consume.firstBatchSeconds.toFixed(1)} s, ${consume.batches} batches, ${consume.commits} commits)` +
              (busy
                ? `; busy handler ${f0(busy.perSecond)} msg/s, handler busy ${f2(busy.handlerBusyShare)}, median gap ${f0(busy.medianGapMs)} ms, peak RSS ${f0(busy.peakRssMiB)} MiB`
                : ''),
          );
        } finally {
          await adapter.deleteTopics([topic]).catch(() => undefined);
        }
      }
    }

    const byClient = (id: ClientId) => results.filter((r) => r.client === id);
    const medians = ids.map((id) => {
      const rs = byClient(id);
      const busy = rs.flatMap((r) => (r.busy ? [r.busy] : []));
      const med = (xs: number[]) => (xs.length > 0 ? median(xs) : Number.NaN);
      return {
        id,
        client: clients.get(id)!.name,
        version: clients.get(id)!.version,
        settings: clients.get(id)!.settings,
        producePerSecond: med(rs.map((r) => r.produce.perSecond)),
        produceCpuPer1000: med(rs.map((r) => r.produce.cpuPer1000)),
        producePeakRssMiB: med(rs.map((r) => r.produce.peakRssMiB)),
        produceRssBeforeMiB: med(rs.map((r) => r.produce.rssBeforeMiB)),
        consumePerSecond: med(rs.map((r) => r.consume.perSecond)),
        consumeCpuPer1000: med(rs.map((r) => r.consume.cpuPer1000)),
        consumePeakRssMiB: med(rs.map((r) => r.consume.peakRssMiB)),
        firstBatchSeconds: med(rs.map((r) => r.consume.firstBatchSeconds)),
        busyPerSecond: med(busy.map((b) => b.perSecond)),
        busyShare: med(busy.map((b) => b.handlerBusyShare)),
        busyGapMs: med(busy.map((b) => b.medianGapMs)),
        busyPeakRssMiB: med(busy.map((b) => b.peakRssMiB)),
      };
    });
    const rows: (string | number)[][] = medians.map((m) => [
      `${m.client} ${m.version}`,
      f0(m.producePerSecond),
      f3(m.produceCpuPer1000),
      `${f0(m.producePeakRssMiB)} (${f0(m.produceRssBeforeMiB)})`,
      f0(m.consumePerSecond),
      f3(m.consumeCpuPer1000),
      f0(m.consumePeakRssMiB),
      m.firstBatchSeconds.toFixed(1),
      f0(m.busyPerSecond),
      f2(m.busyShare),
      f0(m.busyGapMs),
    ]);
    // Ratios to the adapter within each run (both measured minutes apart on the same machine), then their median.
    const ratio = (id: ClientId, pick: (r: RunResult) => number | undefined) => {
      const xs = byClient(id).flatMap((r) => {
        const base = results.find((b) => b.run === r.run && b.client === 'adapter');
        const [a, b] = [pick(r), base ? pick(base) : undefined];
        return a !== undefined && b !== undefined && b > 0 ? [a / b] : [];
      });
      return xs.length > 0 ? median(xs) : Number.NaN;
    };
    const perRun = ids.includes('adapter') ? ids.filter((id) => id !== 'adapter') : [];
    for (const id of perRun) {
      rows.push([
        `ratio ${clients.get(id)!.name} / kccr adapter (median of per-run ratios)`,
        f2(ratio(id, (r) => r.produce.perSecond)),
        f2(ratio(id, (r) => r.produce.cpuPer1000)),
        f2(ratio(id, (r) => r.produce.peakRssMiB)),
        f2(ratio(id, (r) => r.consume.perSecond)),
        f2(ratio(id, (r) => r.consume.cpuPer1000)),
        f2(ratio(id, (r) => r.consume.peakRssMiB)),
        '-',
        f2(ratio(id, (r) => r.busy?.perSecond)),
        '-',
        '-',
      ]);
    }

    const checks = new Map<ClientId, Check[]>();
    if (envFlag('KCCR_BENCH_CHECKS', true)) {
      const describeProducers = await describeProducersVia(brokers);
      for (const id of ids.filter((i) => i !== 'adapter-gzip')) {
        console.log(`checking ${clients.get(id)!.name}...`);
        checks.set(id, await checkClient(clients.get(id)!, brokers, describeProducers));
      }
    }
    const checked = [...checks.keys()];
    const features = [...new Set([...checks.values()].flatMap((cs) => cs.map((c) => c.feature)))];
    const checkTable = table(
      ['feature', ...checked.map((id) => clients.get(id)!.name)],
      features.map((f) => [
        f,
        ...checked.map((id) => {
          const c = checks.get(id)!.find((x) => x.feature === f);
          return c ? `${c.status}${c.detail ? `: ${c.detail}` : ''}`.replace(/\|/g, '/') : '-';
        }),
      ]),
    );

    const notMeasured = available.notMeasured.length > 0 ? `\n\nNot measured: ${available.notMeasured.map((n) => n.reason).join('; ')}.` : '';
    const md =
      `# Kafka client: the extractor's produce path and the applier's consume path\n\n` +
      `Node ${process.version}. ${MESSAGES} records per run (mean value ${valueBytes.toFixed(0)} B: INDEX envelopes of ~1 KB sources, Avro with the registry's framing; key ${keyBytes.toFixed(0)} B), ` +
      `3-partition topic configured like the extractor's. Produce: idempotent, acks=-1, no compression (the gzip row: KCCR_TOPIC_COMPRESSION=gzip), calls of ${SEND_SIZE} records for one partition at a time, ` +
      `each cut into requests of at most 768 KiB sent one at a time. Consume: fresh group from the beginning, batches, ` +
      `${CONCURRENCY} partitions concurrently, ${SETTINGS.maxBytesPerPartition / 1024 / 1024} MiB per partition fetch, ${SETTINGS.maxBytes / 1024 / 1024} MiB per fetch, commit every ${COMMIT_EVERY} records and at each batch's end; ` +
      `msg/s from the first batch to the last commit. Busy handler: the same consume, waiting ${BUSY_MS_PER_1000} ms per ${COMMIT_EVERY} records before each commit (handler busy: share of time each partition's handler worked; gap: median ms from a partition's batch returning to its next). ` +
      `CPU: user + system of the measuring process (all threads) per 1000 records. Peak RSS: VmHWM of the measuring process, MiB (produce: with every record held, RSS before the client started in brackets; consume: under a heap ceiling of ${CONSUMER_HEAP_MIB || "Node's default"} MiB). ` +
      `Each measurement in a process of its own; medians of ${RUNS} runs, clients interleaved, order alternating. Ratios: to the adapter in the same run, median over runs.${notMeasured}\n\n` +
      `${table(['client', 'produce msg/s', 'produce CPU s/1000', 'produce peak RSS', 'consume msg/s', 'consume CPU s/1000', 'consume peak RSS', 'first batch s', 'busy msg/s', 'handler busy', 'gap ms'], rows)}\n\n` +
      `For scale, CPU s per 1000 records outside the client, the same whoever the client is: building the envelopes and encoding them with the registry adapter ${encodeCpu.toFixed(3)} ` +
      `(the extractor also parses the search responses), decoding them ${decodeCpu.toFixed(3)} (the applier also builds and sends _bulk).\n\n` +
      `Settings: ${medians.map((m) => `${m.client}: ${m.settings}`).join('; ')}.\n` +
      (checked.length > 0 ? `\n## What kccr needs besides speed (bench/kafka-clients-checks.ts)\n\n${checkTable}\n` : '');
    console.log(`\n${md}`);
    const json = {
      messages: MESSAGES,
      runs: RUNS,
      partitions: PARTITIONS,
      sendSize: SEND_SIZE,
      busyMsPer1000: BUSY_MS_PER_1000,
      settings: SETTINGS,
      meanValueBytes: valueBytes,
      meanKeyBytes: keyBytes,
      outsideClientCpuPer1000: { buildAndEncode: encodeCpu, decode: decodeCpu },
      node: process.version,
      clients: ids.map((id) => ({ id, name: clients.get(id)!.name, version: clients.get(id)!.version })),
      notMeasured: available.notMeasured,
      medians,
      results,
      checks: Object.fromEntries(checks),
    };
    console.log(`results: ${writeResults('kafka-clients', json, md)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await adapter.close();
  }
}
