/**
 * The engine's bookkeeping with stand-ins for the leader listing and the start: what it counts, what it remembers
 * of failures and when it tries again, and that one failing rule or index never stops the others. Listing leader
 * indices and starting replications for real is tested in test/integration/autofollow.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { KccrError } from '../../shared/errors.js';
import type { ReplicationSpec } from '../../shared/replication.js';
import { ruleKey } from './autofollow-rules.js';
import type { AutofollowRule } from './autofollow-rules.js';
import { AutofollowEngine, leaderIndexLister, readAutofollowConfig } from './autofollow.js';
import type { FollowerAliases } from './autofollow.js';
import { unreplicable } from '../replication/index-features.js';
import type { StartCommand } from '../replication/replications.js';
import { mergeOf } from '../replication/replications.js';
import { mergedSourceName } from '../../shared/merge.js';
import { testRule } from './test-rule.js';

const rule = testRule;

/**
 * `partialSource`: leader indices that keep only part of _source; their starts are checked as ReplicationService
 * checks them (unreplicable), so a refusal carries the real reason.
 */
function setup(
  opts: {
    leader?: Record<string, string[] | Error>;
    refuse?: Record<string, KccrError>;
    partialSource?: string[];
    followerClusters?: string[];
    registered?: string[];
    aliases?: FollowerAliases;
  } = {},
) {
  let now = 1_000_000;
  const rules = new Map<string, AutofollowRule>();
  const specs: ReplicationSpec[] = [];
  const starts: StartCommand[] = [];
  const leader = opts.leader ?? { lc: ['logs-1', 'logs-2'] };
  const engine = new AutofollowEngine({
    intervalMs: 20,
    retryFailedMs: 60_000,
    ...(opts.followerClusters ? { followerClusters: opts.followerClusters } : {}),
    ...(opts.registered ? { registeredClusters: () => opts.registered! } : {}),
    ...(opts.aliases ? { aliases: opts.aliases } : {}),
    now: () => now,
    rules: { list: () => [...rules.values()], get: (k) => rules.get(k) },
    listLeaderIndices: async (cluster) => {
      const v = leader[cluster];
      if (v instanceof Error) throw v;
      return { indices: v ?? [], groups: [] };
    },
    replications: {
      list: () => specs,
      start: async (cmd) => {
        starts.push(cmd);
        const refusal = opts.refuse?.[cmd.followerIndex];
        if (refusal) throw refusal;
        const mappings = opts.partialSource?.includes(cmd.leaderIndex) ? { _source: { excludes: ['secret'] } } : {};
        const why = unreplicable(
          cmd.leaderIndex,
          { name: cmd.leaderIndex, mappings, settings: {}, aliases: {} },
          { partialSource: cmd.acceptPartialSource ?? false },
        );
        if (why) throw new KccrError('BAD_REQUEST', why);
        const { merge, ...rest } = cmd;
        const source = merge ? mergeOf(cmd, specs) : undefined;
        specs.push({
          ...rest,
          ...(source ? { followerIndex: mergedSourceName(source.into, cmd), merge: source } : {}),
          state: 'active',
          bootstrap: 'scan',
          createdAt: now,
          updatedAt: now,
        });
      },
    },
  });
  return {
    engine,
    rules,
    specs,
    starts,
    add: (r: AutofollowRule) => rules.set(ruleKey(r), r),
    advance: (ms: number) => (now += ms),
  };
}

