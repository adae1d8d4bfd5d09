import { describe, expect, it } from 'vitest';
import { DEFAULT_ID_TEMPLATE, DEFAULT_ORIGIN_FIELD, mergedSourceName } from '../../shared/merge.js';
import type { ReplicationSpec } from '../../shared/replication.js';
import {
  checkExcludePatterns,
  checkFollowerAlias,
  checkFollowerIndexPattern,
  checkLeaderClusters,
  coversLeader,
  followerIndexName,
  leadersOf,
  matchesRule,
  parseAutofollowRule,
  parsePatterns,
  planAlias,
  planRun,
  wildcardMatch,
} from './autofollow-rules.js';
import type { AutofollowRule } from './autofollow-rules.js';

describe('wildcardMatch', () => {
  it('matches * as any run of characters, none included', () => {
    expect(wildcardMatch('logs-*', 'logs-1')).toBe(true);
    expect(wildcardMatch('logs-*', 'logs-')).toBe(true);
    expect(wildcardMatch('logs-*', 'log-1')).toBe(false);
    expect(wildcardMatch('*-prod', 'eu-prod')).toBe(true);
    expect(wildcardMatch('a*b*c', 'abc')).toBe(true);
    expect(wildcardMatch('a*b*c', 'axxbyyc')).toBe(true);
    expect(wildcardMatch('a*b*c', 'acb')).toBe(false);
    expect(wildcardMatch('a*a', 'a')).toBe(false);
    expect(wildcardMatch('ab*bc', 'abc')).toBe(false);
    expect(wildcardMatch('*', 'anything')).toBe(true);
    expect(wildcardMatch('exact', 'exact')).toBe(true);
    expect(wildcardMatch('exact', 'exactly')).toBe(false);
  });

  it('treats regular expression characters as themselves', () => {
    expect(wildcardMatch('a.b*', 'a.b1')).toBe(true);
    expect(wildcardMatch('a.b*', 'axb1')).toBe(false);
    expect(wildcardMatch('a+(b)*', 'a+(b)x')).toBe(true);
  });
});

describe('matchesRule', () => {
  it('takes a name matching any pattern unless it matches an exclude', () => {
    const patterns = ['logs-*', 'metrics-*'];
    const excludes = ['logs-skip*', '*-tmp'];
    expect(matchesRule('logs-1', patterns, excludes)).toBe(true);
    expect(matchesRule('metrics-eu', patterns, excludes)).toBe(true);
    expect(matchesRule('logs-skip-1', patterns, excludes)).toBe(false);
    expect(matchesRule('metrics-1-tmp', patterns, excludes)).toBe(false);
    expect(matchesRule('traces-1', patterns, excludes)).toBe(false);
    expect(matchesRule('logs-1', patterns, [])).toBe(true);
  });
});

describe('parsePatterns and checkExcludePatterns', () => {
  it('splits comma-separated patterns, trims and drops repeats', () => {
    expect(parsePatterns('logs-*')).toEqual(['logs-*']);
    expect(parsePatterns('logs-*, metrics-*,logs-*')).toEqual(['logs-*', 'metrics-*']);
    expect(parsePatterns('*')).toEqual(['*']);
  });

  it('refuses what is not an index pattern, naming every problem', () => {
    expect(() => parsePatterns('Logs-*')).toThrow(/"Logs-\*" is not an index pattern/);
    expect(() => parsePatterns('logs-?')).toThrow(/not an index pattern/);
    expect(() => parsePatterns('-logs-*')).toThrow(/exclusions go in exclude_patterns/);
    expect(() => parsePatterns('_logs')).toThrow(/not an index pattern/);
    expect(() => parsePatterns('remote:logs-*')).toThrow(/not an index pattern/);
    expect(() => parsePatterns('logs-*,,x')).toThrow(/empty element/);
    expect(() => parsePatterns('a b,C')).toThrow(/"a b" is not an index pattern.*"C" is not an index pattern/);
    expect(() => parsePatterns('x'.repeat(256))).toThrow(/longer than 255 bytes/);
  });

  it('checks exclude patterns one per element', () => {
    expect(checkExcludePatterns([' logs-skip* ', 'logs-tmp'])).toEqual(['logs-skip*', 'logs-tmp']);
    expect(() => checkExcludePatterns(['a,b'])).toThrow(/holds a comma/);
    expect(() => checkExcludePatterns(['  '])).toThrow(/empty/);
    expect(() => checkExcludePatterns(['UPPER'])).toThrow(/not an index pattern/);
  });
});

