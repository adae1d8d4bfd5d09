/**
 * Fan-in, per source, against the real plain stack with two leader clusters (KCCR_LEADER_CLUSTERS=2): one extractor
 * per leader cluster, one applier for the central follower, and a control service whose auto-follow rule covers both
 * leaders. Each leader holds an index of the same name with the same ids and content of its own; each arrives in a
 * follower index of its own (`{{leader_cluster}}-{{leader_index}}`), identical to its leader index, and one alias
 * reads them all.
 *
 * Skipped, saying so, on a stack with one leader cluster; `npm test` starts its plain stack with two.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import type { ReplicationSpec } from '../../services/shared/replication.js';
import { compareIndices, describeComparison } from '../support/checks.js';
import { kccr } from '../support/cli.js';
import type { Control } from '../support/control.js';
import { closeFanIn, startFanIn, startLeader2Extractor } from '../support/fan-in.js';
import type { FanIn } from '../support/fan-in.js';
import { bulkLines, documents, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { killPart, localStack, startParts } from '../support/faults.js';
import type { ServiceProcess } from '../support/services.js';
import { leaderClusters, loadStack, stackStateFile, uniqueName, waitFor } from '../support/stack.js';

const INTERVAL_MS = 2000;
const stack = loadStack('plain');
const leaders = leaderClusters(stack);
const SKIP = leaders.length < 2;
if (SKIP) {
  console.warn(
    `fan-in tests skipped: the plain stack (${process.env.KCCR_STACK_STATE ?? '.stack/stack.json'}) has ${leaders.length} leader cluster; start it with KCCR_LEADER_CLUSTERS=2 (npm test does)`,
  );
}

interface StatusView {
  status: string;
  reason?: string;
  leader_alias: string;
  leader_index: string;
  follower_index: string;
}
interface ListedReplication {
  follower_index: string;
  leader_cluster: string;
  leader_index: string;
  status: string;
}

describe.skipIf(SKIP)(`fan-in per source: one auto-follow rule over two leader clusters (${leaders.length} in the stack)`, () => {
  let f: FanIn | undefined;
  let h: Harness;
  let control: Control;
  let extractor2: ServiceProcess | undefined;
  let leader2: ElasticsearchAdapter;
  /** The CLI's settings for this control service. */
  let cli: Record<string, string>;
  /** The kccr names of the two leader clusters: the harness's (stack leader 1) and one for stack leader 2. */
  let east: string;
  const west = uniqueName('lc2');
  const prefix = uniqueName('orders');
  const rule = prefix;
  const alias = `${prefix}-all`;
  const index = `${prefix}-a`;
  const ids = Array.from({ length: 20 }, (_, i) => String(i + 1));

  const fc = () => h.names.followerCluster;
  const followerOf = (cluster: string, leaderIndex: string) => `${cluster}-${leaderIndex}`;
  const leaderEs = (cluster: string) => (cluster === west ? leader2 : h.leader);
  const specOf = (cluster: string, leaderIndex: string): ReplicationSpec | undefined =>
    control.state.deps.replications
      .list()
      .find((s) => s.followerCluster === fc() && s.leaderCluster === cluster && s.leaderIndex === leaderIndex && s.state !== 'stopped');

  function startWestExtractor(): ServiceProcess {
    return startLeader2Extractor(stack, h, west, 'fan-in');
  }

  async function aliasMembers(): Promise<string[]> {
    const r = await h.follower.request<Record<string, unknown>>('GET', `/_alias/${alias}`, { ignore: [404] });
    return r.status === 404 ? [] : Object.keys(r.body).sort();
  }

  async function aliasCount(): Promise<number> {
    await h.follower.request('POST', `/${alias}/_refresh`);
    const r = await h.follower.request<{ count: number }>('GET', `/${alias}/_count`);
    return r.body.count;
  }

  async function status(followerIndex: string): Promise<StatusView> {
    const r = await control.call('GET', `/_plugins/_replication/${followerIndex}/_status`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body as unknown as StatusView;
  }

  /** Waits until the follower index of `cluster`'s leader index is identical to it (ids, routing, source). */
  async function identical(cluster: string, leaderIndex: string, count: number): Promise<void> {
    const followerIndex = followerOf(cluster, leaderIndex);
    await waitFor(
      `${followerIndex} identical to ${cluster}:${leaderIndex} with ${count} documents`,
      async () => {
        if (!(await h.follower.indexExists(followerIndex))) throw new Error(`${followerIndex} does not exist yet`);
        await Promise.all([leaderEs(cluster).refresh(leaderIndex), h.follower.refresh(followerIndex)]);
        const c = await compareIndices(leaderEs(cluster), h.follower, leaderIndex, followerIndex);
        // Thrown, so that a timeout reports the last comparison.
        if (c.differences !== 0 || c.leaderCount !== count) throw new Error(describeComparison(c));
        return true;
      },
      90_000,
      500,
    );
  }

  beforeAll(async () => {
    f = await startFanIn(stack, 'fan-in', west, INTERVAL_MS);
    ({ h, control, leader2, cli } = f);
    east = h.names.leaderCluster;
    extractor2 = startWestExtractor();
  });

  afterAll(async () => {
    if (control) await control.call('DELETE', '/_plugins/_replication/_autofollow', { leader_clusters: [east, west], name: rule }).catch(() => undefined);
    if (f) await closeFanIn(f, extractor2, west);
  });

  it('refuses a rule over both leaders whose follower index name would let their same-named indices collide', async () => {
    const r = await control.call('POST', '/_plugins/_replication/_autofollow', {
      leader_clusters: [east, west],
      name: `${rule}-bad`,
      pattern: `${prefix}-*`,
      follower_index_pattern: 'central-{{leader_index}}',
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toMatch(/lacks \{\{leader_cluster\}\}; the rule covers several leader clusters/);
  });

  it('replicates index, update and delete from both leaders into their own follower indices, identical, under one alias', async () => {
    // The same index name, the same ids, different content in each leader: what would collide without per-source names.
    for (const [cluster, es] of [
      [east, h.leader],
      [west, leader2],
    ] as const) {
      await es.createIndex(index, { settings: { index: { number_of_shards: 2, number_of_replicas: 0 } } });
      await es.bulk(
        bulkLines(
          index,
          ids.map((id) => ({ id, source: { from: cluster, n: Number(id) } })),
        ),
        { refresh: 'true' },
      );
    }
    // Through the CLI, as an operator adds it: several leader clusters in --leader-cluster, the alias.
    const added = await kccr(['autofollow', 'add', rule, '--leader-cluster', `${east},${west}`, '--pattern', `${prefix}-*`, '--follower-alias', alias], cli);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain(`under the alias ${alias}`);
    const listed = await control.call('GET', `/_plugins/_replication/_autofollow?leader_alias=${west}`);
    expect(listed.body).toMatchObject({
      rules: [
        { name: rule, leader_alias: '*', leader_clusters: [east, west], follower_index_pattern: '{{leader_cluster}}-{{leader_index}}', follower_alias: alias },
      ],
    });

    await waitFor('both sources started', async () => (specOf(east, index) && specOf(west, index) ? true : undefined), 60_000);
    expect(specOf(west, index)!.followerIndex).toBe(followerOf(west, index));

    // Updates and deletes on both leaders while replication runs.
    for (const [cluster, es] of [
      [east, h.leader],
      [west, leader2],
    ] as const) {
      await es.bulk(
        bulkLines(index, [
          ...['1', '2', '3'].map((id) => ({ id, source: { from: cluster, n: Number(id), updated: true } })),
          ...['4', '5'].map((id) => ({ id, delete: true })),
        ]),
      );
    }
    await identical(east, index, 18);
    await identical(west, index, 18);
    expect((await documents(h.follower, followerOf(west, index)))['1']).toEqual({ from: west, n: 1, updated: true });

    // The alias reads both sources.
    await waitFor('the alias over both follower indices', async () => {
      const members = await aliasMembers();
      if (members.join(',') === [followerOf(east, index), followerOf(west, index)].sort().join(',')) return true;
      throw new Error(`the alias holds ${members.join(', ') || 'nothing'}`);
    });
    expect(await aliasCount()).toBe(36);

    // Each replication names its leader cluster in _status and in the list.
    expect(await status(followerOf(west, index))).toMatchObject({ status: 'SYNCING', leader_alias: west, leader_index: index });
    const list = await control.call('GET', `/_kccr/replications?leader_cluster=${west}`);
    expect((list.body as { replications: ListedReplication[] }).replications).toEqual([
      expect.objectContaining({ follower_index: followerOf(west, index), leader_cluster: west, leader_index: index }),
    ]);
    const shown = await kccr(['replications'], cli);
    expect(shown.stdout).toContain(`${west}:${index}`);
    expect(shown.stdout).toContain(`${east}:${index}`);
    const rules = await kccr(['autofollow', 'list'], cli);
    expect(rules.stdout).toContain(`${east},${west}`);
    expect(rules.stdout).toContain(`{{leader_cluster}}-{{leader_index}} (alias ${alias})`);
  });

  it('picks up a new matching index on leader 2, which joins the alias', async () => {
    const second = `${prefix}-b`;
    await leader2.createIndex(second, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    await leader2.bulk(bulkLines(second, [{ id: 'x', source: { from: west, second: true } }]), { refresh: 'true' });
    await identical(west, second, 1);
    expect(specOf(east, second)).toBeUndefined();
    await waitFor('the new follower index in the alias', async () => (await aliasMembers()).includes(followerOf(west, second)));
    expect(await aliasCount()).toBe(37);
  });

  it("stops one source's replication: the other flows on, and the stopped one leaves the alias", async () => {
    const stopped = followerOf(west, index);
    const r = await control.call('POST', `/_plugins/_replication/${stopped}/_stop`, {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await waitFor('the stopped follower index out of the alias', async () => !(await aliasMembers()).includes(stopped), 15_000);
    expect(await aliasMembers()).toEqual([followerOf(east, index), followerOf(west, `${prefix}-b`)].sort());

    await leader2.request('PUT', `/${index}/_doc/after-stop`, { body: { from: west } });
    await h.leader.request('PUT', `/${index}/_doc/after-stop`, { body: { from: east } });
    await identical(east, index, 19);
    // The same applier applied east's change; west's, in a replication that is stopped, never arrives.
    expect((await documents(h.follower, stopped))['after-stop']).toBeUndefined();
    expect((await status(stopped)).status).toBe('STOPPED');
  });

  it("keeps one leader's replications flowing while the other's extractor is stopped, whose status is not healthy", async () => {
    const westIndex = `${prefix}-b`;
    await extractor2!.stop();
    extractor2 = undefined;
    await leader2.request('PUT', `/${westIndex}/_doc/while-down`, { body: { from: west } });
    await h.leader.request('PUT', `/${index}/_doc/while-down`, { body: { from: east } });
    await identical(east, index, 20);

    const down = await waitFor(
      `${followerOf(west, westIndex)} not healthy while its extractor is stopped`,
      async () => {
        const s = await status(followerOf(west, westIndex));
        return s.status !== 'SYNCING' ? s : undefined;
      },
      30_000,
      500,
    );
    expect(down.status).toBe('STALE');
    expect(down.reason).toMatch(new RegExp(`extractor of ${west} has not reported`));
    expect((await status(followerOf(east, index))).status).toBe('SYNCING');
    const list = await control.call('GET', `/_kccr/replications?leader_cluster=${west}&state=active`);
    expect((list.body as { replications: ListedReplication[] }).replications.map((x) => x.status)).toEqual(['STALE']);

    // Its extractor back, the change made meanwhile arrives and the status is healthy again.
    extractor2 = startWestExtractor();
    await identical(west, westIndex, 2);
    await waitFor('west healthy again', async () => (await status(followerOf(west, westIndex))).status === 'SYNCING', 30_000, 500);
    await waitForDocuments(h.follower, followerOf(west, westIndex), { x: { from: west, second: true }, 'while-down': { from: west } });
  });

  it('follows a data stream in each leader, rolled over twice and its oldest backing index deleted, identical under the stream names', async () => {
    const streamRule = `${prefix}-ds`;
    const stream = `${prefix}-ds-logs`;
    const all = `${prefix}-ds-all`;
    const write = async (es: ElasticsearchAdapter, cluster: string, from: number, count: number) => {
      const lines = Array.from(
        { length: count },
        (_, i) =>
          `${JSON.stringify({ create: { _index: stream, _id: `d-${from + i}` } })}\n${JSON.stringify({ '@timestamp': new Date(Date.UTC(2026, 10, 29, 0, 0, from + i)).toISOString(), from: cluster, n: from + i })}\n`,
      );
      const items = await es.bulk(lines.join(''), { refresh: 'true' });
      expect(items.filter((i) => i.status >= 300)).toEqual([]);
    };
    const backing = async (es: ElasticsearchAdapter) =>
      (await es.request<{ data_streams: { backing_indices: string[] }[] }>('GET', `/_resolve/index/${stream}`)).body.data_streams[0]?.backing_indices ?? [];
    const sources = [
      [east, h.leader],
      [west, leader2],
    ] as const;
    for (const [cluster, es] of sources) {
      const t = await es.request('PUT', `/_index_template/${streamRule}`, {
        body: {
          index_patterns: [`${prefix}-ds-*`],
          data_stream: {},
          priority: 500,
          template: { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } },
        },
      });
      expect(t.status).toBe(200);
      await write(es, cluster, 0, 10);
    }
    const r = await control.call('POST', '/_plugins/_replication/_autofollow', {
      leader_clusters: [east, west],
      name: streamRule,
      pattern: `${prefix}-ds-*`,
      follower_alias: all,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    try {
      // Twice: roll over, write into the new generation.
      for (const round of [1, 2]) {
        for (const [cluster, es] of sources) {
          expect((await es.request('POST', `/${stream}/_rollover`)).status).toBe(200);
          await write(es, cluster, round * 10, 5);
        }
      }
      // ILM's delete phase, by hand, in each leader.
      for (const [, es] of sources) {
        const [oldest] = await backing(es);
        expect((await es.request('DELETE', `/${oldest}`)).status).toBe(200);
      }
      const count = async (name: string) => {
        await h.follower.request('POST', `/${name}/_refresh`, { ignore: [404] });
        const c = await h.follower.request<{ count: number }>('GET', `/${name}/_count`, { ignore: [404] });
        return c.status === 200 ? c.body.count : -1;
      };
      for (const [cluster, es] of sources) {
        const members = await backing(es);
        expect(members).toHaveLength(2);
        const followerStream = followerOf(cluster, stream);
        await waitFor(`10 documents under ${followerStream}, the deleted generation retired`, async () => (await count(followerStream)) === 10, 90_000, 500);
        for (const member of members) {
          const copy = member.replace(`.ds-${stream}-`, `.ds-${followerStream}-`);
          const c = await compareIndices(es, h.follower, member, copy);
          expect(c.differences, `${cluster}:${member}: ${describeComparison(c)}`).toBe(0);
          expect(c.leaderCount).toBe(5);
        }
      }
      // The rule's read alias holds both sources' generations that replicate.
      await waitFor(`20 documents under ${all}`, async () => (await count(all)) === 20, 60_000, 500);
    } finally {
      await control.call('DELETE', '/_plugins/_replication/_autofollow', { leader_clusters: [east, west], name: streamRule });
    }
  });

  // Only this test uses leader cluster 2 of the stack, so killing it here disturbs no other test running beside it.
  it('keeps one leader flowing while the other leader cluster is down (killed), whose status is not healthy, and recovers', { timeout: 400_000 }, async () => {
    const westIndex = `${prefix}-b`;
    const local = localStack(stackStateFile('plain'), stack);
    await killPart(local, 'elasticsearch-leader2');
    try {
      await h.leader.request('PUT', `/${index}/_doc/while-cluster-down`, { body: { from: east } });
      await identical(east, index, 21);
      const down = await waitFor(
        `${followerOf(west, westIndex)} not healthy while leader cluster 2 is down`,
        async () => {
          const s = await status(followerOf(west, westIndex));
          return s.status !== 'SYNCING' ? s : undefined;
        },
        60_000,
        500,
      );
      expect(['RETRYING', 'STALE']).toContain(down.status);
      expect(down.reason).toBeDefined();
      expect((await status(followerOf(east, index))).status).toBe('SYNCING');
    } finally {
      await startParts(local);
    }
    await leader2.request('PUT', `/${westIndex}/_doc/after-restart`, { body: { from: west } });
    await identical(west, westIndex, 3);
    await waitFor('west healthy again after its cluster restarted', async () => (await status(followerOf(west, westIndex))).status === 'SYNCING', 60_000, 500);
  });
});