describe('AutofollowEngine', () => {
  it('starts what matches once, as autofollow:<rule>, with the rule settings', async () => {
    const t = setup();
    t.add(rule('r1', { followerSettings: { number_of_replicas: 0 } }));
    await t.engine.runOnce();
    expect(t.starts.map((s) => [s.leaderIndex, s.followerIndex, s.requestedBy, s.settings])).toEqual([
      ['logs-1', 'logs-1', 'autofollow:r1', { number_of_replicas: 0 }],
      ['logs-2', 'logs-2', 'autofollow:r1', { number_of_replicas: 0 }],
    ]);
    await t.engine.runOnce();
    expect(t.starts).toHaveLength(2);
    const stats = t.engine.stats();
    expect(stats).toMatchObject({ num_success_start_replication: 2, num_failed_start_replication: 0, num_failed_leader_calls: 0, failed_indices: [] });
    expect(stats.autofollow_stats[0]).toMatchObject({
      name: 'r1',
      pattern: 'logs-*',
      leader_alias: 'lc',
      follower_cluster: 'fc',
      executions: 2,
      last_execution_time: 1_000_000,
    });
    expect(t.engine.cycles).toBe(2);
  });

  it('remembers a failed start and tries it again only after the retry interval', async () => {
    const t = setup({ refuse: { 'logs-1': new KccrError('CONFLICT', 'index logs-1 already exists on follower cluster fc and is not a kccr follower index') } });
    t.add(rule('r1'));
    await t.engine.runOnce();
    await t.engine.runOnce();
    t.advance(59_000);
    await t.engine.runOnce();
    expect(t.starts.map((s) => s.leaderIndex)).toEqual(['logs-1', 'logs-2']);
    let stats = t.engine.stats();
    expect(stats).toMatchObject({ num_success_start_replication: 1, num_failed_start_replication: 1, failed_indices: ['logs-1'] });
    expect(stats.autofollow_stats[0]?.failures[0]).toMatchObject({ leader_index: 'logs-1', follower_index: 'logs-1', code: 'CONFLICT', attempts: 1 });
    expect(stats.autofollow_stats[0]?.failures[0]?.reason).toMatch(/not a kccr follower index/);

    t.advance(1_000);
    await t.engine.runOnce();
    expect(t.starts.map((s) => s.leaderIndex)).toEqual(['logs-1', 'logs-2', 'logs-1']);
    stats = t.engine.stats();
    expect(stats.num_failed_start_replication).toBe(2);
    expect(stats.autofollow_stats[0]?.failures[0]?.attempts).toBe(2);
  });

  it('shows why a leader index with a refused feature was not started, and starts it once the rule accepts it', async () => {
    const t = setup({ partialSource: ['logs-1'] });
    t.add(rule('r1'));
    await t.engine.runOnce();
    expect(t.starts.map((s) => [s.leaderIndex, s.acceptPartialSource])).toEqual([
      ['logs-1', undefined],
      ['logs-2', undefined],
    ]);
    const failure = t.engine.stats().autofollow_stats[0]?.failures[0];
    expect(failure).toMatchObject({
      leader_index: 'logs-1',
      code: 'BAD_REQUEST',
      reason: unreplicable('logs-1', { name: 'logs-1', mappings: { _source: { excludes: ['secret'] } }, settings: {}, aliases: {} }),
    });
    expect(failure?.reason).toMatch(/keeps only part of _source .* "accept_partial_source": true/);

    t.add(rule('r1', { updatedAt: 2, acceptPartialSource: true }));
    await t.engine.runOnce();
    expect(t.starts.slice(2).map((s) => [s.leaderIndex, s.acceptPartialSource])).toEqual([['logs-1', true]]);
    expect(t.engine.stats()).toMatchObject({ num_success_start_replication: 2, failed_indices: [] });
  });

  it('gives a changed rule a fresh try of what failed', async () => {
    const t = setup({ refuse: { 'logs-1': new KccrError('CONFLICT', 'occupied') } });
    t.add(rule('r1'));
    await t.engine.runOnce();
    t.add(rule('r1', { updatedAt: 2, followerIndexPattern: '{{leader_index}}-copy' }));
    await t.engine.runOnce();
    expect(t.starts.map((s) => s.followerIndex)).toEqual(['logs-1', 'logs-2', 'logs-1-copy']);
    expect(t.engine.stats()).toMatchObject({ num_success_start_replication: 2, num_failed_start_replication: 1, failed_indices: [] });
  });

  it('counts a failed leader call and goes on with the other rules', async () => {
    const t = setup({ leader: { down: new KccrError('ES_UNAVAILABLE', 'connection refused'), lc: ['logs-1'] } });
    t.add(rule('a-down', { leaderCluster: 'down' }));
    t.add(rule('b-up'));
    await t.engine.runOnce();
    await t.engine.runOnce();
    const stats = t.engine.stats();
    expect(stats.num_failed_leader_calls).toBe(2);
    expect(stats.num_success_start_replication).toBe(1);
    expect(stats.autofollow_stats.find((s) => s.name === 'a-down')).toMatchObject({
      num_failed_leader_calls: 2,
      last_leader_error: 'connection refused',
      executions: 2,
    });
  });

  it('an unexpected failure of one start does not stop the next index', async () => {
    const t = setup({ refuse: { 'logs-1': new Error('boom') as KccrError } });
    t.add(rule('r1'));
    await t.engine.runOnce();
    expect(t.engine.stats()).toMatchObject({ num_success_start_replication: 1, num_failed_start_replication: 1, failed_indices: ['logs-1'] });
    expect(t.engine.stats().autofollow_stats[0]?.failures[0]?.code).toBe('INTERNAL');
  });

  it('forgets a deleted rule, and a rule added again under the same name starts afresh', async () => {
    const t = setup({ refuse: { 'logs-1': new KccrError('CONFLICT', 'occupied') } });
    t.add(rule('r1'));
    await t.engine.runOnce();
    t.rules.clear();
    await t.engine.runOnce();
    expect(t.engine.stats()).toEqual({
      num_success_start_replication: 0,
      num_failed_start_replication: 0,
      num_failed_leader_calls: 0,
      failed_indices: [],
      autofollow_stats: [],
    });
    t.add(rule('r1', { createdAt: 5, updatedAt: 5 }));
    expect(t.engine.stats().autofollow_stats[0]).toMatchObject({ executions: 0, last_execution_time: 0, num_failed_start_replication: 0 });
  });

  it('runs only the rules of its follower clusters when scoped', async () => {
    const t = setup({ followerClusters: ['fc'] });
    t.add(rule('mine'));
    t.add(rule('theirs', { followerCluster: 'other-fc' }));
    await t.engine.runOnce();
    expect(t.starts.map((s) => s.followerCluster)).toEqual(['fc', 'fc']);
    expect(t.engine.stats().autofollow_stats.map((s) => s.name)).toEqual(['mine']);
  });

  it('runs on its own every interval once started, at once when triggered, and not after stop', async () => {
    const t = setup();
    t.add(rule('r1'));
    t.engine.start();
    const until = async (cond: () => boolean) => {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
      return cond();
    };
    expect(await until(() => t.engine.cycles >= 3)).toBe(true);
    expect(t.starts).toHaveLength(2);
    await t.engine.stop();
    const cycles = t.engine.cycles;
    await new Promise((r) => setTimeout(r, 60));
    expect(t.engine.cycles).toBe(cycles);
    t.engine.trigger();
    await new Promise((r) => setTimeout(r, 30));
    expect(t.engine.cycles).toBe(cycles);
  });
});

