/**
 * Documents of any size the leader accepts are replicated exactly: envelopes above the chunk size travel as ordered
 * chunks and are put together by the applier, which survives a SIGKILL in the middle of them; a size limit of the
 * operator's choice dead-letters larger documents (id, size, origin) while the index goes on.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { changeTopic } from '../../services/shared/topics.js';
import { compareIndices, deadLetterRecords, describeComparison } from '../support/checks.js';
import { applierStatus, extractorStatus, readDeadLetters, startHarness, startReplication, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { loadStack, uniqueName, waitFor } from '../support/stack.js';

const MB = 1024 * 1024;

/** A document of about `bytes` bytes: random text, so that a chunk out of place cannot go unseen. */
function bigDoc(bytes: number, n: number): Buffer {
  const blob = randomBytes(Math.ceil((bytes * 3) / 4))
    .toString('base64')
    .slice(0, bytes);
  return Buffer.from(JSON.stringify({ n, blob }));
}

async function put(es: ElasticsearchAdapter, index: string, id: string, body: Buffer | object): Promise<void> {
  await es.request('PUT', `/${index}/_doc/${id}`, Buffer.isBuffer(body) ? { rawBody: body } : { body });
}

async function createLeader(h: Harness, index: string, shards: number): Promise<void> {
  // The large field is kept in _source only: the test is about carrying documents, not about indexing text.
  await h.leader.createIndex(index, {
    settings: { index: { number_of_shards: shards, number_of_replicas: 0 } },
    mappings: { properties: { blob: { type: 'text', index: false } } },
  });
}

