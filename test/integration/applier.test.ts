/**
 * How the data plane behaves when things go wrong or change: per-document failures go to the dead-letter topic
 * while the partition moves on; a follower that refuses writes pauses the partition and loses nothing; mapping
 * changes reach the follower before documents that need them; a recreated leader index stops replication.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadLetterTopic } from '../../services/shared/topics.js';
import { applierStatus, bulkLines, extractorStatus, readDeadLetters, startHarness, startReplication, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { loadStack, uniqueName, waitFor } from '../support/stack.js';

describe('data plane behaviour', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(loadStack('plain'), 'applier');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('dead-letters documents the follower rejects, counts them, and keeps the partition moving', async () => {
    const leader = uniqueName('dlq-leader');
    const follower = uniqueName('dlq-follower');
    // The leader maps nothing (it takes any value); a follower index made by hand maps `value` as integer.
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } }, mappings: { dynamic: false } });
    await h.follower.createIndex(follower, {
      settings: { index: { number_of_shards: 1, number_of_replicas: 0 } },
      mappings: { properties: { value: { type: 'integer' } } },
    });
    await h.leader.bulk(
      bulkLines(leader, [
        { id: 'ok-1', source: { value: 1 } },
        { id: 'bad', source: { value: 'abc' } },
        { id: 'ok-2', source: { value: 2 } },
      ]),
      { refresh: 'true' },
    );
    await startReplication(h, leader, follower);
    await waitForDocuments(h.follower, follower, { 'ok-1': { value: 1 }, 'ok-2': { value: 2 } });
    const status = await waitFor('the dead letter to be counted', async () => {
      const s = applierStatus(h, follower);
      return s && s.shards[0]!.deadLettered === 1 ? s : undefined;
    });
    expect(status.state).toBe('syncing');
    expect(status.shards[0]!.applied).toBeGreaterThanOrEqual(2);
    // The status names it among the latest dead letters, with why (what _status and the status page show).
    expect(status.recentDeadLetters?.at(-1)).toMatchObject({ id: 'bad', shard: 0, stage: 'write', reason: expect.stringContaining('value') });

    const letter = (await readDeadLetters(h, 1)).find((m) => m.key?.toString() === 'bad')!;
    // The dead-letter topic is bounded in size too (KCCR_DEADLETTER_RETENTION_BYTES, 1 GiB).
    expect(await h.kafka.topicConfig(deadLetterTopic(h.names.followerCluster), ['retention.bytes'])).toEqual({ 'retention.bytes': String(1024 ** 3) });
    const body = JSON.parse(letter.value!.toString()) as { op: string; source: string; origin: { index: string } };
    // It was on the leader before replication started: the bootstrap scan read it (READ).
    expect(body).toMatchObject({ op: 'READ', source: '{"value":"abc"}', origin: { index: leader } });

    // Later documents still flow.
    await h.leader.request('PUT', `/${leader}/_doc/ok-3`, { body: { value: 3 } });
    await waitForDocuments(h.follower, follower, { 'ok-1': { value: 1 }, 'ok-2': { value: 2 }, 'ok-3': { value: 3 } });
  });

  it('pauses the partition while the follower refuses writes, then resumes without loss', async () => {
    const leader = uniqueName('pause-leader');
    const follower = uniqueName('pause-follower');
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    await h.leader.request('PUT', `/${leader}/_doc/1`, { body: { v: 1 } });
    await startReplication(h, leader, follower);
    await waitForDocuments(h.follower, follower, { 1: { v: 1 } });

    await h.follower.request('POST', `/${follower}/_close`);
    await h.leader.bulk(
      bulkLines(
        leader,
        Array.from({ length: 50 }, (_, i) => ({ id: `n${i}`, source: { v: i } })),
      ),
    );
    const paused = await waitFor('the applier to report that it is retrying', async () => {
      const s = applierStatus(h, follower);
      return s?.state === 'retrying' ? s : undefined;
    });
    expect(paused.reason).toMatch(/index_closed_exception|closed/);
    expect(paused.retrying).toMatchObject({ attempts: expect.any(Number), since: expect.any(Number) });

    await h.follower.request('POST', `/${follower}/_open`);
    await waitForDocuments(h.follower, follower, { 1: { v: 1 }, ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`n${i}`, { v: i }])) });
    await waitFor('the retry reason to clear', async () => applierStatus(h, follower)?.reason === undefined);
  });

  it('gets mapping changes to the follower before the documents that need them', async () => {
    const leader = uniqueName('map-leader');
    const follower = uniqueName('map-follower');
    // Strict mappings: a document with an unmapped field fails, so order is observable.
    await h.leader.createIndex(leader, {
      settings: { index: { number_of_shards: 2, number_of_replicas: 0 } },
      mappings: { dynamic: 'strict', properties: { a: { type: 'keyword' } } },
    });
    await h.leader.request('PUT', `/${leader}/_doc/1`, { body: { a: 'x' } });
    await startReplication(h, leader, follower);
    await waitForDocuments(h.follower, follower, { 1: { a: 'x' } });

    await h.leader.request('PUT', `/${leader}/_mapping`, { body: { properties: { b: { type: 'long' } } } });
    await h.leader.request('PUT', `/${leader}/_doc/2`, { body: { a: 'y', b: 42 } });
    await waitForDocuments(h.follower, follower, { 1: { a: 'x' }, 2: { a: 'y', b: 42 } });
    expect((await h.follower.indexMeta(follower)).mappings).toEqual((await h.leader.indexMeta(leader)).mappings);
    expect(applierStatus(h, follower)!.shards.reduce((n, s) => n + s.deadLettered, 0)).toBe(0);
  });

  it('stops with a clear reason when the leader index is deleted and created again', async () => {
    const leader = uniqueName('hist-leader');
    const follower = uniqueName('hist-follower');
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    await h.leader.request('PUT', `/${leader}/_doc/1`, { body: { v: 'before' } });
    await startReplication(h, leader, follower);
    await waitForDocuments(h.follower, follower, { 1: { v: 'before' } });

    await h.leader.deleteIndex(leader);
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    await h.leader.request('PUT', `/${leader}/_doc/1`, { body: { v: 'after' } });
    // While the index is gone the extractor may report it missing; once it is back, with another history.
    const failed = await waitFor('the extractor to stop this index', async () => {
      const s = extractorStatus(h, leader);
      return s?.state === 'failed' && /new (UUID|history)|went back/.test(s.reason ?? '') ? s : undefined;
    });
    expect(failed.reason).toMatch(/new (UUID|history)|went back/);
    expect(failed.reason).toMatch(/start it again/);
    // The follower keeps what it had; nothing of the new index leaks in silently.
    await waitForDocuments(h.follower, follower, { 1: { v: 'before' } });

    // Started again (onto a fresh follower index): the new index's history starts over, the old one's records
    // still in the topic are left out.
    await h.store.setState(h.names.followerCluster, follower, 'stopped', 'test');
    await h.follower.deleteIndex(follower);
    await h.leader.request('PUT', `/${leader}/_doc/2`, { body: { v: 'new only' } });
    await startReplication(h, leader, follower);
    await waitForDocuments(h.follower, follower, { 1: { v: 'after' }, 2: { v: 'new only' } });
    await waitFor('the extractor to run again', async () => extractorStatus(h, leader)?.state === 'running');
  });

  it('resumes from its cursor after a restart, without reading the index again', async () => {
    const leader = uniqueName('resume-leader');
    const follower = uniqueName('resume-follower');
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 2, number_of_replicas: 0 } } });
    const first = Array.from({ length: 500 }, (_, i) => ({ id: `d${i}`, source: { i } }));
    await h.leader.bulk(bulkLines(leader, first));
    await startReplication(h, leader, follower);
    await waitForDocuments(h.follower, follower, Object.fromEntries(first.map((d) => [d.id, d.source])));
    const before = await waitFor('the extractor status to count 500 published', async () => {
      const st = extractorStatus(h, leader);
      return st && st.shards.reduce((n, x) => n + x.published, 0) >= 500 ? st : undefined;
    });
    expect(before.shards.reduce((n, x) => n + x.published, 0)).toBe(500);

    const stopped = await h.extractor.stop();
    expect(stopped.code).toBe(0);
    h.extractor.start();
    await h.leader.request('PUT', `/${leader}/_doc/after-restart`, { body: { i: -1 } });
    await waitForDocuments(h.follower, follower, { ...Object.fromEntries(first.map((d) => [d.id, d.source])), 'after-restart': { i: -1 } });
    // The restarted extractor counts from zero: it published the new document, not the 500 before it.
    const after = await waitFor('the restarted extractor to report', async () => {
      const st = extractorStatus(h, leader);
      const n = st?.shards.reduce((m, x) => m + x.published, 0);
      return n !== undefined && n >= 1 && n < 500 ? n : undefined;
    });
    expect(after).toBe(1);
  });

  it('carries large documents and windows larger than a Kafka batch', async () => {
    const leader = uniqueName('big-leader');
    const follower = uniqueName('big-follower');
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } }, mappings: { dynamic: false } });
    // 1,500 documents of ~2 KB in one window (3 MB, over the broker's 1 MiB batch limit) and one of 3 MB.
    const docs = Array.from({ length: 1500 }, (_, i) => ({ id: `d${i}`, source: { i, pad: 'p'.repeat(2000) } }));
    await h.leader.bulk(bulkLines(leader, docs));
    const huge = { blob: 'z'.repeat(3 * 1024 * 1024) };
    await h.leader.request('PUT', `/${leader}/_doc/huge`, { body: huge });
    await startReplication(h, leader, follower);
    await waitFor(
      'all 1,501 documents on the follower',
      async () => {
        if (!(await h.follower.indexExists(follower))) return false;
        await h.follower.refresh(follower);
        return (await h.follower.shardStats(follower))[0]!.docs === 1501;
      },
      60_000,
      500,
    );
    const got = await h.follower.request<{ _source: { blob: string } }>('GET', `/${follower}/_doc/huge`);
    expect(got.body._source.blob.length).toBe(huge.blob.length);
    expect(extractorStatus(h, leader)?.state).toBe('running');
  });
});
