/**
 * The foundation against the real stack: Elasticsearch leader and follower, the schema registry and Kafka,
 * in plain mode and in secure mode (HTTPS, file-realm users with least privilege).
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { KafkaAdapter } from '../../services/shared/adapters/kafka.js';
import type { ConsumedMessage } from '../../services/shared/adapters/kafka.js';
import { SchemaRegistryAdapter } from '../../services/shared/adapters/registry.js';
import { envelopeSchema, indexEvent, validateEnvelope } from '../../services/shared/envelope.js';
import { KccrError } from '../../services/shared/errors.js';
import { changeTopic, valueSubject } from '../../services/shared/topics.js';
import { esConnection, kafkaConnection, leaderClusters, loadStack, stackStateFile, uniqueName, waitFor } from '../support/stack.js';
import type { StackKind } from '../support/stack.js';

describe.each<StackKind>(['plain', 'secure'])('%s stack', (kind) => {
  const stack = loadStack(kind);
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });

  it('creates an index with documents on the leader and reads them back', async () => {
    const es = new ElasticsearchAdapter(esConnection(stack, 'leader'));
    closers.push(() => es.close());
    const index = uniqueName('stack-docs');
    await es.createIndex(index, { settings: { number_of_shards: 2, number_of_replicas: 0 } });
    const docs = Array.from({ length: 20 }, (_, i) => ({ id: `d${i}`, value: `data${i}` }));
    const items = await es.bulk(
      docs.map((d) => `${JSON.stringify({ index: { _index: index, _id: d.id } })}\n${JSON.stringify({ value: d.value })}\n`).join(''),
      { refresh: 'true' },
    );
    expect(items.map((i) => i.status)).toEqual(docs.map(() => 201));

    const res = await es.search<{ hits: { hits: { _id: string; _source: { value: string } }[] } }>(index, {
      size: 100,
      sort: [{ _seq_no: 'asc' }],
      seq_no_primary_term: true,
    });
    const byId = Object.fromEntries(res.hits.hits.map((h) => [h._id, h._source.value]));
    expect(byId).toEqual(Object.fromEntries(docs.map((d) => [d.id, d.value])));

    const stats = await es.shardStats(index);
    expect(stats.map((s) => s.shard)).toEqual([0, 1]);
    expect(stats.reduce((n, s) => n + s.docs, 0)).toBe(20);
    for (const s of stats) {
      expect(s.globalCheckpoint).toBe(s.maxSeqNo);
      expect(s.historyUuid).toMatch(/\S{10,}/);
    }
  });

  // Started by root, Elasticsearch runs as its own user, who owns only what it writes; what root writes is root's.
  it.runIf(process.getuid?.() === 0)('lays out each node so that its user cannot plant what root writes through', () => {
    const dir = dirname(stackStateFile(kind));
    const esUid = statSync(join(dir, 'es', 'leader', 'data')).uid;
    expect(esUid).not.toBe(0);
    for (const role of ['leader', 'follower']) {
      const node = join(dir, 'es', role);
      expect({ uid: statSync(node).uid, mode: statSync(node).mode & 0o777 }).toEqual({ uid: 0, mode: 0o750 });
      expect({ uid: statSync(join(node, 'config')).uid, mode: statSync(join(node, 'config')).mode & 0o777 }).toEqual({ uid: 0, mode: 0o750 });
      expect(statSync(join(node, 'config', 'elasticsearch.yml')).mode & 0o777).toBe(0o640);
      for (const sub of ['data', 'logs', 'tmp'])
        expect({ uid: statSync(join(node, sub)).uid, mode: statSync(join(node, sub)).mode & 0o777 }, `${role}/${sub}`).toEqual({ uid: esUid, mode: 0o750 });
    }
    expect(statSync(join(dir, 'snapshots')).mode & 0o777).toBe(0o750);
    // No part runs as root; Kafka's user owns its data and nothing else of its folder.
    for (const part of ['elasticsearch-leader', 'elasticsearch-follower', 'kafka', 'registry']) {
      const pid = readFileSync(join(dir, 'pids', `${part}.pid`), 'utf8').trim();
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
      expect(uid, part).not.toBe(0);
    }
    const kafkaUid = statSync(join(dir, 'kafka', 'data')).uid;
    expect({ uid: kafkaUid === 0, mode: statSync(join(dir, 'kafka', 'data')).mode & 0o777 }).toEqual({ uid: false, mode: 0o750 });
    expect({ uid: statSync(join(dir, 'kafka')).uid, mode: statSync(join(dir, 'kafka')).mode & 0o777 }).toEqual({ uid: 0, mode: 0o750 });
    expect({ uid: statSync(join(dir, 'kafka', 'server.properties')).uid, mode: statSync(join(dir, 'kafka', 'server.properties')).mode & 0o777 }).toEqual({
      uid: 0,
      mode: stack.mode === 'secure' ? 0o640 : 0o644, // secure: it holds the broker's password
    });
    if (stack.mode === 'secure') {
      expect(statSync(join(dir, 'secrets')).mode & 0o777).toBe(0o700);
      for (const role of [...leaderClusters(stack), 'follower'])
        for (const u of Object.values(stack.clusters[role]!.users)) expect(statSync(u.passwordFile).mode & 0o777).toBe(0o600);
    }
  });

  it('runs every leader cluster it lists (KCCR_LEADER_CLUSTERS) as a cluster of its own, admin user included', async () => {
    const names = [...leaderClusters(stack), 'follower'].map((id) => stack.clusters[id]!.name);
    expect(new Set(names).size).toBe(names.length);
    for (const id of [...leaderClusters(stack), 'follower']) {
      const es = new ElasticsearchAdapter(esConnection(stack, id));
      closers.push(() => es.close());
      const r = await es.request<{ cluster_name: string }>('GET', '/_cluster/health');
      expect(r.body.cluster_name, id).toBe(stack.clusters[id]!.name);
    }
  });

  it('registers the envelope schema, produces an Avro record with the registry wire format, consumes and decodes it', async () => {
    const kafka = new KafkaAdapter(kafkaConnection(stack, 'kccr-test'));
    const registry = new SchemaRegistryAdapter({ url: stack.registry.url });
    closers.push(() => kafka.close());
    const topic = changeTopic('test', uniqueName('stack-avro'));
    expect(await kafka.ensureTopic(topic, 3, { 'cleanup.policy': 'compact' })).toBe('created');
    expect(await kafka.ensureTopic(topic, 3)).toBe('exists');
    await expect(kafka.ensureTopic(topic, 4)).rejects.toMatchObject({ code: 'CONFLICT' });

    const schemaId = await registry.register(valueSubject(topic), envelopeSchema());
    expect(await registry.register(valueSubject(topic), envelopeSchema())).toBe(schemaId);
    expect(await registry.latestId(valueSubject(topic))).toBe(schemaId);

    const event = indexEvent(
      { cluster: 'test', index: 'leader-01', indexUuid: 'uuid-1', historyUuid: 'hist-1', shard: 2 },
      { id: 'doc-1', routing: 'r1', source: Buffer.from('{"value":"data1"}'), seqNo: 41, primaryTerm: 1 },
      1_700_000_000_000,
    );
    const encoded = await registry.encode(schemaId, event);
    expect(encoded[0]).toBe(0);
    expect(encoded.readUInt32BE(1)).toBe(schemaId);

    const producer = kafka.producer();
    await producer.send(topic, [{ key: event.id, value: encoded, partition: 2 }]);
    await producer.disconnect();

    const consumer = kafka.consumer(uniqueName('stack-group'));
    const received: ConsumedMessage[] = [];
    await consumer.subscribe([topic], true);
    await consumer.run(async (batch, control) => {
      received.push(...batch.messages);
      const last = batch.messages.at(-1);
      if (last) await control.commit(String(BigInt(last.offset) + 1n));
    });
    const message = await waitFor('the produced record', async () => received[0], 30_000);
    await consumer.disconnect();

    expect(message.partition).toBe(2);
    expect(message.key?.toString()).toBe('doc-1');
    const decoded = validateEnvelope(await registry.decode(message.value!));
    expect(decoded).toEqual(event);
    expect(decoded.version).toBe(42);
    expect(decoded.source?.toString()).toBe('{"value":"data1"}');
  });

  it('refuses a schema change that breaks BACKWARD compatibility', async () => {
    const registry = new SchemaRegistryAdapter({ url: stack.registry.url });
    const subject = valueSubject(changeTopic('test', uniqueName('stack-compat')));
    await registry.register(subject, envelopeSchema());
    const schema = envelopeSchema() as { fields: object[] };
    const broken = { ...schema, fields: [...schema.fields, { name: 'mandatory', type: 'string' }] };
    await expect(registry.register(subject, broken)).rejects.toMatchObject({ code: 'SCHEMA_INCOMPATIBLE' });
    const compatible = { ...schema, fields: [...schema.fields, { name: 'optional', type: ['null', 'string'], default: null }] };
    expect(await registry.register(subject, compatible)).toBeGreaterThan(0);
  });

  it.runIf(kind === 'secure')('serves HTTPS only with credentials, and a least-privilege user gets a clear authorization error', async () => {
    const admin = new ElasticsearchAdapter(esConnection(stack, 'leader'));
    const extractor = new ElasticsearchAdapter(esConnection(stack, 'leader', 'kccr-extractor'));
    const { password: _ignored, ...noPassword } = esConnection(stack, 'leader');
    const anonymous = new ElasticsearchAdapter({ ...noPassword, username: undefined });
    const wrongPassword = new ElasticsearchAdapter({ ...esConnection(stack, 'leader'), password: 'not-the-password' });
    closers.push(
      () => admin.close(),
      () => extractor.close(),
      () => anonymous.close(),
      () => wrongPassword.close(),
    );
    expect(stack.clusters.leader.url).toMatch(/^https:/);

    const index = uniqueName('secure-docs');
    await admin.createIndex(index, { settings: { number_of_shards: 1, number_of_replicas: 0 } });
    await admin.bulk(`${JSON.stringify({ index: { _index: index, _id: '1' } })}\n{"value":"data1"}\n`, { refresh: 'true' });

    // The extractor's user may read and monitor ...
    const stats = await extractor.shardStats(index);
    expect(stats[0]?.docs).toBe(1);
    const res = await extractor.search<{ hits: { hits: { _id: string }[] } }>(index, { query: { match_all: {} } });
    expect(res.hits.hits.map((h) => h._id)).toEqual(['1']);

    // ... but not write: the error names the action, the user and what to do.
    const denied = await extractor.bulk(`${JSON.stringify({ index: { _index: index, _id: '2' } })}\n{"value":"x"}\n`).then(
      (items) => items,
      (e: unknown) => e,
    );
    if (Array.isArray(denied)) {
      expect(denied[0]).toMatchObject({ status: 403, error: { type: 'security_exception' } });
      expect(denied[0].error.reason).toMatch(/unauthorized for user \[kccr-extractor\]/);
    } else {
      expect(denied).toBeInstanceOf(KccrError);
    }
    const createErr = await extractor.createIndex(uniqueName('secure-denied')).catch((e: unknown) => e);
    expect(createErr).toBeInstanceOf(KccrError);
    expect(createErr).toMatchObject({ code: 'ES_FORBIDDEN', retriable: false });
    expect((createErr as KccrError).message).toMatch(/indices:admin\/create.*kccr-extractor.*Grant the missing privilege/s);

    await expect(anonymous.shardStats(index)).rejects.toMatchObject({ code: 'ES_UNAUTHENTICATED' });
    await expect(wrongPassword.shardStats(index)).rejects.toMatchObject({ code: 'ES_UNAUTHENTICATED' });
  });

  it.runIf(kind === 'secure')('refuses a server certificate that is not signed by the configured CA', async () => {
    const { ca: _ca, ...untrusted } = esConnection(stack, 'leader');
    const es = new ElasticsearchAdapter(untrusted);
    closers.push(() => es.close());
    const err = await es.shardStats('any').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ES_UNAVAILABLE' });
    expect((err as Error).message).toMatch(/certificate/i);
  });
});
