/**
 * One pair of the compatibility matrix (test/matrix.ts runs it once per pair of engines, each time on clusters of
 * other engines beside the same Kafka and registry): through the control service, real extractor and applier
 * processes, the walkthrough, a randomized run with deletes and custom routing verified identical, a mapping change,
 * what the follower does not know left out (or refused), and a bootstrap of 10,000 documents, by snapshot where the
 * follower can restore the leader's snapshot, else by scan after the snapshot start was refused with the reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyIndex } from '../../services/verifier/verify.js';
import type { StatusView } from '../../services/control/status/status.js';
import type { Engine } from '../../deploy/local/lib/config.js';
import { closeControlledHarness, startControlledHarness } from '../support/control.js';
import type { Control } from '../support/control.js';
import { startMixedLoad } from '../support/load.js';
import { bulkLines, documents, leaderWithDocuments, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { esConnection, loadStack, stackEngines, uniqueName, waitFor } from '../support/stack.js';

const stack = loadStack('plain');
const engineOf = (role: 'leader' | 'follower'): Engine => stack.clusters[role].engine ?? { kind: 'elasticsearch', version: stack.esVersion };
const leaderEngine = engineOf('leader');
const followerEngine = engineOf('follower');
const major = (e: Engine) => Number(e.version.split('.')[0]);
const newerOrSame = (a: string, b: string) => {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  return (y[0]! - x[0]! || y[1]! - x[1]! || y[2]! - x[2]!) >= 0;
};
/** Snapshot bootstrap works from the same vendor to the same or a newer version (the follower restores it). */
const snapshotPossible = leaderEngine.kind === followerEngine.kind && newerOrSame(leaderEngine.version, followerEngine.version);

/**
 * Something of the leader's index that this follower does not know (left out, listed in `left_out`), and a field
 * type it has no handler for (the replication fails with the reason), where the pair has one.
 */
interface Unknown {
  readonly settings?: Record<string, unknown>;
  readonly properties?: Record<string, unknown>;
  readonly leftOut: readonly string[];
}
const UNKNOWN: Unknown | undefined =
  leaderEngine.kind === 'opensearch' && followerEngine.kind === 'elasticsearch'
    ? {
        settings: { 'index.search.concurrent_segment_search.mode': 'all', 'index.check_pending_flush.enabled': true },
        leftOut: ['setting index.search.concurrent_segment_search.mode', 'setting index.check_pending_flush.enabled'],
      }
    : leaderEngine.kind === 'elasticsearch' && followerEngine.kind === 'opensearch'
      ? {
          properties: { host: { type: 'keyword', time_series_dimension: true } },
          settings: { 'index.mapping.total_fields.ignore_dynamic_beyond_limit': true },
          leftOut: ['setting index.mapping.total_fields.ignore_dynamic_beyond_limit', 'mapping parameter host.time_series_dimension'],
        }
      : leaderEngine.kind === 'elasticsearch' && followerEngine.kind === 'elasticsearch' && major(leaderEngine) > major(followerEngine)
        ? {
            // Elasticsearch 9.2 index settings that 8.19 does not have.
            settings: { 'index.dense_vector.hnsw_filter_heuristic': 'fanout', 'index.mapping.exclude_source_vectors': false },
            leftOut: ['setting index.dense_vector.hnsw_filter_heuristic', 'setting index.mapping.exclude_source_vectors'],
          }
        : undefined;
const INEXPRESSIBLE: { type: string; mapping: Record<string, unknown> } | undefined =
  leaderEngine.kind === 'elasticsearch' && followerEngine.kind === 'opensearch'
    ? { type: 'flattened', mapping: { labels: { type: 'flattened' } } }
    : leaderEngine.kind === 'opensearch' && followerEngine.kind === 'elasticsearch'
      ? { type: 'flat_object', mapping: { labels: { type: 'flat_object' } } }
      : undefined;