describe('follower index names', () => {
  it('replaces every {{leader_index}}', () => {
    expect(followerIndexName('{{leader_index}}', 'logs-1', 'lc')).toBe('logs-1');
    expect(followerIndexName('{{leader_index}}-copy', 'logs-1', 'lc')).toBe('logs-1-copy');
    expect(followerIndexName('dr-{{leader_index}}-{{leader_index}}', 'x', 'lc')).toBe('dr-x-x');
  });

  it('refuses a follower pattern without the placeholder or making invalid names', () => {
    expect(checkFollowerIndexPattern('{{leader_index}}-copy')).toBe('{{leader_index}}-copy');
    expect(() => checkFollowerIndexPattern('copy')).toThrow(/lacks \{\{leader_index\}\}/);
    expect(() => checkFollowerIndexPattern('{{leader_index}}-COPY')).toThrow(/does not make valid index names/);
    expect(() => checkFollowerIndexPattern('_{{leader_index}}')).toThrow(/does not make valid index names/);
    expect(() => checkFollowerIndexPattern('{{leader_index}}*')).toThrow(/does not make valid index names/);
    expect(() => checkFollowerIndexPattern('{{leader_index}}/x')).toThrow(/does not make valid index names/);
  });
});

describe('planRun', () => {
  const rule: AutofollowRule = {
    followerCluster: 'fc',
    leaderCluster: 'lc',
    name: 'r',
    patterns: ['logs-*'],
    excludePatterns: ['logs-skip*'],
    followerIndexPattern: '{{leader_index}}-copy',
    createdBy: 't',
    updatedBy: 't',
    createdAt: 1,
    updatedAt: 1,
  };
  const spec = (followerIndex: string, leaderIndex: string, state: ReplicationSpec['state'], over: Partial<ReplicationSpec> = {}): ReplicationSpec => ({
    followerCluster: 'fc',
    followerIndex,
    leaderCluster: 'lc',
    leaderIndex,
    state,
    bootstrap: 'scan',
    requestedBy: 'x',
    createdAt: 1,
    updatedAt: 1,
    ...over,
  });

  it('starts matching, not excluded, not yet followed leader indices under the pattern name', () => {
    const plan = planRun(rule, 'lc', ['logs-b', 'logs-a', 'logs-skip-1', 'other', 'logs-a'], []);
    expect(plan.start).toEqual([
      { leaderIndex: 'logs-a', followerIndex: 'logs-a-copy' },
      { leaderIndex: 'logs-b', followerIndex: 'logs-b-copy' },
    ]);
    expect(plan.followed).toEqual([]);
  });

  it('skips leader indices replicated already (not stopped, any follower name) and follower names taken in any state', () => {
    const specs = [
      spec('manual-a', 'logs-a', 'active'),
      spec('logs-b-copy', 'logs-other', 'stopped'),
      spec('old-c', 'logs-c', 'stopped'),
      spec('logs-d-copy', 'logs-d', 'paused', { followerCluster: 'another-fc' }),
      spec('x', 'logs-e', 'active', { leaderCluster: 'another-lc' }),
    ];
    const plan = planRun(rule, 'lc', ['logs-a', 'logs-b', 'logs-c', 'logs-d', 'logs-e'], specs);
    expect(plan.followed).toEqual(['logs-a', 'logs-b']);
    expect(plan.start.map((c) => c.leaderIndex)).toEqual(['logs-c', 'logs-d', 'logs-e']);
  });

  it('sets apart follower names that would be too long', () => {
    const long = `logs-${'x'.repeat(248)}`;
    const plan = planRun(rule, 'lc', [long], []);
    expect(plan.start).toEqual([]);
    expect(plan.invalid[0]?.reason).toMatch(/longer than 255 bytes/);
  });
});

