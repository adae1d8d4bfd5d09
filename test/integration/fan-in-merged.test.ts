/**
 * Fan-in, merged mode, against the real plain stack with two leader clusters (KCCR_LEADER_CLUSTERS=2): leader
 * indices of both leaders, with the same ids, written into ONE follower index. Ids are namespaced per source,
 * provenance is a field, routing is the leader's, deletes go per source, each source is verified on its own part of
 * the merged index, and a mapping conflict between sources stops only the source that brings it.
 *
 * Skipped, saying so, on a stack with one leader cluster; `npm test` starts its plain stack with two.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { mergedSourceName } from '../../services/shared/merge.js';
import { verifyIndex } from '../../services/verifier/verify.js';
import { kccr } from '../support/cli.js';
import type { Control } from '../support/control.js';
import { closeFanIn, startFanIn, startLeader2Extractor } from '../support/fan-in.js';
import type { FanIn } from '../support/fan-in.js';
import { bulkLines } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import type { ServiceProcess } from '../support/services.js';
import { leaderClusters, loadStack, uniqueName, waitFor } from '../support/stack.js';

const INTERVAL_MS = 2000;
const stack = loadStack('plain');
const leaders = leaderClusters(stack);
const SKIP = leaders.length < 2;
if (SKIP) {
  console.warn(
    `merged fan-in tests skipped: the plain stack (${process.env.KCCR_STACK_STATE ?? '.stack/stack.json'}) has ${leaders.length} leader cluster; start it with KCCR_LEADER_CLUSTERS=2 (npm test does)`,
  );
}

interface StatusView {
  status: string;
  reason?: string;
  leader_alias: string;
  leader_index: string;
  follower_index: string;
  merged?: { into: string; id_template: string; origin_field: string };
}

describe.skipIf(SKIP)(`fan-in merged: two leader clusters into one follower index (${leaders.length} in the stack)`, () => {
  let f: FanIn | undefined;
  let h: Harness;
  let control: Control;
  let extractor2: ServiceProcess | undefined;
  let leader2: ElasticsearchAdapter;
  let cli: Record<string, string>;
  let east: string;
  const west = uniqueName('lc2');
  const prefix = uniqueName('shop');
  const index = `${prefix}-orders`;
  const merged = `${prefix}-all`;
  const ids = Array.from({ length: 20 }, (_, i) => String(i + 1));
  const mapping = { properties: { from: { type: 'keyword' }, n: { type: 'long' } } };

  const leaderEs = (cluster: string) => (cluster === west ? leader2 : h.leader);
  const source = (into: string, cluster: string, leaderIndex = index) => mergedSourceName(into, { leaderCluster: cluster, leaderIndex });

  async function status(name: string): Promise<StatusView> {
    const r = await control.call('GET', `/_plugins/_replication/${name}/_status`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body as unknown as StatusView;
  }

  /** Waits until a replication shows `wanted`, and returns its status. */
  async function reaches(name: string, wanted: string, timeoutMs = 60_000): Promise<StatusView> {
    return waitFor(
      `${name} ${wanted}`,
      async () => {
        const s = await status(name);
        return s.status === wanted ? s : undefined;
      },
      timeoutMs,
      500,
    );
  }

  async function start(into: string, cluster: string, leaderIndex = index, merge: Record<string, string> = {}) {
    return control.call('PUT', `/_plugins/_replication/${into}/_start`, { leader_alias: cluster, leader_index: leaderIndex, merge });
  }

  async function count(into: string, query?: unknown): Promise<number> {
    await h.follower.refresh(into);
    const r = await h.follower.request<{ count: number }>('GET', `/${into}/_count`, query ? { body: { query } } : {});
    return r.body.count;
  }

  async function doc(into: string, id: string, routing?: string): Promise<{ found: boolean; _source?: Record<string, unknown>; _routing?: string }> {
    const r = await h.follower.request<{ found: boolean; _source?: Record<string, unknown>; _routing?: string }>(
      'GET',
      `/${into}/_doc/${encodeURIComponent(id)}`,
      { ignore: [404], ...(routing ? { query: { routing } } : {}) },
    );
    return r.body;
  }

  /** Waits until this source's part of the merged index is identical to its leader index (kccr's verifier, per source). */
  async function verified(into: string, cluster: string, leaderIndex: string, docs: number): Promise<void> {
    await waitFor(
      `${cluster}:${leaderIndex} identical to its part of ${into} (${docs} documents)`,
      async () => {
        if (!(await h.follower.indexExists(into))) throw new Error(`${into} does not exist yet`);
        await leaderEs(cluster).refresh(leaderIndex);
        const r = await verifyIndex(leaderEs(cluster), h.follower, {
          leaderIndex,
          followerIndex: into,
          merged: {
            merge: { idTemplate: '{{leader_cluster}}:{{leader_index}}:{{id}}', originField: '_kccr.origin' },
            source: { leaderCluster: cluster, leaderIndex },
          },
        });
        const leaderDocs = r.shards.reduce((n, s) => n + s.leaderScanned, 0);
        const followerDocs = r.shards.reduce((n, s) => n + s.followerScanned, 0);
        if (!r.identical || leaderDocs !== docs || followerDocs !== docs)
          throw new Error(`${r.differences} differences, leader ${leaderDocs}, follower part ${followerDocs}: ${JSON.stringify(r.shards)}`);
        return true;
      },
      90_000,
      500,
    );
  }

  beforeAll(async () => {
    f = await startFanIn(stack, 'fan-in-merged', west, INTERVAL_MS);
    ({ h, control, leader2, cli } = f);
    east = h.names.leaderCluster;
    extractor2 = startLeader2Extractor(stack, h, west, 'fan-in-merged');
  });

  afterAll(async () => {
    if (f) await closeFanIn(f, extractor2, west);
  });

  it('refuses merged starts it cannot honour, with the reason', async () => {
    await h.leader.createIndex(`${prefix}-probe`, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    const bad = await start(`${prefix}-x`, east, `${prefix}-probe`, { id_template: '{{leader_cluster}}-{{leader_index}}-{{id}}' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/id_template must separate/);
    const field = await start(`${prefix}-x`, east, `${prefix}-probe`, { origin_field: 'a..b' });
    expect(field.status).toBe(400);
    expect(JSON.stringify(field.body)).toMatch(/origin_field must be a dotted field path/);
    const snap = await control.call('PUT', `/_plugins/_replication/${prefix}-x/_start`, {
      leader_alias: east,
      leader_index: `${prefix}-probe`,
      bootstrap: 'snapshot',
      merge: {},
    });
    expect(snap.status).toBe(400);
    expect(JSON.stringify(snap.body)).toMatch(/cannot fill a merged index/);
  });

  it('merges the same ids of two leaders without collision: provenance added, routing kept, each source identical to its part', async () => {
    for (const [cluster, es, shards] of [
      [east, h.leader, 2],
      [west, leader2, 1],
    ] as const) {
      await es.createIndex(index, { settings: { index: { number_of_shards: shards, number_of_replicas: 0 } }, mappings: mapping });
      await es.bulk(
        bulkLines(index, [
          ...ids.map((id) => ({ id, source: { from: cluster, n: Number(id) } })),
          { id: 'routed', routing: 'r7', source: { from: cluster, n: 0 } },
        ]),
        { refresh: 'true' },
      );
    }
    const a = await start(merged, east);
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    expect(a.body).toMatchObject({ acknowledged: true, source: source(merged, east) });
    const b = await start(merged, west);
    expect(b.status, JSON.stringify(b.body)).toBe(200);

    await waitFor(
      `${merged} holds both sources' ${2 * (ids.length + 1)} documents`,
      async () => (await h.follower.indexExists(merged)) && (await count(merged)) === 2 * (ids.length + 1),
      90_000,
      500,
    );
    const one = await doc(merged, `${east}:${index}:1`);
    expect(one._source).toEqual({ _kccr: { origin: { cluster: east, index } }, from: east, n: 1 });
    expect((await doc(merged, `${west}:${index}:1`))._source).toEqual({ _kccr: { origin: { cluster: west, index } }, from: west, n: 1 });
    const routed = await doc(merged, `${west}:${index}:routed`, 'r7');
    expect(routed).toMatchObject({ found: true, _routing: 'r7' });
    // The provenance is mapped as keywords: each source's documents are found by it.
    const mine = { bool: { filter: [{ term: { '_kccr.origin.cluster': west } }, { term: { '_kccr.origin.index': index } }] } };
    expect(await count(merged, mine)).toBe(ids.length + 1);
    const m = await h.follower.request<Record<string, { mappings: { properties: Record<string, unknown> } }>>('GET', `/${merged}/_mapping`);
    expect(m.body[merged]!.mappings.properties._kccr).toEqual({
      properties: { origin: { properties: { cluster: { type: 'keyword' }, index: { type: 'keyword' } } } },
    });

    await verified(merged, east, index, ids.length + 1);
    await verified(merged, west, index, ids.length + 1);

    // Status and the listing per source.
    for (const c of [east, west]) await reaches(source(merged, c), 'SYNCING', 30_000);
    expect(await status(source(merged, west))).toMatchObject({
      leader_alias: west,
      leader_index: index,
      follower_index: source(merged, west),
      merged: { into: merged, id_template: '{{leader_cluster}}:{{leader_index}}:{{id}}', origin_field: '_kccr.origin' },
    });
    const list = await control.call('GET', `/_kccr/replications?leader_cluster=${west}`);
    expect((list.body as { replications: unknown[] }).replications).toEqual([
      expect.objectContaining({ follower_index: source(merged, west), merged_into: merged, leader_cluster: west, leader_index: index }),
    ]);
    // The merged index itself is no replication: its _status names its sources.
    const whole = await control.call('GET', `/_plugins/_replication/${merged}/_status`);
    expect(whole.status).toBe(404);
    expect(JSON.stringify(whole.body)).toContain(
      `is a merged index: each of its sources is a replication of its own (${source(merged, east)}, ${source(merged, west)})`,
    );
    // kccr verify, per source, as an operator runs it; and the status through the CLI.
    const verify = await kccr(['verify', '--leader-index', index, '--follower-index', merged, '--merged-from', west, '--json'], {
      KCCR_LEADER_URL: h.stack.clusters[leaders[1]!]!.url,
      KCCR_FOLLOWER_URL: h.stack.clusters.follower.url,
    });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ identical: true, differences: 0, verdict: expect.stringContaining('identical') });
    // Named as another leader cluster's part, nothing of the leader index is there.
    const wrong = await kccr(['verify', '--leader-index', index, '--follower-index', merged, '--merged-from', 'nobody'], {
      KCCR_LEADER_URL: h.stack.clusters[leaders[1]!]!.url,
      KCCR_FOLLOWER_URL: h.stack.clusters.follower.url,
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/missing/);
    const st = await kccr(['status', source(merged, west)], cli);
    expect(st.stdout).toContain(`one source of merged index ${merged}: _id {{leader_cluster}}:{{leader_index}}:{{id}}, provenance in _kccr.origin`);
    const shown = await kccr(['replications'], cli);
    expect(shown.stdout).toContain(source(merged, east));
    expect(shown.stdout).toContain(source(merged, west));
  });

  it('propagates updates and deletes per source: a delete on one leader never removes the other leader\u2019s same id', async () => {
    await h.leader.bulk(
      bulkLines(index, [
        { id: '3', delete: true },
        { id: '4', delete: true },
        { id: 'routed', routing: 'r7', delete: true },
        { id: '1', source: { from: east, n: 1, updated: true } },
      ]),
    );
    await leader2.bulk(bulkLines(index, [{ id: '2', source: { from: west, n: 2, updated: true } }]));
    await verified(merged, east, index, ids.length - 2);
    await verified(merged, west, index, ids.length + 1);
    expect((await doc(merged, `${east}:${index}:3`)).found).toBe(false);
    expect((await doc(merged, `${west}:${index}:3`)).found).toBe(true);
    expect((await doc(merged, `${west}:${index}:routed`, 'r7')).found).toBe(true);
    expect((await doc(merged, `${east}:${index}:1`))._source).toEqual({ _kccr: { origin: { cluster: east, index } }, from: east, n: 1, updated: true });
  });

  it('stops one source: the other keeps flowing into the merged index, the stopped one\u2019s changes no longer arrive', async () => {
    const r = await control.call('POST', `/_plugins/_replication/${source(merged, west)}/_stop`, {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await waitFor('west stopped', async () => (await status(source(merged, west))).status === 'STOPPED', 15_000, 200);
    await leader2.request('PUT', `/${index}/_doc/after-stop`, { body: { from: west, n: 99 } });
    await h.leader.request('PUT', `/${index}/_doc/after-stop`, { body: { from: east, n: 99 } });
    await verified(merged, east, index, ids.length - 1);
    expect((await status(source(merged, east))).status).toBe('SYNCING');
    expect((await doc(merged, `${west}:${index}:after-stop`)).found).toBe(false);
    // West's documents stay in the merged index as they were.
    expect(await count(merged, { bool: { filter: [{ term: { '_kccr.origin.cluster': west } }] } })).toBe(ids.length + 1);
  });

  it('reports a mapping conflict between sources on the source that brings it, applies nothing of it, and the other source flows on', async () => {
    const conflictIndex = `${prefix}-codes`;
    const into = `${prefix}-codes-all`;
    await h.leader.createIndex(conflictIndex, {
      settings: { index: { number_of_shards: 1, number_of_replicas: 0 } },
      mappings: { properties: { code: { type: 'long' } } },
    });
    await leader2.createIndex(conflictIndex, {
      settings: { index: { number_of_shards: 1, number_of_replicas: 0 } },
      mappings: { properties: { code: { type: 'keyword' } } },
    });
    await h.leader.bulk(bulkLines(conflictIndex, [{ id: 'a', source: { code: 1 } }]), { refresh: 'true' });
    await leader2.bulk(bulkLines(conflictIndex, [{ id: 'a', source: { code: 'A-1' } }]), { refresh: 'true' });
    expect((await start(into, east, conflictIndex)).status).toBe(200);
    await verified(into, east, conflictIndex, 1);
    expect((await start(into, west, conflictIndex)).status).toBe(200);

    const failed = await reaches(source(into, west, conflictIndex), 'FAILED');
    expect(failed.reason).toContain(`field [code] is [long] in ${into} but [keyword] in ${west}:${conflictIndex}`);
    // Nothing of west applied; the index's mapping is east's; east goes on.
    await h.leader.request('PUT', `/${conflictIndex}/_doc/b`, { body: { code: 2 } });
    await verified(into, east, conflictIndex, 2);
    expect(await count(into, { term: { '_kccr.origin.cluster': west } })).toBe(0);
    const m = await h.follower.request<Record<string, { mappings: { properties: { code: { type: string } } } }>>('GET', `/${into}/_mapping`);
    expect(m.body[into]!.mappings.properties.code.type).toBe('long');
    await reaches(source(into, east, conflictIndex), 'SYNCING', 30_000);
    // Stopping the conflicting source is the way out; the other stays.
    expect((await control.call('POST', `/_plugins/_replication/${source(into, west, conflictIndex)}/_stop`, {})).status).toBe(200);
  });

  it('reports a conflict that comes later, with a mapping change on one leader, and leaves the other source flowing', async () => {
    const late = `${prefix}-late`;
    const into = `${prefix}-late-all`;
    for (const [cluster, es] of [
      [east, h.leader],
      [west, leader2],
    ] as const) {
      await es.createIndex(late, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
      await es.bulk(bulkLines(late, [{ id: 'a', source: { from: cluster } }]), { refresh: 'true' });
      expect((await start(into, cluster, late)).status).toBe(200);
    }
    await verified(into, east, late, 1);
    await verified(into, west, late, 1);
    // East maps a new field as a number first; west then maps the same field as text.
    await h.leader.request('PUT', `/${late}/_doc/b`, { body: { from: east, size: 5 } });
    await verified(into, east, late, 2);
    await leader2.request('PUT', `/${late}/_doc/b`, { body: { from: west, size: 'five' } });
    const failed = await reaches(source(into, west, late), 'FAILED');
    expect(failed.reason).toContain(`field [size] is [long] in ${into} but [text] in ${west}:${late}`);
    expect((await doc(into, `${west}:${late}:b`)).found).toBe(false);
    await h.leader.request('PUT', `/${late}/_doc/c`, { body: { from: east, size: 6 } });
    await verified(into, east, late, 3);
    expect((await control.call('POST', `/_plugins/_replication/${source(into, west, late)}/_stop`, {})).status).toBe(200);
  });

  it('dead-letters a leader document holding a field of the provenance name, which would mix with the provenance', async () => {
    const forge = `${prefix}-forge`;
    const into = `${prefix}-forge-all`;
    await h.leader.createIndex(forge, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    await h.leader.bulk(
      bulkLines(forge, [
        { id: 'good', source: { v: 1 } },
        { id: 'forged', source: { v: 2, '_kccr.origin.cluster': west } },
      ]),
      { refresh: 'true' },
    );
    expect((await start(into, east, forge)).status).toBe(200);
    const s = await waitFor(
      'the forged document dead-lettered',
      async () => {
        const st = (await status(source(into, east, forge))) as StatusView & { recent_dead_letters?: { id: string; reason: string }[] };
        return st.recent_dead_letters?.length ? st : undefined;
      },
      60_000,
      500,
    );
    expect(s.recent_dead_letters![0]).toMatchObject({ id: 'forged', reason: expect.stringContaining('named like the provenance field _kccr.origin') });
    expect((await doc(into, `${east}:${forge}:good`)).found).toBe(true);
    expect((await doc(into, `${east}:${forge}:forged`)).found).toBe(false);
    expect(await count(into, { term: { '_kccr.origin.cluster': west } })).toBe(0);
  });

  it('an auto-follow rule in merged mode over both leaders merges a new index of each into one index', async () => {
    const rule = `${prefix}-ev`;
    const events = `${prefix}-ev-1`;
    const into = `${prefix}-events`;
    const added = await kccr(
      ['autofollow', 'add', rule, '--leader-cluster', `${east},${west}`, '--pattern', `${prefix}-ev-*`, '--follower-pattern', into, '--merged'],
      cli,
    );
    expect(added.code, added.stderr).toBe(0);
    const listed = await control.call('GET', `/_plugins/_replication/_autofollow?leader_alias=${west}`);
    expect((listed.body as { rules: unknown[] }).rules).toEqual([expect.objectContaining({ name: rule, mode: 'merged', follower_index_pattern: into })]);
    for (const [cluster, es] of [
      [east, h.leader],
      [west, leader2],
    ] as const) {
      await es.createIndex(events, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
      await es.bulk(
        bulkLines(
          events,
          ['a', 'b', 'c'].map((id) => ({ id, source: { from: cluster, id } })),
        ),
        { refresh: 'true' },
      );
    }
    await verified(into, east, events, 3);
    await verified(into, west, events, 3);
    expect(await count(into)).toBe(6);
    // SYNCING once the extractor reports its scan done (the documents may arrive before that report).
    await reaches(source(into, west, events), 'SYNCING', 30_000);
    expect(await status(source(into, west, events))).toMatchObject({ merged: { into } });
    await control.call('DELETE', '/_plugins/_replication/_autofollow', { leader_clusters: [east, west], name: rule });
  });

  it('rebuilds a merged index from the topics of all its sources; the alias moves once every source has caught up', async () => {
    const events = `${prefix}-ev-1`;
    const into = `${prefix}-events`;
    const alias = `${prefix}-events-read`;
    const rebuilt = `${prefix}-events-2`;
    expect((await h.follower.request('PUT', `/${into}/_alias/${alias}`)).status).toBe(200);
    // One source's topic is its own: a source alone is not rebuilt.
    const one = await control.call('POST', `/_plugins/_replication/${source(into, east, events)}/_rebuild`, { alias });
    expect(one.status).toBe(400);
    expect(JSON.stringify(one.body)).toMatch(/rebuild the merged index/);
    const r = await control.call('POST', `/_plugins/_replication/${into}/_rebuild`, { alias, new_index: rebuilt });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ new_index: rebuilt, alias, old_index: into });
    await leader2.request('PUT', `/${events}/_doc/during`, { body: { from: west, id: 'during' } });
    await waitFor(
      'the alias moved to the rebuilt merged index',
      async () => {
        const views = await Promise.all(
          [east, west].map(
            async (c) => (await control.call('GET', `/_plugins/_replication/${source(rebuilt, c, events)}/_rebuild`)).body as { alias_moved_at: string | null },
          ),
        );
        return views.every((v) => v.alias_moved_at !== null);
      },
      90_000,
      500,
    );
    const members = await h.follower.request<Record<string, unknown>>('GET', `/_alias/${alias}`);
    expect(Object.keys(members.body)).toEqual([rebuilt]);
    await verified(rebuilt, east, events, 3);
    await verified(rebuilt, west, events, 4);
    expect((await status(source(into, west, events))).status).toBe('STOPPED');
    await reaches(source(rebuilt, west, events), 'SYNCING', 30_000);
    expect(await status(source(rebuilt, west, events))).toMatchObject({ merged: { into: rebuilt } });
  });
});