describe(`compatibility: ${stackEngines(stack)}`, () => {
  let h: Harness;
  let control: Control;

  beforeAll(async () => {
    ({ h, control } = await startControlledHarness(`matrix-${major(leaderEngine)}-${major(followerEngine)}`));
  });
  afterAll(async () => {
    await closeControlledHarness(h, control);
  });

  const status = async (follower: string) => (await control.call<StatusView>('GET', `/_plugins/_replication/${follower}/_status`)).body;
  const start = (follower: string, leaderIndex: string, bootstrap = 'scan') =>
    control.call<{ error?: { code: string; message: string } }>('PUT', `/_plugins/_replication/${follower}/_start`, {
      leader_alias: h.names.leaderCluster,
      leader_index: leaderIndex,
      bootstrap,
    });

  /** Waits until the verifier finds the follower identical; a timeout says what was seen last (thrown as observations). */
  async function waitIdentical(leaderIndex: string, followerIndex: string, timeoutMs = 120_000): Promise<void> {
    await waitFor(
      `${followerIndex} identical to ${leaderIndex}`,
      async () => {
        const s = await status(followerIndex);
        if (s.status !== 'SYNCING' || s.lag_operations !== 0) throw new Error(`status ${s.status}, lag ${s.lag_operations}, reason ${s.reason ?? '-'}`);
        const r = await verifyIndex(h.leader, h.follower, { leaderIndex, followerIndex });
        if (r.identical && r.shards.every((x) => x.leaderCount === x.followerCount)) return true;
        throw new Error(`not identical yet: ${JSON.stringify(r.shards.map((x) => [x.leaderCount, x.followerCount]))}`);
      },
      timeoutMs,
      1000,
    );
  }

  // Elasticsearch on both sides (OpenSearch's vectors are another type, knn_vector, of a plugin).
  it.skipIf(leaderEngine.kind !== 'elasticsearch' || followerEngine.kind !== 'elasticsearch')(
    'vector fields: replicated whole where the leader keeps them in _source, else refused with the reason, or left out once accepted',
    async () => {
      const leader = uniqueName('mx-vec');
      const follower = uniqueName('mx-vec-f');
      await h.leader.createIndex(leader, {
        settings: { index: { number_of_shards: 1, number_of_replicas: 0 } },
        mappings: { properties: { v: { type: 'dense_vector', dims: 3 }, t: { type: 'keyword' } } },
      });
      await h.leader.request('PUT', `/${leader}/_doc/1`, { body: { v: [1, 2, 3], t: 'x' }, query: { refresh: 'true' } });
      // What the leader gives back of _source decides: Elasticsearch 9.2 leaves vectors out of new indices' _source.
      const seen = await h.leader.request<{ hits: { hits: { _source: Record<string, unknown> }[] } }>('POST', `/${leader}/_search`, { body: {} });
      const vectorsKept = 'v' in seen.body.hits.hits[0]!._source;
      if (vectorsKept) {
        expect((await start(follower, leader)).status).toBe(200);
        await waitForDocuments(h.follower, follower, { 1: { v: [1, 2, 3], t: 'x' } });
        return;
      }
      const refused = await start(follower, leader);
      expect(refused.status).toBe(400);
      expect(refused.body.error?.message).toMatch(/keeps the values of its vector fields \("v"\) out of _source \(index.mapping.exclude_source_vectors/);
      const accepted = await control.call('PUT', `/_plugins/_replication/${follower}/_start`, {
        leader_alias: h.names.leaderCluster,
        leader_index: leader,
        accept_partial_source: true,
      });
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
      await waitForDocuments(h.follower, follower, { 1: { t: 'x' } });
      expect((await status(follower)).partial_source).toEqual({ includes: [], excludes: ['v'] });
    },
  );

  it('walkthrough: create, update, delete, stop, and the follower is writable', async () => {
    const leader = uniqueName('mx-walk');
    const follower = uniqueName('mx-walk-f');
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    await h.leader.request('PUT', `/${leader}/_doc/1`, { body: { value: 'data1' } });
    expect((await start(follower, leader, 'none')).status).toBe(200);
    await h.leader.request('PUT', `/${leader}/_doc/2`, { body: { value: 'data2' } });
    await h.leader.request('PUT', `/${leader}/_doc/3`, { body: { value: 'data3' } });
    await waitForDocuments(h.follower, follower, { 2: { value: 'data2' }, 3: { value: 'data3' } });
    await h.leader.request('PUT', `/${leader}/_doc/2`, { body: { value: 'data2-modified' } });
    await h.leader.request('DELETE', `/${leader}/_doc/3`);
    await waitForDocuments(h.follower, follower, { 2: { value: 'data2-modified' } });
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_stop`, {})).status).toBe(200);
    await waitFor('the replication stopped', async () => (await status(follower)).status === 'STOPPED');
    const written = await h.follower.request('PUT', `/${follower}/_doc/4`, { body: { value: 'written on the follower' }, query: { refresh: 'true' } });
    expect(written.status).toBe(201);
    await h.leader.request('PUT', `/${leader}/_doc/5`, { body: { value: 'after stop' } });
    await waitForDocuments(h.follower, follower, { 2: { value: 'data2-modified' }, 4: { value: 'written on the follower' } });
  });

  it('randomized run with deletes and custom routing: the verifier finds the follower identical', async () => {
    const leader = uniqueName('mx-rand');
    const follower = uniqueName('mx-rand-f');
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
    expect((await start(follower, leader)).status).toBe(200);
    const load = startMixedLoad({
      leader: esConnection(stack, 'leader'),
      index: leader,
      seed: 1500 + major(leaderEngine) * 10 + major(followerEngine),
      idSpace: 800,
    });
    await new Promise((r) => setTimeout(r, 8000));
    const counts = await load.stop();
    expect(counts.delete).toBeGreaterThan(0);
    expect(counts.failedBatches).toBe(0);
    await waitIdentical(leader, follower);
    const r = await verifyIndex(h.leader, h.follower, { leaderIndex: leader, followerIndex: follower });
    expect(r.identical).toBe(true);
    // Custom routing kept: each document is on the follower's shard that holds it on the leader (verified per shard).
    expect(r.shards.filter((s) => s.leaderCount > 0).length).toBe(3);
  });

  it('a new field added on the leader reaches the follower mapping', async () => {
    const leader = uniqueName('mx-map');
    const follower = uniqueName('mx-map-f');
    await h.leader.createIndex(leader, {
      settings: { index: { number_of_shards: 1, number_of_replicas: 0 } },
      mappings: { properties: { title: { type: 'text' } } },
    });
    await h.leader.request('PUT', `/${leader}/_doc/1`, { body: { title: 'one' } });
    expect((await start(follower, leader)).status).toBe(200);
    await waitForDocuments(h.follower, follower, { 1: { title: 'one' } });
    await h.leader.request('PUT', `/${leader}/_mapping`, { body: { properties: { added: { type: 'keyword' }, count: { type: 'integer' } } } });
    await h.leader.request('PUT', `/${leader}/_doc/2`, { body: { title: 'two', added: 'x', count: 2 } });
    await waitForDocuments(h.follower, follower, { 1: { title: 'one' }, 2: { title: 'two', added: 'x', count: 2 } });
    const props = await waitFor('the new fields in the follower mapping', async () => {
      const m = (await h.follower.indexMeta(follower)).mappings as { properties?: Record<string, { type?: string }> };
      return m.properties?.added && m.properties.count ? m.properties : undefined;
    });
    expect(props.added!.type).toBe('keyword');
    expect(props.count!.type).toBe('integer');
  });

  it(
    UNKNOWN
      ? `leaves out what the follower does not know and lists it in _status: ${UNKNOWN.leftOut.join(', ')}`
      : 'leaves nothing out (the follower knows every setting and parameter)',
    async () => {
      const leader = uniqueName('mx-unknown');
      const follower = uniqueName('mx-unknown-f');
      await h.leader.createIndex(leader, {
        settings: { index: { number_of_shards: 1, number_of_replicas: 0 }, ...UNKNOWN?.settings },
        mappings: { properties: { title: { type: 'text' }, ...UNKNOWN?.properties } },
      });
      await h.leader.request('PUT', `/${leader}/_doc/1`, { body: { title: 'one', ...(UNKNOWN?.properties ? { host: 'h1' } : {}) } });
      expect((await start(follower, leader)).status).toBe(200);
      await waitIdentical(leader, follower);
      const s = await status(follower);
      if (!UNKNOWN) return expect(s.left_out).toBeUndefined();
      expect([...(s.left_out ?? [])].sort()).toEqual([...UNKNOWN.leftOut].sort());
      // A mapping update on the leader later: what was left out stays out, and the rest is applied.
      await h.leader.request('PUT', `/${leader}/_mapping`, { body: { properties: { later: { type: 'keyword' } } } });
      await h.leader.request('PUT', `/${leader}/_doc/2`, { body: { title: 'two', later: 'y' } });
      await waitIdentical(leader, follower);
      expect((await status(follower)).status).toBe('SYNCING');
    },
  );

  it.runIf(INEXPRESSIBLE)(`fails the replication of a mapping the follower cannot express (${INEXPRESSIBLE?.type}), with the reason`, async () => {
    const leader = uniqueName('mx-inexpr');
    const follower = uniqueName('mx-inexpr-f');
    await h.leader.createIndex(leader, {
      settings: { index: { number_of_shards: 1, number_of_replicas: 0 } },
      mappings: { properties: INEXPRESSIBLE!.mapping },
    });
    await h.leader.request('PUT', `/${leader}/_doc/1`, { body: { labels: { a: 'b' } } });
    expect((await start(follower, leader)).status).toBe(200);
    const s = await waitFor(
      'the replication failed',
      async () => {
        const v = await status(follower);
        return v.status === 'FAILED' ? v : undefined;
      },
      60_000,
      500,
    );
    expect(s.reason).toMatch(new RegExp(`cannot be expressed on the follower.*field \\[labels\\] has type \\[${INEXPRESSIBLE!.type}\\]`));
    expect(await h.follower.indexExists(follower)).toBe(false);
  });

  it(`bootstrap of 10,000 documents by ${snapshotPossible ? 'snapshot' : 'scan (a snapshot start refused with the reason)'}`, async () => {
    const leader = uniqueName('mx-boot');
    const follower = uniqueName('mx-boot-f');
    await leaderWithDocuments(h.leader, leader, 10_000);
    if (!snapshotPossible) {
      const refused = await start(follower, leader, 'snapshot');
      expect(refused.status).toBe(400);
      expect(refused.body.error!.message).toMatch(/bootstrap "snapshot" cannot work from .*choose bootstrap "scan"/);
      expect(await h.follower.indexExists(follower)).toBe(false);
    }
    const t0 = Date.now();
    const r = await start(follower, leader, snapshotPossible ? 'snapshot' : 'scan');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await h.leader.bulk(
      bulkLines(leader, [
        { id: 'd1', source: { n: -1, text: 'changed during bootstrap' } },
        { id: 'd2', delete: true },
      ]),
    );
    await waitIdentical(leader, follower, 300_000);
    const s = await status(follower);
    expect(s.bootstrap).toBe(snapshotPossible ? 'snapshot' : 'scan');
    expect(Object.keys(await documents(h.follower, follower)).length).toBe(9_999);
    console.log(`matrix ${stackEngines(stack)}: bootstrap ${s.bootstrap} of 10,000 documents identical after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
});
