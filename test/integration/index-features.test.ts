/**
 * Index features that cannot be replicated exactly (docs/design/index-features.md), against the real plain stack with real
 * extractor and applier processes: each is refused at _start with a 400 that says why and what to do, and shows
 * the same reason in the auto-follow stats of a rule that matches it; a partial _source is replicated once accepted
 * (the follower holds what the leader's _source keeps), and a synthetic _source as the leader rebuilds it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AutofollowStats } from '../../services/control/autofollow/autofollow.js';
import type { ReplicationSpec } from '../../services/shared/replication.js';
import { kccr } from '../support/cli.js';
import { ADMIN, autofollowEnv, closeControlledHarness, readerHeaders, registerPlainClusters, startControl } from '../support/control.js';
import type { Control } from '../support/control.js';
import { bulkLines, documents, startHarness, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { loadStack, uniqueName, waitFor } from '../support/stack.js';

const INTERVAL_MS = 2000;
const ONE_SHARD = { number_of_shards: 1, number_of_replicas: 0 };

interface StartAnswer {
  acknowledged?: boolean;
  notes?: string[];
  error?: { code: string; message: string };
}

describe('index features refused or accepted at the start (plain stack, real extractor and applier)', () => {
  let h: Harness;
  let control: Control;
  let cli: Record<string, string>;
  const rules: string[] = [];
  const created: { cluster: 'leader' | 'follower'; index: string }[] = [];

  beforeAll(async () => {
    h = await startHarness(loadStack('plain'), 'features');
    control = await startControl(h.stack, { followerCluster: h.names.followerCluster, env: autofollowEnv(h.names.followerCluster, INTERVAL_MS) });
    await registerPlainClusters(control, h.stack, h.names);
    const url = await control.app.listen({ host: '127.0.0.1', port: 0 });
    cli = { KCCR_CONTROL_URL: url, KCCR_CONTROL_USER: ADMIN.name, KCCR_CONTROL_PASSWORD: ADMIN.password };
    control.state.deps.autofollow.start();
  });
  afterAll(async () => {
    if (control) {
      for (const name of rules) await control.call('DELETE', '/_plugins/_replication/_autofollow', { leader_alias: h.names.leaderCluster, name });
      await control.state.deps.autofollow.stop();
      for (const s of control.state.deps.replications.list())
        if (s.followerCluster === h.names.followerCluster) created.push({ cluster: 'follower', index: s.followerIndex });
    }
    const clusters = h ? { leader: h.leader, follower: h.follower } : undefined;
    if (clusters) for (const c of created) await clusters[c.cluster].deleteIndex(c.index).catch(() => undefined);
    await closeControlledHarness(h, control);
  });

  const spec = (followerIndex: string): ReplicationSpec | undefined => control.state.deps.replications.store.get(h.names.followerCluster, followerIndex);

  /** A one-shard leader index with this body (mappings, settings) and documents, refreshed. */
  async function leaderIndex(
    index: string,
    body: { mappings?: Record<string, unknown>; settings?: Record<string, unknown> },
    docs: Record<string, unknown> = {},
  ): Promise<string> {
    await h.leader.createIndex(index, { mappings: body.mappings ?? {}, settings: { index: { ...ONE_SHARD, ...body.settings } } });
    created.push({ cluster: 'leader', index });
    const entries = Object.entries(docs);
    if (entries.length)
      await h.leader.bulk(
        bulkLines(
          index,
          entries.map(([id, source]) => ({ id, source })),
        ),
        { refresh: 'true' },
      );
    return index;
  }

  async function start(followerIndex: string, leader: string, extra: Record<string, unknown> = {}) {
    const r = await control.call<StartAnswer>('PUT', `/_plugins/_replication/${followerIndex}/_start`, {
      leader_alias: h.names.leaderCluster,
      leader_index: leader,
      ...extra,
    });
    return { status: r.status, body: r.body };
  }

  /** Starts `leader` and expects the refusal: 400 BAD_REQUEST, the message matching `why`, no replication written. */
  async function expectRefused(leader: string, why: RegExp, extra: Record<string, unknown> = {}): Promise<string> {
    const follower = uniqueName('feat-refused');
    const r = await start(follower, leader, extra);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.error?.code).toBe('BAD_REQUEST');
    expect(r.body.error?.message).toMatch(why);
    expect(spec(follower)).toBeUndefined();
    return r.body.error!.message;
  }

  async function autofollowStats(): Promise<AutofollowStats> {
    const r = await control.call<AutofollowStats>('GET', '/_plugins/_replication/autofollow_stats', undefined, readerHeaders);
    expect(r.status).toBe(200);
    return r.body;
  }

  async function addRule(body: Record<string, unknown>): Promise<void> {
    const r = await control.call('POST', '/_plugins/_replication/_autofollow', { leader_alias: h.names.leaderCluster, ...body });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    if (!rules.includes(String(body.name))) rules.push(String(body.name));
  }

  const disabled = /has _source disabled; kccr copies documents from _source and cannot replicate it: index the data into a leader index that keeps _source/;
  const partial =
    /keeps only part of _source \(_source excludes: "secret"\); .* start it with "accept_partial_source": true \(kccr start --accept-partial-source; in an auto-follow rule/;

  it('refuses _source disabled (in each spelling), a partial _source and an alias at _start: 400 with the reason and what to do', async () => {
    const p = uniqueName('feat-start');
    await expectRefused(await leaderIndex(`${p}-enabled-false`, { mappings: { _source: { enabled: false } } }), disabled);
    await expectRefused(await leaderIndex(`${p}-mode-disabled`, { mappings: { _source: { mode: 'disabled' } } }), disabled);
    await expectRefused(await leaderIndex(`${p}-setting-disabled`, { settings: { mapping: { source: { mode: 'disabled' } } } }), disabled);
    // Accepting a partial source accepts no less than that: a disabled one stays refused.
    await expectRefused(`${p}-enabled-false`, disabled, { accept_partial_source: true });
    await expectRefused(await leaderIndex(`${p}-partial`, { mappings: { _source: { excludes: ['secret'] } } }), partial);
    const concrete = await leaderIndex(`${p}-concrete`, {}, { a: { v: 1 } });
    await h.leader.request('POST', '/_aliases', { body: { actions: [{ add: { index: concrete, alias: `${p}-alias` } }] } });
    await expectRefused(
      `${p}-alias`,
      new RegExp(`^leader index ${p}-alias is an alias \\(it resolves to ${concrete}\\); replicate the concrete index \\(leader_index "${concrete}"\\)`),
    );
  });

  it("replicates a partial _source once accepted: the follower holds what the leader's _source keeps, and says so", async () => {
    const leader = await leaderIndex(
      uniqueName('feat-partial'),
      {
        mappings: {
          _source: { excludes: ['secret', 'meta.token'] },
          properties: { secret: { type: 'keyword' }, meta: { properties: { token: { type: 'keyword' }, keep: { type: 'keyword' } } } },
        },
      },
      { 1: { v: 1, secret: 's1', meta: { token: 't1', keep: 'k1' } }, 2: { v: 2, secret: 's2', meta: { token: 't2', keep: 'k2' } } },
    );
    const follower = `${leader}-copy`;
    const refused = await kccr(['start', follower, '--leader-cluster', h.names.leaderCluster, '--leader-index', leader], cli);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/keeps only part of _source \(_source excludes: "secret", "meta\.token"\); .*kccr start --accept-partial-source/);
    expect(spec(follower)).toBeUndefined();

    const accepted = await kccr(['start', follower, '--leader-cluster', h.names.leaderCluster, '--leader-index', leader, '--accept-partial-source'], cli);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.stdout).toMatch(
      /note: partial _source accepted: the follower holds what leader index \S+'s _source keeps \(excludes: "secret", "meta\.token"\)/,
    );
    expect(spec(follower)).toMatchObject({ leaderIndex: leader, partialSource: { includes: [], excludes: ['secret', 'meta.token'] } });

    // One document before the start (the scan bootstrap), one after (the change stream).
    await h.leader.bulk(bulkLines(leader, [{ id: '3', source: { v: 3, secret: 's3', meta: { token: 't3', keep: 'k3' } } }]), { refresh: 'true' });
    const kept = await documents(h.leader, leader);
    expect(kept).toEqual({ 1: { v: 1, meta: { keep: 'k1' } }, 2: { v: 2, meta: { keep: 'k2' } }, 3: { v: 3, meta: { keep: 'k3' } } });
    await waitForDocuments(h.follower, follower, kept, 60_000);
    // What the leader's _source leaves out is indexed there but never reaches the follower.
    const hits = async (es: Harness['leader'], index: string) =>
      (await es.search<{ hits: { total: { value: number } } }>(index, { query: { term: { secret: 's1' } } })).hits.total.value;
    expect(await hits(h.leader, leader)).toBe(1);
    expect(await hits(h.follower, follower)).toBe(0);

    const status = await control.call<Record<string, unknown>>('GET', `/_plugins/_replication/${follower}/_status`, undefined, readerHeaders);
    expect(status.body).toMatchObject({ partial_source: { includes: [], excludes: ['secret', 'meta.token'] } });
    const shown = await kccr(['status', follower], cli);
    expect(shown.stdout).toContain("partial _source accepted: the follower holds what the leader's _source keeps (excludes secret,meta.token)");
  });

  it('replicates a synthetic _source (mapping or index setting) as the leader rebuilds it, and says what is kept', async () => {
    const indexed = { name: 'x', tags: ['b', 'a', 'a'], n: '7', z: 1 };
    const properties = { name: { type: 'keyword' }, tags: { type: 'keyword' }, n: { type: 'long' } };
    const p = uniqueName('feat-synthetic');
    const byMapping = await leaderIndex(`${p}-mapping`, { mappings: { _source: { mode: 'synthetic' }, properties } }, { 1: indexed });
    const bySetting = await leaderIndex(`${p}-setting`, { mappings: { properties }, settings: { mapping: { source: { mode: 'synthetic' } } } }, { 1: indexed });
    for (const leader of [byMapping, bySetting]) {
      const r = await start(leader, leader);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.notes).toEqual([
        expect.stringMatching(
          /^leader index \S+ has synthetic _source: the follower gets the same mapping and the documents as the leader rebuilds them; the values are kept, while key order, array order and duplicates/,
        ),
      ]);
      expect(spec(leader)).toMatchObject({ syntheticSource: true });
      expect(spec(leader)).not.toHaveProperty('partialSource');
      // The leader's _source is rebuilt from the index (this stack's Elasticsearch synthesizes it): sorted and
      // deduplicated keywords, the number as a number. The follower holds exactly that.
      const rebuilt = await documents(h.leader, leader);
      expect(rebuilt).toEqual({ 1: { name: 'x', tags: ['a', 'b'], n: 7, z: 1 } });
      await waitForDocuments(h.follower, leader, rebuilt, 60_000);
      const status = await control.call<Record<string, unknown>>('GET', `/_plugins/_replication/${leader}/_status`, undefined, readerHeaders);
      expect(status.body).toMatchObject({ synthetic_source: true });
    }
    const followerMeta = await Promise.all([byMapping, bySetting].map((i) => h.follower.indexMeta(i)));
    expect(followerMeta[0]!.mappings).toMatchObject({ _source: { mode: 'synthetic' } });
    expect(followerMeta[1]!.settings).toMatchObject({ mapping: { source: { mode: 'synthetic' } } });
  });

  it('shows in auto-follow stats the same refusal as _start, and starts a partial _source once the rule accepts it', async () => {
    const p = uniqueName('feat-af');
    const name = `rule-${p}`;
    const plain = await leaderIndex(`${p}-plain`, {}, { a: { v: 1 } });
    const noSource = await leaderIndex(`${p}-nosource`, { mappings: { _source: { enabled: false } } });
    const part = await leaderIndex(`${p}-partial`, { mappings: { _source: { excludes: ['secret'] } } }, { b: { v: 2, secret: 'x' } });
    const reasons = { [noSource]: await expectRefused(noSource, disabled), [part]: await expectRefused(part, partial) };

    await addRule({ name, pattern: `${p}-*` });
    const failuresOf = async () =>
      (await autofollowStats()).autofollow_stats.find((s) => s.name === name && s.follower_cluster === h.names.followerCluster)?.failures ?? [];
    const failures = await waitFor(
      "both refused indices in the rule's stats",
      async () => ((await failuresOf()).length === 2 ? failuresOf() : undefined),
      30_000,
      200,
    );
    expect(failures.map((f) => [f.leader_index, f.code, f.reason])).toEqual([
      [noSource, 'BAD_REQUEST', reasons[noSource]],
      [part, 'BAD_REQUEST', reasons[part]],
    ]);
    // The rule's run wrote the plain index's start before its failures; this test's copy of the table may read it later.
    expect(await waitFor("the rule's start of the plain index", async () => spec(plain), 30_000, 200)).toMatchObject({ requestedBy: `autofollow:${name}` });
    const listed = await kccr(['autofollow', 'list', '--leader-cluster', h.names.leaderCluster, '--follower-cluster', h.names.followerCluster], cli);
    expect(listed.stdout).toContain(`${name}: ${noSource} not started (BAD_REQUEST): ${reasons[noSource]}`);

    // The same rule accepting a partial _source: tried again at once (a changed rule), the partial one starts.
    await addRule({ name, pattern: `${p}-*`, accept_partial_source: true });
    const view = await control.call<{ rules: { name: string; accept_partial_source?: boolean }[] }>(
      'GET',
      `/_plugins/_replication/_autofollow?follower_cluster=${h.names.followerCluster}`,
      undefined,
      readerHeaders,
    );
    expect(view.body.rules.find((r) => r.name === name)).toMatchObject({ accept_partial_source: true });
    await waitFor(`a replication of ${part}`, async () => spec(part), 30_000, 200);
    expect(spec(part)).toMatchObject({ requestedBy: `autofollow:${name}`, partialSource: { includes: [], excludes: ['secret'] } });
    await waitForDocuments(h.follower, part, { b: { v: 2 } }, 60_000);
    await waitFor(
      'only the disabled _source left refused',
      async () => {
        const left = await failuresOf();
        return left.length === 1 && left[0]!.leader_index === noSource && left[0]!.reason === reasons[noSource];
      },
      30_000,
      200,
    );
  });
});
