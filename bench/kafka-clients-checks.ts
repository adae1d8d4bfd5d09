/**
 * What kccr needs of a Kafka client besides speed, tried against the running broker for each client of
 * `npm run bench -- kafka-clients`. kccr's adapter reads what each client wrote (what is on the wire) and is the
 * reference for offsets; the broker's DescribeProducers says whether a producer was idempotent.
 * Each check gives ok, missing (the client has no such call), differs (it works another way) or failed.
 */
import { KafkaAdapter } from '../services/shared/adapters/kafka.js';
import type { ConsumedMessage, OutgoingMessage } from '../services/shared/adapters/kafka.js';
import { uniqueName } from '../test/support/stack.js';
import type { BenchConsumer, ClientUnderTest } from './kafka-clients-drivers.js';

export interface Check {
  readonly feature: string;
  readonly status: 'ok' | 'missing' | 'differs' | 'failed';
  readonly detail: string;
}

const SETTINGS = { maxBytesPerPartition: 1024 * 1024, maxBytes: 10 * 1024 * 1024 };
const TOPIC_CONFIG = { 'cleanup.policy': 'compact', 'max.message.bytes': String(16 * 1024 * 1024) };
/** Headers as the extractor writes them on chunked envelopes. */
const CHUNK_HEADERS = { 'kccr-chunk': '1/3', 'kccr-digest': 'f3a9c2' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, probe: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!probe()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms / 1000} s`);
    await sleep(50);
  }
}

/** A consumer of a fresh group that keeps every record it is handed, committing nothing. */
async function collecting(consumer: BenchConsumer, topic: string): Promise<{ seen: ConsumedMessage[]; batches: number }> {
  const state = { seen: [] as ConsumedMessage[], batches: 0 };
  const done = new Set<string>();
  await consumer.subscribe([topic], true);
  await consumer.run(
    async (batch, control) => {
      state.batches++;
      for (const m of batch.messages) {
        // A client may hand a record again (nothing is committed): keep each offset once.
        if (!done.has(`${m.partition}:${m.offset}`)) state.seen.push(m);
        done.add(`${m.partition}:${m.offset}`);
      }
      const last = batch.messages[batch.messages.length - 1];
      if (last) control.resolve(last.offset);
    },
    { partitionsConsumedConcurrently: 3 },
  );
  return state;
}

function describeValue(v: Buffer | null | undefined): string {
  return v === null ? 'null' : v === undefined ? 'undefined' : `${v.length} bytes`;
}

async function attempt(checks: Check[], feature: string, f: () => Promise<Omit<Check, 'feature'>>): Promise<void> {
  try {
    checks.push({ feature, ...(await f()) });
  } catch (e) {
    checks.push({ feature, status: 'failed', detail: (e as Error).message.slice(0, 300) });
  }
}

/** Producer ids with state on the broker for these partitions: only idempotent (or transactional) producers have one. */
export type DescribeProducers = (topic: string, partitions: number[]) => Promise<{ partition: number; producerIds: string[] }[]>;

export async function checkClient(client: ClientUnderTest, brokers: readonly string[], describeProducers: DescribeProducers | undefined): Promise<Check[]> {
  const checks: Check[] = [];
  const reference = new KafkaAdapter({ brokers, clientId: 'kccr-bench-reference' });
  const admin = client.admin();
  const topic = uniqueName('kccr-bench-checks');
  const closers: (() => Promise<void>)[] = [];
  try {
    // ---- admin: the topic the extractor creates ----
    await attempt(checks, 'admin: create a topic with configs', async () => {
      if (!admin.createTopic) return { status: 'missing', detail: 'no create-topics call' };
      await admin.createTopic(topic, 3, TOPIC_CONFIG);
      const partitions = await reference.partitionCount(topic);
      const cfg = await reference.topicConfig(topic, Object.keys(TOPIC_CONFIG));
      const same = Object.entries(TOPIC_CONFIG).every(([k, v]) => cfg[k] === v);
      return { status: partitions === 3 && same ? 'ok' : 'failed', detail: `${partitions} partitions, ${JSON.stringify(cfg)}` };
    });
    if (!(await reference.partitionCount(topic))) await reference.ensureTopic(topic, 3, TOPIC_CONFIG);
    await attempt(checks, 'admin: describe topic configs', async () => {
      if (!admin.topicConfig) return { status: 'missing', detail: 'no DescribeConfigs (kccr reads max.message.bytes before producing chunked envelopes)' };
      const cfg = await admin.topicConfig(topic, ['max.message.bytes', 'cleanup.policy']);
      return {
        status: cfg['max.message.bytes'] === TOPIC_CONFIG['max.message.bytes'] && cfg['cleanup.policy'] === 'compact' ? 'ok' : 'failed',
        detail: JSON.stringify(cfg),
      };
    });

    // ---- produce: a chunk with headers, a tombstone, an empty value; plain records on the other partitions ----
    const sentAt = Date.now();
    const messages: OutgoingMessage[] = [
      { key: 'doc-1', value: Buffer.from('chunk 1 of 3'), partition: 0, headers: CHUNK_HEADERS },
      { key: 'doc-1', value: null, partition: 0 },
      { key: 'doc-2', value: Buffer.alloc(0), partition: 0 },
      ...[1, 2].flatMap((partition) => Array.from({ length: 5 }, (_, i) => ({ key: `doc-${partition}-${i}`, value: Buffer.from(`v${i}`), partition }))),
    ];
    const producer = client.producer();
    closers.push(() => producer.disconnect());
    let produced = false;
    await attempt(checks, 'produce (idempotent, acks -1, explicit partition)', async () => {
      await producer.connect();
      await producer.send(topic, messages);
      produced = true;
      const ends = await reference.offsets(topic);
      return { status: ends.map((e) => e.high).join(',') === '3,5,5' ? 'ok' : 'failed', detail: `partition ends ${ends.map((e) => e.high).join(',')}` };
    });
    if (!produced) return checks;

    await attempt(checks, 'idempotent producer on the broker', async () => {
      if (!describeProducers) return { status: 'failed', detail: 'DescribeProducers unavailable (needs @platformatic/kafka)' };
      const r = await describeProducers(topic, [0, 1, 2]);
      const ids = r.flatMap((p) => p.producerIds);
      return {
        status: ids.length > 0 && r.every((p) => p.producerIds.length > 0) ? 'ok' : 'failed',
        detail: `producer ids with broker state: ${[...new Set(ids)].join(',') || 'none (not idempotent)'}`,
      };
    });

    // What is on the wire, as the adapter reads it.
    const wireConsumer = reference.consumer(uniqueName('kccr-bench-wire'), SETTINGS);
    closers.push(() => wireConsumer.disconnect());
    const wire = await collecting(wireConsumer, topic);
    await waitUntil('the reference reading partition 0', () => wire.seen.filter((m) => m.partition === 0).length >= 3, 30_000).catch(() => undefined);
    const onWire = (offset: string) => wire.seen.find((m) => m.partition === 0 && m.offset === offset);
    await attempt(checks, 'tombstone produced (null value on the wire)', async () => {
      const t = onWire('1');
      const e = onWire('2');
      const ok = t?.value === null && e?.value?.length === 0;
      return { status: ok ? 'ok' : 'failed', detail: `tombstone reads as ${describeValue(t?.value)}, empty value as ${describeValue(e?.value)} (adapter)` };
    });
    await attempt(checks, 'headers produced', async () => {
      const h = onWire('0')?.headers;
      return { status: JSON.stringify(h) === JSON.stringify(CHUNK_HEADERS) ? 'ok' : 'failed', detail: `the adapter reads ${JSON.stringify(h)}` };
    });

    // ---- consume with the client itself ----
    const consumer = client.consumer(uniqueName('kccr-bench-checks'), SETTINGS);
    closers.push(() => consumer.disconnect());
    const mine = await collecting(consumer, topic);
    await waitUntil('the client reading all 13 records', () => mine.seen.length >= 13, 30_000).catch(() => undefined);
    const read = (partition: number, offset: string) => mine.seen.find((m) => m.partition === partition && m.offset === offset);
    await attempt(checks, 'tombstone consumed as null', async () => {
      const t = read(0, '1');
      const e = read(0, '2');
      return {
        status: t?.value === null && e?.value?.length === 0 ? 'ok' : 'failed',
        detail: `tombstone read as ${describeValue(t?.value)}, empty value as ${describeValue(e?.value)} (after the wrapper)`,
      };
    });
    await attempt(checks, 'headers consumed', async () => {
      const h = read(0, '0')?.headers;
      return { status: JSON.stringify(h) === JSON.stringify(CHUNK_HEADERS) ? 'ok' : 'failed', detail: `read ${JSON.stringify(h)}` };
    });

    // ---- per-partition pause and resume, as the applier pauses an index whose follower fails ----
    await attempt(checks, 'pause / resume one partition', async () => {
      if (!consumer.pause || !consumer.resume)
        return { status: 'missing', detail: 'no per-partition pause: the consumer is one stream for all assigned partitions' };
      consumer.pause(topic, [0]);
      await sleep(500);
      const before = mine.seen.length;
      const more = [0, 1, 2].map((partition) => ({ key: `more-${partition}`, value: Buffer.from('more'), partition }));
      const p2 = reference.producer();
      await p2.send(topic, more);
      await p2.disconnect();
      await waitUntil('records of the running partitions', () => mine.seen.slice(before).filter((m) => m.partition !== 0).length >= 2, 15_000);
      await sleep(1500);
      const whilePaused = mine.seen.slice(before).filter((m) => m.partition === 0).length;
      consumer.resume(topic, [0]);
      await waitUntil('the resumed partition', () => mine.seen.slice(before).some((m) => m.partition === 0), 15_000);
      return {
        status: whilePaused === 0 ? 'ok' : 'failed',
        detail: `${whilePaused} records of the paused partition handed over while paused; delivered after resume`,
      };
    });

    // ---- commit a chosen offset per partition while a member of the group ----
    const group = uniqueName('kccr-bench-commit');
    await attempt(checks, 'commit a chosen offset per partition', async () => {
      const member = client.consumer(group, SETTINGS);
      try {
        const s = await collecting(member, topic);
        await waitUntil('the first batch', () => s.batches > 0, 30_000);
        await member.commit(topic, 0, '1');
        await member.commit(topic, 1, '3');
        await member.commit(topic, 2, '5');
      } finally {
        await member.disconnect();
      }
      const got = await reference.groupOffsets(group, topic);
      const text = got.map((p) => `${p.partition}:${p.offset}`).join(',');
      return { status: text === '0:1,1:3,2:5' ? 'ok' : 'failed', detail: `committed ${text} (asked 0:1,1:3,2:5)` };
    });

    // ---- the admin reads and writes the control service and the applier use ----
    await attempt(checks, 'admin: topic start and end offsets', async () => {
      if (!admin.offsets) return { status: 'missing', detail: '' };
      const [mineOffsets, ref] = await Promise.all([admin.offsets(topic), reference.offsets(topic)]);
      return {
        status: JSON.stringify(mineOffsets) === JSON.stringify(ref) ? 'ok' : 'failed',
        detail: mineOffsets.map((p) => `${p.partition}:${p.low}-${p.high}`).join(','),
      };
    });
    await attempt(checks, 'admin: offsets by timestamp', async () => {
      if (!admin.offsetsByTimestamp) return { status: 'missing', detail: '' };
      const [past, future] = await Promise.all([admin.offsetsByTimestamp(topic, sentAt - 60_000), admin.offsetsByTimestamp(topic, Date.now() + 3_600_000)]);
      const [refPast, refFuture] = await Promise.all([
        reference.offsetsByTimestamp(topic, sentAt - 60_000),
        reference.offsetsByTimestamp(topic, Date.now() + 3_600_000),
      ]);
      const same = JSON.stringify(past) === JSON.stringify(refPast) && JSON.stringify(future) === JSON.stringify(refFuture);
      return {
        status: same ? 'ok' : 'differs',
        detail: `before: ${past.map((p) => p.offset).join(',')}, after the end: ${future.map((p) => p.offset).join(',')} (adapter: ${refFuture.map((p) => p.offset).join(',')})`,
      };
    });
    await attempt(checks, 'admin: fetch group offsets', async () => {
      if (!admin.groupOffsets) return { status: 'missing', detail: '' };
      const got = (await admin.groupOffsets(group, topic)).sort((a, b) => a.partition - b.partition);
      const text = got.map((p) => `${p.partition}:${p.offset}`).join(',');
      return { status: text === '0:1,1:3,2:5' ? 'ok' : 'failed', detail: text };
    });
    await attempt(checks, 'admin: group state', async () => {
      if (!admin.groupState) return { status: 'missing', detail: '' };
      const state = await admin.groupState(group);
      return { status: state === 'Empty' ? 'ok' : 'failed', detail: `a group without members: ${state}` };
    });
    await attempt(checks, 'admin: reset group offsets (no member running)', async () => {
      if (!admin.setGroupOffsets) return { status: 'missing', detail: '' };
      const t0 = Date.now();
      await admin.setGroupOffsets(group, topic, [
        { partition: 0, offset: '0' },
        { partition: 2, offset: '2' },
      ]);
      const got = (await reference.groupOffsets(group, topic)).map((p) => `${p.partition}:${p.offset}`).join(',');
      return {
        status: got === '0:0,1:3,2:2' ? 'ok' : 'failed',
        detail: `now ${got} (asked 0:0, 2:2, partition 1 untouched) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      };
    });
    await attempt(checks, 'admin: delete a group', async () => {
      if (!admin.deleteGroup) return { status: 'missing', detail: '' };
      await admin.deleteGroup(group);
      const state = await reference.groupState(group);
      return { status: state === 'Dead' ? 'ok' : 'failed', detail: `state afterwards ${state}` };
    });
    return checks;
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    await admin.close().catch(() => undefined);
    await reference.deleteTopics([topic]).catch(() => undefined);
    await reference.close();
  }
}