/** Waits until leader and follower hold the same documents (ids, routing, sources), read a few at a time. */
async function waitForSame(h: Harness, leader: string, follower: string, timeoutMs: number): Promise<void> {
  let last = '';
  await waitFor(
    `${follower} to hold what ${leader} holds`,
    async () => {
      const c = await compareIndices(h.leader, h.follower, leader, follower, 4);
      last = describeComparison(c);
      return c.differences === 0 && c.leaderCount > 0;
    },
    timeoutMs,
    1000,
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; last comparison: ${last}`);
  });
}

/** Per id, the leader's _seq_no + 1 and the follower's _version: equal when the follower holds the latest change. */
async function versions(h: Harness, leader: string, follower: string): Promise<{ leader: Record<string, number>; follower: Record<string, number> }> {
  type Hits = { hits: { hits: { _id: string; _seq_no?: number; _version?: number }[] } };
  const [l, f] = await Promise.all([
    h.leader.search<Hits>(leader, { size: 100, _source: false, seq_no_primary_term: true }),
    h.follower.search<Hits>(follower, { size: 100, _source: false, version: true }),
  ]);
  return {
    leader: Object.fromEntries(l.hits.hits.map((x) => [x._id, x._seq_no! + 1])),
    follower: Object.fromEntries(f.hits.hits.map((x) => [x._id, x._version!])),
  };
}

describe('large documents (default chunk size)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(loadStack('plain'), 'large');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('replicates documents of 1 KB, 15, 20 and 90 MB among small ones in a 2-shard index, with updates and deletes of the large ones', async () => {
    const leader = uniqueName('large-leader');
    const follower = uniqueName('large-follower');
    await createLeader(h, leader, 2);
    await startReplication(h, leader, follower);
    const sizes: [string, number][] = [
      ['kb1', 1024],
      ['mb15', 15 * MB],
      ['mb20', 20 * MB],
      ['mb90', 90 * MB],
    ];
    let n = 0;
    for (const [id, bytes] of sizes) {
      await put(h.leader, leader, `small-${n}`, { n });
      await put(h.leader, leader, id, bigDoc(bytes, n++));
    }
    await put(h.leader, leader, 'small-last', { n });
    await waitForSame(h, leader, follower, 240_000);

    // Updates and deletes of the large ones, with small changes after them.
    await put(h.leader, leader, 'mb20', bigDoc(20 * MB, 100));
    await h.leader.request('DELETE', `/${leader}/_doc/mb15`);
    await put(h.leader, leader, 'mb90', bigDoc(90 * MB, 101));
    await put(h.leader, leader, 'small-after', { n: 102 });
    await waitForSame(h, leader, follower, 240_000);

    const v = await versions(h, leader, follower);
    expect(v.follower).toEqual(v.leader);
    const status = applierStatus(h, follower)!;
    expect(status.shards.reduce((k, s) => k + s.deadLettered, 0)).toBe(0);
    expect(await deadLetterRecords(h.stack, h.names.followerCluster)).toBe(0);
    // The large documents really went as chunks: the topic holds far more records than changes.
    const records = (await h.kafka.offsets(changeTopic(h.names.leaderCluster, leader))).reduce((k, p) => k + Number(p.high), 0);
    expect(records).toBeGreaterThan(2 * (15 + 20 + 90));
  }, 600_000);
});

describe('large documents (small chunks, size limit)', () => {
  let h: Harness;
  let limited: Harness;

  beforeAll(async () => {
    // 64 KiB chunks: a 30 MB document is 480 chunks, time enough to stop the applier while it holds some.
    h = await startHarness(loadStack('plain'), 'chunks', { extractorEnv: { KCCR_CHUNK_BYTES: String(64 * 1024) }, env: { KCCR_STATUS_INTERVAL_MS: '100' } });
    limited = await startHarness(loadStack('plain'), 'limit', { applierEnv: { KCCR_MAX_DOCUMENT_BYTES: String(100 * 1024) } });
  });
  afterAll(async () => {
    await Promise.all([h?.close(), limited?.close()]);
  });

  it('applies a chunked document whole after the applier is SIGKILLed in the middle of its chunks', async () => {
    const leader = uniqueName('kill-leader');
    const follower = uniqueName('kill-follower');
    await createLeader(h, leader, 1);
    await put(h.leader, leader, 'before', { n: 0 });
    await startReplication(h, leader, follower);
    await waitForDocuments(h.follower, follower, { before: { n: 0 } });

    const doc = bigDoc(30 * MB, 1);
    await put(h.leader, leader, 'big', doc);
    // Killed once its status shows chunks held (read, not yet whole), then started again.
    const held = await waitFor(
      'the applier to hold chunks of the document',
      async () => {
        const s = applierStatus(h, follower)?.shards[0];
        return s?.reassemblingBytes ? s.reassemblingBytes : undefined;
      },
      120_000,
      20,
    );
    await h.applier.kill();
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(doc.length);
    const found = await h.follower.request('GET', `/${follower}/_doc/big`, { query: { _source: false }, ignore: [404] });
    expect(found.status).toBe(404);

    h.applier.start();
    await put(h.leader, leader, 'after', { n: 2 });
    await waitForSame(h, leader, follower, 180_000);
    const status = await waitFor('a status row of the restarted applier', async () => {
      const s = applierStatus(h, follower);
      return s && s.shards[0]!.applied > 0 && !s.shards[0]!.reassemblingBytes ? s : undefined;
    });
    expect(status.shards[0]!.deadLettered).toBe(0);
  }, 600_000);

  it('stops at start with what to do when an existing topic takes smaller records than the chunks', async () => {
    const leader = uniqueName('small-topic-leader');
    const follower = uniqueName('small-topic-follower');
    await createLeader(limited, leader, 1);
    // A topic made by hand beforehand, taking records of at most 100,000 bytes (below a 512 KiB chunk).
    await limited.kafka.ensureTopic(changeTopic(limited.names.leaderCluster, leader), 1, { 'cleanup.policy': 'compact', 'max.message.bytes': '100000' });
    await startReplication(limited, leader, follower);
    const failed = await waitFor('the extractor to say why it cannot run', async () => {
      const s = extractorStatus(limited, leader);
      return s?.state === 'failed' ? s : undefined;
    });
    expect(failed.reason).toMatch(
      /takes records up to 100000 bytes \(max\.message\.bytes\).*raise the topic's max\.message\.bytes to at least 528384 .*or lower KCCR_CHUNK_BYTES/,
    );
  }, 120_000);

  it('dead-letters documents above the size limit with their id, size and origin, and goes on with the rest', async () => {
    const leader = uniqueName('limit-leader');
    const follower = uniqueName('limit-follower');
    await createLeader(limited, leader, 1);
    await startReplication(limited, leader, follower);
    await put(limited.leader, leader, 'a', { n: 1 });
    // Chunked (above 512 KiB): refused at its first chunk, nothing held. Not chunked: refused once decoded.
    await put(limited.leader, leader, 'chunked', bigDoc(3 * MB, 2));
    await put(limited.leader, leader, 'b', { n: 3 });
    await put(limited.leader, leader, 'single', bigDoc(200 * 1024, 4));
    await put(limited.leader, leader, 'c', { n: 5 });
    await waitForDocuments(limited.follower, follower, { a: { n: 1 }, b: { n: 3 }, c: { n: 5 } });

    const letters = await readDeadLetters(limited, 2);
    const byId = new Map(letters.map((m) => [m.key?.toString(), m]));
    for (const [id, bytes] of [
      ['chunked', 3 * MB],
      ['single', 200 * 1024],
    ] as const) {
      const m = byId.get(id)!;
      expect(m, `dead letter of ${id}`).toBeDefined();
      expect(m.headers?.['kccr.stage']).toBe('size');
      expect(m.headers?.['kccr.reason']).toMatch(/above the limit of 102400 \(KCCR_MAX_DOCUMENT_BYTES\)/);
      const body = JSON.parse(m.value!.toString()) as { id: string; sourceBytes: number; origin: { index: string; shard: number; seqNo: number } };
      expect(body.id).toBe(id);
      expect(body.sourceBytes).toBeGreaterThanOrEqual(bytes);
      expect(body.origin).toMatchObject({ index: leader, shard: 0, seqNo: expect.any(Number) });
    }
    const status = await waitFor('both to be counted', async () => {
      const s = applierStatus(limited, follower);
      return s?.shards[0]?.deadLettered === 2 ? s : undefined;
    });
    expect(status.state).toBe('syncing');
  }, 300_000);
});
