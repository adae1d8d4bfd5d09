/**
 * Data streams under auto-follow, against the real plain stack (real control app, extractor and applier): a leader
 * data stream made from an index template is followed as what it is. Each backing index is replicated as it appears
 * (rollover included), the follower reads the stream's name as an alias over the replicated backing indices, a backing
 * index the leader deletes (what ILM's delete phase does) is retired on the follower, a `_start` naming the stream is
 * refused with the way to follow it, and after a stop the follower writes under the stream's name (failover), with
 * the stream's rule that a document needs `@timestamp`.
 *
 * The integ-test distribution creates data streams from templates and rolls them over, but has no `_data_stream` API:
 * a data stream cannot be deleted, so each run leaves its stream with one small backing index on the leader.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AutofollowStats } from '../../services/control/autofollow/autofollow.js';
import { compareIndices, describeComparison } from '../support/checks.js';
import { autofollowEnv, forgetClusters, registerPlainClusters, startControl } from '../support/control.js';
import type { Control } from '../support/control.js';
import { startHarness } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { loadStack, uniqueName, waitFor } from '../support/stack.js';

const INTERVAL_MS = 2000;

describe('data streams followed by an auto-follow rule (plain stack, real extractor and applier)', () => {
  let h: Harness;
  let control: Control;
  const prefix = uniqueName('kds');
  const stream = `${prefix}-app`;
  const rule = prefix;

  beforeAll(async () => {
    h = await startHarness(loadStack('plain'), 'data-streams');
    control = await startControl(h.stack, { followerCluster: h.names.followerCluster, env: autofollowEnv(h.names.followerCluster, INTERVAL_MS) });
    await registerPlainClusters(control, h.stack, h.names);
    control.state.deps.autofollow.start();
    const t = await h.leader.request('PUT', `/_index_template/${prefix}`, {
      body: {
        index_patterns: [`${prefix}-*`],
        data_stream: {},
        priority: 500,
        template: { settings: { index: { number_of_shards: 2, number_of_replicas: 0 } }, mappings: { properties: { msg: { type: 'keyword' } } } },
      },
    });
    expect(t.status).toBe(200);
  });

  afterAll(async () => {
    if (control) {
      await control.call('DELETE', '/_plugins/_replication/_autofollow', { leader_alias: h.names.leaderCluster, name: rule });
      await control.state.deps.autofollow.stop();
    }
    await h?.close();
    if (control) await forgetClusters(control, h ? [h.names.leaderCluster, h.names.followerCluster] : []);
  });

  /** Writes documents into the stream (`create`: a data stream takes nothing else), each with its @timestamp. */
  async function write(from: number, count: number): Promise<void> {
    const lines = Array.from({ length: count }, (_, i) => {
      const n = from + i;
      return `${JSON.stringify({ create: { _index: stream, _id: `doc-${n}` } })}\n${JSON.stringify({ '@timestamp': new Date(Date.UTC(2026, 10, 29, 0, 0, n)).toISOString(), msg: `m${n}`, n })}\n`;
    });
    const items = await h.leader.bulk(lines.join(''), { refresh: 'true' });
    expect(items.filter((i) => i.status >= 300)).toEqual([]);
  }

  async function leaderBacking(): Promise<string[]> {
    const r = await h.leader.request<{ data_streams: { name: string; backing_indices: string[] }[] }>('GET', `/_resolve/index/${stream}`);
    return r.body.data_streams.find((d) => d.name === stream)?.backing_indices ?? [];
  }

  async function followerAlias(): Promise<{ members: string[]; writeIndex?: string }> {
    const r = await h.follower.request<Record<string, { aliases: Record<string, { is_write_index?: boolean }> }>>('GET', `/_alias/${stream}`, {
      ignore: [404],
      query: { expand_wildcards: 'all' },
    });
    if (r.status === 404) return { members: [] };
    const entries = Object.entries(r.body);
    const write = entries.find(([, v]) => v.aliases[stream]?.is_write_index === true)?.[0];
    return { members: entries.map(([i]) => i).sort(), ...(write ? { writeIndex: write } : {}) };
  }

  async function countUnderStreamName(): Promise<number> {
    await h.follower.request('POST', `/${stream}/_refresh`, { ignore: [404] });
    const r = await h.follower.request<{ count: number }>('GET', `/${stream}/_count`, { ignore: [404] });
    return r.status === 200 ? r.body.count : -1;
  }

  /** Each leader backing index has its follower copy, identical (ids, routing, _source). */
  async function identicalMembers(backing: readonly string[]): Promise<void> {
    for (const index of backing) {
      await waitFor(
        `${index} identical on the follower`,
        async () => {
          if (!(await h.follower.indexExists(index))) throw new Error(`${index} does not exist on the follower yet`);
          await h.follower.refresh(index);
          const c = await compareIndices(h.leader, h.follower, index, index);
          if (c.differences !== 0) throw new Error(describeComparison(c));
          return true;
        },
        90_000,
        500,
      );
    }
  }

  it('follows each backing index as it appears, reads under the stream name, retires what the leader deletes, and fails over', async () => {
    await write(0, 30);
    const r = await control.call('POST', '/_plugins/_replication/_autofollow', { leader_alias: h.names.leaderCluster, name: rule, pattern: `${prefix}-*` });
    expect(r.status, JSON.stringify(r.body)).toBe(200);

    // The first backing index, and the stream's name readable on the follower.
    const [first] = await leaderBacking();
    expect(first).toMatch(new RegExp(`^\\.ds-${stream}-`));
    await waitFor('30 documents under the stream name on the follower', async () => (await countUnderStreamName()) === 30, 90_000, 500);
    await identicalMembers([first!]);

    // Rollover: the new backing index is followed and joins the alias.
    expect((await h.leader.request('POST', `/${stream}/_rollover`)).status).toBe(200);
    await write(30, 20);
    const afterRollover = await leaderBacking();
    expect(afterRollover).toHaveLength(2);
    await waitFor('50 documents under the stream name after the rollover', async () => (await countUnderStreamName()) === 50, 90_000, 500);
    await identicalMembers(afterRollover);
    expect((await followerAlias()).members).toEqual([...afterRollover].sort());
    // While kccr writes the follower's backing indices, nothing else may: the alias has no write index.
    expect((await followerAlias()).writeIndex).toBeUndefined();

    // A replication of the stream's name is refused, saying how to follow it.
    const refused = await control.call('PUT', `/_plugins/_replication/${uniqueName('kds-f')}/_start`, {
      leader_alias: h.names.leaderCluster,
      leader_index: stream,
    });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toMatch(/is a data stream .*add an auto-follow rule whose pattern matches/);

    // ILM's delete phase, by hand: roll over again, then delete the oldest backing index on the leader.
    expect((await h.leader.request('POST', `/${stream}/_rollover`)).status).toBe(200);
    await write(50, 5);
    expect((await h.leader.request('DELETE', `/${first}`)).status).toBe(200);
    const remaining = await leaderBacking();
    expect(remaining).toHaveLength(2);
    await waitFor(
      'the deleted backing index retired on the follower',
      async () => {
        const spec = control.state.deps.replications.store.get(h.names.followerCluster, first!);
        return spec?.state === 'stopped' && !(await h.follower.indexExists(first!));
      },
      60_000,
      500,
    );
    await identicalMembers(remaining);
    await waitFor('25 documents under the stream name, the alias over the two left', async () => (await countUnderStreamName()) === 25, 60_000, 500);
    expect((await followerAlias()).members).toEqual([...remaining].sort());
    const stats = await control.call<AutofollowStats>('GET', '/_plugins/_replication/autofollow_stats');
    const mine = stats.body.autofollow_stats.find((s) => s.name === rule);
    expect(mine?.num_success_start_replication).toBe(3);
    expect(mine?.last_group_error).toBeUndefined();

    // Failover: stop the replications; the newest backing index becomes the alias's write index.
    for (const index of remaining) expect((await control.call('POST', `/_plugins/_replication/${index}/_stop`, {})).status).toBe(200);
    const newest = remaining.at(-1)!;
    await waitFor('the newest backing index to be the write index of the stream name', async () => (await followerAlias()).writeIndex === newest, 30_000, 250);
    const written = await h.follower.request<{ _index: string }>('POST', `/${stream}/_doc`, {
      body: { '@timestamp': '2026-11-29T12:00:00Z', msg: 'after failover' },
    });
    expect(written.status).toBe(201);
    expect(written.body._index).toBe(newest);
    // The stream's rule holds on the follower too: a document without @timestamp is refused.
    const bad = await h.follower.request('POST', `/${stream}/_doc`, { body: { msg: 'no timestamp' }, ignore: [400] });
    expect(bad.status).toBe(400);
    expect(await countUnderStreamName()).toBe(26);
  }, 300_000);

  it('follows the indices behind a rollover alias matched by name, rollover included, with the alias on the follower', async () => {
    const base = uniqueName('kro');
    const alias = `${base}-w`;
    const name = `${base}-rule`;
    const idx = (n: number) => `${base}-00000${n}`;
    await h.leader.createIndex(idx(1), { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } }, aliases: { [alias]: { is_write_index: true } } });
    const writeVia = async (from: number, count: number) => {
      const lines = Array.from(
        { length: count },
        (_, i) => `${JSON.stringify({ index: { _index: alias, _id: `r-${from + i}` } })}\n${JSON.stringify({ n: from + i })}\n`,
      );
      const items = await h.leader.bulk(lines.join(''), { refresh: 'true' });
      expect(items.filter((i) => i.status >= 300)).toEqual([]);
    };
    await writeVia(0, 10);
    // The rule names the alias only: the indices behind it are followed as its members.
    const r = await control.call('POST', '/_plugins/_replication/_autofollow', { leader_alias: h.names.leaderCluster, name, pattern: alias });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    try {
      await identicalMembers([idx(1)]);
      expect((await h.leader.request('POST', `/${alias}/_rollover`)).status).toBe(200);
      await writeVia(10, 7);
      await identicalMembers([idx(1), idx(2)]);
      const count = async () => {
        await h.follower.request('POST', `/${alias}/_refresh`, { ignore: [404] });
        return (await h.follower.request<{ count: number }>('GET', `/${alias}/_count`, { ignore: [404] })).body.count;
      };
      await waitFor('17 documents under the alias on the follower', async () => (await count()) === 17, 60_000, 500);
      // The write flag moved with the rollover, as on the leader; after a stop, writes through the alias land there.
      await waitFor(
        'the write flag on the second generation only',
        async () => {
          const a = await h.follower.request<Record<string, { aliases: Record<string, { is_write_index?: boolean }> }>>('GET', `/_alias/${alias}`);
          const flags = Object.fromEntries(
            Object.entries(a.body)
              .map(([i, v]) => [i, v.aliases[alias]?.is_write_index ?? null] as const)
              .sort(([x], [y]) => x.localeCompare(y)),
          );
          // Thrown, so that a timeout reports the flags last seen.
          if (JSON.stringify(flags) !== JSON.stringify({ [idx(1)]: false, [idx(2)]: true })) throw new Error(JSON.stringify(flags));
          return true;
        },
        30_000,
        250,
      );
      await control.call('DELETE', '/_plugins/_replication/_autofollow', { leader_alias: h.names.leaderCluster, name });
      for (const i of [idx(1), idx(2)]) expect((await control.call('POST', `/_plugins/_replication/${i}/_stop`, {})).status).toBe(200);
      const written = await h.follower.request<{ _index: string }>('POST', `/${alias}/_doc`, { body: { n: -1 } });
      expect(written.body._index).toBe(idx(2));
    } finally {
      await control.call('DELETE', '/_plugins/_replication/_autofollow', { leader_alias: h.names.leaderCluster, name });
    }
  }, 240_000);
});
