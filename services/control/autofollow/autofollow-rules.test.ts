import { describe, expect, it } from 'vitest';
import type { ReplicationSpec } from '../../shared/replication.js';
import { checkExcludePatterns, checkFollowerIndexPattern, followerIndexName, matchesRule, parsePatterns, planRun, wildcardMatch } from './autofollow-rules.js';
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
    expect(followerIndexName('{{leader_index}}', 'logs-1')).toBe('logs-1');
    expect(followerIndexName('{{leader_index}}-copy', 'logs-1')).toBe('logs-1-copy');
    expect(followerIndexName('dr-{{leader_index}}-{{leader_index}}', 'x')).toBe('dr-x-x');
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
    const plan = planRun(rule, ['logs-b', 'logs-a', 'logs-skip-1', 'other', 'logs-a'], []);
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
    const plan = planRun(rule, ['logs-a', 'logs-b', 'logs-c', 'logs-d', 'logs-e'], specs);
    expect(plan.followed).toEqual(['logs-a', 'logs-b']);
    expect(plan.start.map((c) => c.leaderIndex)).toEqual(['logs-c', 'logs-d', 'logs-e']);
  });

  it('sets apart follower names that would be too long', () => {
    const long = `logs-${'x'.repeat(248)}`;
    const plan = planRun(rule, [long], []);
    expect(plan.start).toEqual([]);
    expect(plan.invalid[0]?.reason).toMatch(/longer than 255 bytes/);
  });
});
