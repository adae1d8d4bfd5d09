import { describe, expect, it } from 'vitest';
import type { ReplicationSpec } from '../../shared/replication.js';
import type { AutofollowRule } from './autofollow-rules.js';
import { madeByRule, planAlias, planRun } from './autofollow-rules.js';
import {
  departedMembers,
  followerGroupName,
  followerMemberName,
  groupAliasActions,
  groupAliasCandidates,
  groupCandidates,
  groupsOfRule,
  planGroupAlias,
  streamOfBackingIndex,
  streamsOfSpecs,
} from './groups.js';
import { testRule } from './test-rule.js';
import type { LeaderGroup } from './groups.js';

const rule = (over: Partial<AutofollowRule> = {}) => testRule('logs', { leaderCluster: 'eu', ...over });

const stream: LeaderGroup = { kind: 'data_stream', name: 'logs-app', members: ['.ds-logs-app-2026.11.29-000001', '.ds-logs-app-2026.11.29-000002'] };
const rollover: LeaderGroup = { kind: 'alias', name: 'logs-old', members: ['logs-old-000001', 'logs-old-000002'] };

function spec(leaderIndex: string, followerIndex: string, state: ReplicationSpec['state'] = 'active', over: Partial<ReplicationSpec> = {}): ReplicationSpec {
  return {
    followerCluster: 'fc',
    followerIndex,
    leaderCluster: 'eu',
    leaderIndex,
    state,
    bootstrap: 'scan',
    createdAt: 1,
    updatedAt: 1,
    requestedBy: 't',
    ...over,
  };
}

describe('naming the members of a data stream or rollover alias', () => {
  it('keeps a backing index in its form, under the follower name of its stream', () => {
    const fanIn = rule({ followerIndexPattern: '{{leader_cluster}}-{{leader_index}}' });
    expect(followerGroupName(fanIn, stream, 'eu')).toBe('eu-logs-app');
    expect(followerMemberName(fanIn, stream, '.ds-logs-app-2026.11.29-000002', 'eu')).toBe('.ds-eu-logs-app-2026.11.29-000002');
    // OpenSearch's backing indices have no date.
    expect(followerMemberName(fanIn, { ...stream, members: ['.ds-logs-app-000003'] }, '.ds-logs-app-000003', 'eu')).toBe('.ds-eu-logs-app-000003');
    // A rollover alias's member is named as any leader index of the rule.
    expect(followerMemberName(fanIn, rollover, 'logs-old-000002', 'eu')).toBe('eu-logs-old-000002');
  });

  it('follows the groups whose names match the rule, their members whatever their own names', () => {
    const r = rule({ patterns: ['logs-app', 'logs-old'], excludePatterns: [] });
    const other: LeaderGroup = { kind: 'data_stream', name: 'metrics-app', members: ['.ds-metrics-app-000001'] };
    const empty: LeaderGroup = { kind: 'alias', name: 'logs-empty', members: [] };
    expect(groupsOfRule(r, [stream, rollover, other, empty]).map((g) => g.name)).toEqual(['logs-app', 'logs-old']);
    expect(groupsOfRule(rule({ excludePatterns: ['logs-old'] }), [stream, rollover]).map((g) => g.name)).toEqual(['logs-app']);
    const members = groupCandidates(r, [stream, rollover], 'eu');
    expect(members).toEqual([
      { leaderIndex: '.ds-logs-app-2026.11.29-000001', followerIndex: '.ds-logs-app-2026.11.29-000001' },
      { leaderIndex: '.ds-logs-app-2026.11.29-000002', followerIndex: '.ds-logs-app-2026.11.29-000002' },
      { leaderIndex: 'logs-old-000001', followerIndex: 'logs-old-000001' },
      { leaderIndex: 'logs-old-000002', followerIndex: 'logs-old-000002' },
    ]);
    // planRun starts them (a backing index matches no pattern), once, and not again when followed.
    const plan = planRun(r, 'eu', ['logs-old-000001', 'logs-old-000002'], [spec('.ds-logs-app-2026.11.29-000001', '.ds-logs-app-2026.11.29-000001')], members);
    expect(plan.start.map((c) => c.leaderIndex)).toEqual(['.ds-logs-app-2026.11.29-000002', 'logs-old-000001', 'logs-old-000002']);
    expect(plan.followed).toEqual(['.ds-logs-app-2026.11.29-000001']);
  });
});

describe('members the leader no longer lists', () => {
  it('are the group replications not stopped whose leader index left the group, never another source or a stopped one', () => {
    const r = rule();
    const now: LeaderGroup = { ...stream, members: ['.ds-logs-app-2026.11.29-000002'] };
    const specs = [
      spec('.ds-logs-app-2026.11.29-000001', '.ds-logs-app-2026.11.29-000001'),
      spec('.ds-logs-app-2026.11.29-000002', '.ds-logs-app-2026.11.29-000002'),
      spec('.ds-logs-app-2026.11.28-000000', '.ds-logs-app-2026.11.28-000000', 'stopped'),
      spec('.ds-logs-app-2026.11.29-000001', '.ds-logs-app-2026.11.29-000001', 'active', { leaderCluster: 'us' }),
      spec('logs-plain', 'logs-plain'),
    ];
    expect(departedMembers(r, now, 'eu', specs).map((s) => s.leaderIndex)).toEqual(['.ds-logs-app-2026.11.29-000001']);
  });
});