describe('readAutofollowConfig', () => {
  it('has defaults and reports bad values with their names', () => {
    expect(readAutofollowConfig({})).toEqual({ intervalMs: 10_000, retryFailedMs: 300_000 });
    expect(readAutofollowConfig({ KCCR_CONTROL_AUTOFOLLOW_INTERVAL_MS: '2000', KCCR_CONTROL_AUTOFOLLOW_RETRY_MS: '0' })).toEqual({
      intervalMs: 2000,
      retryFailedMs: 0,
    });
    expect(readAutofollowConfig({ KCCR_CONTROL_AUTOFOLLOW_FOLLOWER_CLUSTERS: 'eu, us' })).toMatchObject({ followerClusters: ['eu', 'us'] });
    expect(() => readAutofollowConfig({ KCCR_CONTROL_AUTOFOLLOW_FOLLOWER_CLUSTERS: 'eu,US West' })).toThrow(
      /KCCR_CONTROL_AUTOFOLLOW_FOLLOWER_CLUSTERS: expected comma-separated cluster names.*"US West"/,
    );
    expect(() => readAutofollowConfig({ KCCR_CONTROL_AUTOFOLLOW_INTERVAL_MS: 'soon', KCCR_CONTROL_AUTOFOLLOW_RETRY_MS: '-1' })).toThrow(
      /KCCR_CONTROL_AUTOFOLLOW_INTERVAL_MS: expected a whole number.*\n.*KCCR_CONTROL_AUTOFOLLOW_RETRY_MS/,
    );
  });
});

describe('listing leader indices', () => {
  it('keeps open, plain indices with names Elasticsearch would make, and nothing else the leader answers', async () => {
    const body = {
      indices: [
        { name: 'logs-a', attributes: ['open'] },
        { name: 'logs-hidden', attributes: ['open', 'hidden'] },
        { name: 'logs-closed', attributes: ['closed'] },
        { name: '.ds-logs-x-000001', attributes: ['open', 'hidden'], data_stream: 'logs-x' },
        { name: 'logs-../../_security', attributes: ['open'] },
        { name: 'Logs-B', attributes: ['open'] },
      ],
      aliases: [
        { name: 'logs-rollover', indices: ['logs-r-000002', 'logs-r-000001'] },
        { name: '.kibana', indices: ['.kibana_1'] },
      ],
      data_streams: [
        { name: 'logs-x', backing_indices: ['.ds-logs-x-000001', '.ds-logs-x-000002', 'Bad..Name'] },
        { name: 'Logs-Y', backing_indices: ['.ds-Logs-Y-000001'] },
      ],
    };
    const es = { request: () => Promise.resolve({ status: 200, body }) };
    const clusters = { withClient: <T>(_cluster: string, fn: (client: typeof es) => Promise<T>) => fn(es) };
    const list = leaderIndexLister(clusters as unknown as Parameters<typeof leaderIndexLister>[0]);
    expect(await list('lc', ['logs-*'])).toEqual({
      indices: ['logs-a'],
      groups: [
        { kind: 'data_stream', name: 'logs-x', members: ['.ds-logs-x-000001', '.ds-logs-x-000002'] },
        { kind: 'alias', name: 'logs-rollover', members: ['logs-r-000001', 'logs-r-000002'] },
      ],
    });
  });
});