describe('rules over several leader clusters (fan-in, per source)', () => {
  const base: AutofollowRule = {
    followerCluster: 'central',
    leaderCluster: '*',
    leaderClusters: ['east', 'west'],
    name: 'orders',
    patterns: ['orders-*'],
    excludePatterns: [],
    followerIndexPattern: '{{leader_cluster}}-{{leader_index}}',
    followerAlias: 'orders-all',
    createdBy: 't',
    updatedBy: 't',
    createdAt: 1,
    updatedAt: 1,
  };
  const spec = (
    leaderCluster: string,
    leaderIndex: string,
    state: ReplicationSpec['state'],
    followerIndex = `${leaderCluster}-${leaderIndex}`,
  ): ReplicationSpec => ({
    followerCluster: 'central',
    followerIndex,
    leaderCluster,
    leaderIndex,
    state,
    bootstrap: 'scan',
    requestedBy: 'autofollow:orders',
    createdAt: 1,
    updatedAt: 1,
  });

  it('names follower indices from both placeholders, in one pass', () => {
    expect(followerIndexName('{{leader_cluster}}-{{leader_index}}', 'orders-1', 'east')).toBe('east-orders-1');
    expect(followerIndexName('all.{{leader_index}}.from.{{leader_cluster}}', 'o', 'w')).toBe('all.o.from.w');
    // A leader index name holding a placeholder's text is not expanded again.
    expect(followerIndexName('{{leader_cluster}}-{{leader_index}}', '{{leader_cluster}}', 'east')).toBe('east-{{leader_cluster}}');
  });

  it('requires {{leader_cluster}} when a rule covers several leader clusters, with a message that says why', () => {
    expect(checkFollowerIndexPattern('{{leader_index}}', false)).toBe('{{leader_index}}');
    expect(checkFollowerIndexPattern('{{leader_cluster}}-{{leader_index}}', false)).toBe('{{leader_cluster}}-{{leader_index}}');
    expect(() => checkFollowerIndexPattern('{{leader_index}}-copy', true)).toThrow(
      /lacks \{\{leader_cluster\}\}.*same name would be given the same follower index/,
    );
    expect(() => checkFollowerIndexPattern('{{leader_cluster}}', true)).toThrow(/lacks \{\{leader_index\}\}/);
    expect(() => checkFollowerIndexPattern('{{leader_cluster}}-{{leader_index}}-X', true)).toThrow(/does not make valid index names/);
  });

  it('checks the list of leader clusters and the alias name', () => {
    expect(checkLeaderClusters('*')).toBe('*');
    expect(checkLeaderClusters(['east', 'west'])).toEqual(['east', 'west']);
    for (const bad of [['east'], ['east', 'east'], ['east', 'West'], 'east', [], ['a', 3]])
      expect(() => checkLeaderClusters(bad)).toThrow(/leader_clusters must be/);
    expect(checkFollowerAlias('orders-all')).toBe('orders-all');
    for (const bad of ['Orders', '{{leader_cluster}}-all', 'a,b', '_x', 'a*']) expect(() => checkFollowerAlias(bad)).toThrow(/is not an alias name/);
  });

  it('covers the listed leader clusters, or every registered cluster but its follower', () => {
    expect(leadersOf(base, ['east', 'west', 'north', 'central'])).toEqual(['east', 'west']);
    expect(coversLeader(base, 'north')).toBe(false);
    const all = { ...base, leaderClusters: '*' as const };
    expect(leadersOf(all, ['west', 'central', 'east', 'west'])).toEqual(['east', 'west']);
    expect(coversLeader(all, 'north')).toBe(true);
    expect(coversLeader(all, 'central')).toBe(false);
    const one = { ...base, leaderCluster: 'east', leaderClusters: undefined };
    expect(leadersOf(one, ['west'])).toEqual(['east']);
  });

  it('plans each leader cluster apart: the same index name in two leaders makes two follower indices', () => {
    const specs = [spec('east', 'orders-1', 'active')];
    expect(planRun(base, 'east', ['orders-1'], specs).followed).toEqual(['orders-1']);
    expect(planRun(base, 'west', ['orders-1'], specs).start).toEqual([{ leaderIndex: 'orders-1', followerIndex: 'west-orders-1' }]);
  });

  it('keeps the alias over the follower indices of its running replications that exist, and nothing else', () => {
    const specs = [
      spec('east', 'orders-1', 'active'),
      spec('west', 'orders-1', 'paused'),
      spec('west', 'orders-2', 'bootstrapping'),
      spec('east', 'orders-3', 'stopped'),
      spec('north', 'orders-1', 'active'), // a leader cluster the rule does not cover
      spec('east', 'orders-4', 'active', 'by-hand'), // a follower name the rule would not give
      spec('east', 'other-1', 'active'),
    ];
    // west-orders-2 is not created yet: it joins on a later run.
    expect(planAlias(base, specs, ['east-orders-3', 'west-orders-1', 'stray'], ['east-orders-1', 'west-orders-1', 'east-orders-3'])).toEqual({
      add: ['east-orders-1'],
      remove: ['east-orders-3', 'stray'],
    });
    expect(planAlias(base, specs, ['east-orders-1', 'west-orders-1'], ['west-orders-2'])).toEqual({ add: ['west-orders-2'], remove: [] });
  });

  it('in merged mode, starts every match of every leader as a source of the one merged index, and keeps the alias over it', () => {
    const merged: AutofollowRule = { ...base, followerIndexPattern: 'orders-all', merge: {}, followerAlias: 'everything' };
    const source = (leaderCluster: string, leaderIndex: string, state: ReplicationSpec['state']): ReplicationSpec => ({
      ...spec(leaderCluster, leaderIndex, state, mergedSourceName('orders-all', { leaderCluster, leaderIndex })),
      merge: { into: 'orders-all', idTemplate: DEFAULT_ID_TEMPLATE, originField: DEFAULT_ORIGIN_FIELD },
    });
    expect(checkFollowerIndexPattern('orders-all', true, true)).toBe('orders-all');
    expect(() => checkFollowerIndexPattern('orders-all', true, false)).toThrow(/lacks \{\{leader_index\}\}/);
    const specs = [source('east', 'orders-1', 'active'), source('west', 'orders-2', 'stopped')];
    expect(planRun(merged, 'east', ['orders-1', 'orders-2'], specs)).toEqual({
      start: [{ leaderIndex: 'orders-2', followerIndex: 'orders-all' }],
      followed: ['orders-1'],
      invalid: [],
    });
    // A stopped source is not taken back; the other leader's same-named index is another source.
    expect(planRun(merged, 'west', ['orders-1', 'orders-2'], specs).start).toEqual([{ leaderIndex: 'orders-1', followerIndex: 'orders-all' }]);
    expect(planAlias(merged, specs, [], ['orders-all'])).toEqual({ add: ['orders-all'], remove: [] });
    expect(parseAutofollowRule('central/*/orders', { ...merged })).toMatchObject({ merge: {} });
    expect(() => parseAutofollowRule('central/*/orders', { ...merged, merge: { idTemplate: '{{id}}' } })).toThrow(/merge must be/);
  });

  it('reads back only rows the API could have written', () => {
    const row = { ...base };
    expect(parseAutofollowRule('central/*/orders', row)).toEqual(row);
    const refused =
      (over: Record<string, unknown>, key = 'central/*/orders') =>
      () =>
        parseAutofollowRule(key, { ...base, ...over });
    expect(refused({ followerIndexPattern: '{{leader_index}}' })).toThrow(/lacks \{\{leader_cluster\}\}/);
    expect(refused({ leaderClusters: ['east'] })).toThrow(/leaderCluster must be|leader_clusters must be/);
    expect(refused({ leaderCluster: 'east' }, 'central/east/orders')).toThrow(/leaderCluster must be|leader_clusters must be/);
    expect(refused({ leaderClusters: undefined })).toThrow(/leaderCluster must be|leader_clusters must be/);
    expect(refused({ followerAlias: 'Bad' })).toThrow(/followerAlias must be|not an alias name/);
    expect(refused({}, 'central/east/orders')).toThrow(/the key must be "central\/\*\/orders"/);
    // A rule of one leader cluster, as written before fan-in, still reads.
    const single = { ...base, leaderCluster: 'east', leaderClusters: undefined, followerIndexPattern: '{{leader_index}}', followerAlias: undefined };
    expect(parseAutofollowRule('central/east/orders', JSON.parse(JSON.stringify(single)))).toMatchObject({ leaderCluster: 'east' });
  });
});