describe("a data stream's alias on the follower", () => {
  const specs = [
    spec('.ds-logs-app-2026.11.29-000002', '.ds-logs-app-2026.11.29-000002'),
    spec('.ds-logs-app-2026.11.29-000010', '.ds-logs-app-2026.11.29-000010'),
    spec('.ds-logs-app-2026.11.29-000001', '.ds-logs-app-2026.11.29-000001', 'stopped'),
    spec('.ds-logs-app-2026.11.29-000011', '.ds-logs-app-2026.11.29-000011'),
  ];
  const group: LeaderGroup = { ...stream, members: specs.map((s) => s.leaderIndex) };
  const existing = specs.slice(0, 3).map((s) => s.followerIndex);

  it('holds every member that exists, stopped ones too, by generation, with no write index while the newest replicates', () => {
    expect(groupAliasCandidates(rule(), group, 'eu', specs)).toHaveLength(4);
    expect(planGroupAlias(rule(), group, 'eu', specs, existing)).toEqual({
      alias: 'logs-app',
      members: ['.ds-logs-app-2026.11.29-000001', '.ds-logs-app-2026.11.29-000002', '.ds-logs-app-2026.11.29-000010'],
    });
  });

  it('writes into the newest member once its replication is stopped (failover)', () => {
    const stopped = specs.map((s) => ({ ...s, state: 'stopped' as const }));
    expect(planGroupAlias(rule(), group, 'eu', stopped, existing).writeIndex).toBe('.ds-logs-app-2026.11.29-000010');
  });

  it('turns into the actions that bring the alias there, and none when it is there', () => {
    const plan = { alias: 'logs-app', members: ['a-1', 'a-2'], writeIndex: 'a-2' };
    expect(groupAliasActions(plan, { members: ['a-0', 'a-1'], writeIndex: 'a-1' })).toEqual([
      { remove: { index: 'a-0', alias: 'logs-app' } },
      { add: { index: 'a-1', alias: 'logs-app', is_write_index: false } },
      { add: { index: 'a-2', alias: 'logs-app', is_write_index: true } },
    ]);
    expect(groupAliasActions(plan, { members: ['a-1', 'a-2'], writeIndex: 'a-2' })).toEqual([]);
    expect(groupAliasActions({ alias: 'x', members: ['a-1'] }, { members: [] })).toEqual([{ add: { index: 'a-1', alias: 'x' } }]);
  });
});

describe('data streams known from the replications alone (the leader may be down)', () => {
  it('reads the stream of a backing index name, Elasticsearch and OpenSearch forms', () => {
    expect(streamOfBackingIndex('.ds-logs-app-2026.11.29-000002')).toBe('logs-app');
    expect(streamOfBackingIndex('.ds-logs-app-000002')).toBe('logs-app');
    expect(streamOfBackingIndex('.ds-a-2026.11.29-1000000')).toBe('a');
    expect(streamOfBackingIndex('logs-app-000002')).toBeUndefined();
    expect(streamOfBackingIndex('.ds-logs-app')).toBeUndefined();
  });

  it("groups the rule's backing replications per leader cluster and stream, by generation", () => {
    const fanIn = rule({ leaderCluster: '*', leaderClusters: '*', followerIndexPattern: '{{leader_cluster}}-{{leader_index}}' });
    const specs = [
      spec('.ds-logs-app-2026.11.29-000002', '.ds-eu-logs-app-2026.11.29-000002'),
      spec('.ds-logs-app-2026.11.29-000001', '.ds-eu-logs-app-2026.11.29-000001', 'stopped'),
      spec('.ds-logs-app-000001', '.ds-us-logs-app-000001', 'active', { leaderCluster: 'us' }),
      spec('.ds-metrics-x-000001', '.ds-eu-metrics-x-000001'),
      spec('.ds-logs-app-000009', 'somewhere-else'),
      spec('.ds-logs-app-000003', '.ds-eu-logs-app-000003', 'active', { followerCluster: 'other' }),
    ];
    expect(streamsOfSpecs(fanIn, specs)).toEqual([
      { leaderCluster: 'eu', group: { kind: 'data_stream', name: 'logs-app', members: ['.ds-logs-app-2026.11.29-000001', '.ds-logs-app-2026.11.29-000002'] } },
      { leaderCluster: 'us', group: { kind: 'data_stream', name: 'logs-app', members: ['.ds-logs-app-000001'] } },
    ]);
  });
});

describe("a rule's read alias (follower_alias) over data streams from several leaders", () => {
  it("holds each source's backing indices that replicate, as it holds matching indices", () => {
    const fanIn = rule({ leaderCluster: '*', leaderClusters: '*', followerIndexPattern: '{{leader_cluster}}-{{leader_index}}', followerAlias: 'logs-all' });
    const specs = [
      spec('.ds-logs-app-2026.11.29-000001', '.ds-eu-logs-app-2026.11.29-000001'),
      spec('.ds-logs-app-000001', '.ds-us-logs-app-000001', 'active', { leaderCluster: 'us' }),
      spec('.ds-logs-app-000002', '.ds-us-logs-app-000002', 'stopped', { leaderCluster: 'us' }),
      spec('logs-plain', 'eu-logs-plain'),
      spec('.ds-logs-app-000009', '.ds-logs-app-000009'),
    ];
    expect(specs.map((s) => madeByRule(fanIn, s))).toEqual([true, true, true, true, false]);
    const existing = specs.map((s) => s.followerIndex);
    expect(planAlias(fanIn, specs, [], existing)).toEqual({
      add: ['.ds-eu-logs-app-2026.11.29-000001', '.ds-us-logs-app-000001', 'eu-logs-plain'],
      remove: [],
    });
  });
});