describe('a rule over several leader clusters (fan-in, per source)', () => {
  /** A follower cluster's aliases in memory; indices exist once listed in `indices`. */
  function memoryAliases() {
    const aliases = new Map<string, Set<string>>();
    const indices = new Set<string>();
    const calls: { add: readonly string[]; remove: readonly string[] }[] = [];
    const api: FollowerAliases = {
      members: async (_fc, alias) => [...(aliases.get(alias) ?? [])],
      existing: async (_fc, names) => names.filter((n) => indices.has(n)),
      update: async (_fc, alias, changes) => {
        calls.push(changes);
        const set = aliases.get(alias) ?? new Set<string>();
        for (const i of changes.remove) set.delete(i);
        for (const i of changes.add) set.add(i);
        aliases.set(alias, set);
      },
      state: async () => ({ members: [] }),
      apply: async () => undefined,
    };
    return { api, aliases, indices, calls };
  }
  const several = (over: Partial<AutofollowRule> = {}) =>
    rule('orders', {
      leaderCluster: '*',
      leaderClusters: '*',
      patterns: ['orders-*'],
      followerIndexPattern: '{{leader_cluster}}-{{leader_index}}',
      followerAlias: 'orders-all',
      ...over,
    });

  it('starts each leader cluster into its own follower indices, and one leader down leaves the others served', async () => {
    const mem = memoryAliases();
    const t = setup({
      leader: { east: ['orders-1', 'other'], west: new KccrError('ES_UNAVAILABLE', 'connect ECONNREFUSED'), north: ['orders-1'] },
      registered: ['east', 'west', 'north', 'fc'],
      aliases: mem.api,
    });
    t.add(several());
    await t.engine.runOnce();
    expect(t.starts.map((c) => `${c.leaderCluster}:${c.leaderIndex}->${c.followerIndex}`).sort()).toEqual([
      'east:orders-1->east-orders-1',
      'north:orders-1->north-orders-1',
    ]);
    const stats = t.engine.stats().autofollow_stats[0]!;
    expect(stats).toMatchObject({ leader_alias: '*', leader_clusters: '*', follower_alias: 'orders-all', num_failed_leader_calls: 1 });
    expect(stats.last_leader_error).toMatch(/^west: connect ECONNREFUSED/);
    // No follower index exists yet: the alias waits for the applier to make them.
    expect(mem.calls).toEqual([]);
    mem.indices.add('east-orders-1');
    await t.engine.runOnce();
    expect([...mem.aliases.get('orders-all')!]).toEqual(['east-orders-1']);
    mem.indices.add('north-orders-1');
    await t.engine.runOnce();
    expect([...mem.aliases.get('orders-all')!].sort()).toEqual(['east-orders-1', 'north-orders-1']);
  });

  it('takes a stopped replication out of the alias, and does not start it again', async () => {
    const mem = memoryAliases();
    const t = setup({ leader: { east: ['orders-1'], west: ['orders-1'] }, aliases: mem.api });
    t.add(several({ leaderClusters: ['east', 'west'] }));
    mem.indices.add('east-orders-1').add('west-orders-1');
    await t.engine.runOnce();
    await t.engine.runOnce();
    expect([...mem.aliases.get('orders-all')!].sort()).toEqual(['east-orders-1', 'west-orders-1']);
    const i = t.specs.findIndex((s) => s.followerIndex === 'west-orders-1');
    t.specs[i] = { ...t.specs[i]!, state: 'stopped' };
    await t.engine.runOnce();
    expect([...mem.aliases.get('orders-all')!]).toEqual(['east-orders-1']);
    expect(t.starts).toHaveLength(2);
  });

  it('names failed indices with their cluster', async () => {
    const t = setup({ leader: { east: ['orders-1'], west: ['orders-1'] }, refuse: { 'west-orders-1': new KccrError('BAD_REQUEST', 'no') } });
    t.add(several({ leaderClusters: ['east', 'west'], followerAlias: undefined }));
    await t.engine.runOnce();
    const stats = t.engine.stats();
    expect(stats.failed_indices).toEqual(['west:orders-1']);
    expect(stats.autofollow_stats[0]!.failures[0]).toMatchObject({ leader_cluster: 'west', leader_index: 'orders-1', follower_index: 'west-orders-1' });
  });
});
