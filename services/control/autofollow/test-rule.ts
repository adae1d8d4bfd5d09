/** A rule for the unit tests: one leader cluster `lc`, pattern `logs-*`, follower indices named as the leader's. */
import type { AutofollowRule } from './autofollow-rules.js';

export function testRule(name: string, over: Partial<AutofollowRule> = {}): AutofollowRule {
  return {
    followerCluster: 'fc',
    leaderCluster: 'lc',
    name,
    patterns: ['logs-*'],
    excludePatterns: [],
    followerIndexPattern: '{{leader_index}}',
    createdBy: 't',
    updatedBy: 't',
    createdAt: 1,
    updatedAt: 1,
    ...over,
  };
}
