import { describe, expect, it } from 'vitest';
import { readStackConfig } from './config.js';
import { describeStack } from './state.js';

describe('stack state', () => {
  it("records each cluster's engine: further leader clusters run the leader side's (KCCR_LEADER_ENGINE)", () => {
    const state = describeStack(
      readStackConfig({
        KCCR_STACK_DIR: '/tmp/kccr-state-test',
        KCCR_LEADER_CLUSTERS: '3',
        KCCR_LEADER_ENGINE: 'opensearch:2.19.4',
        KCCR_ES_VERSION: '8.19.21',
      }),
    );
    expect(state.leaders).toEqual(['leader', 'leader2', 'leader3']);
    for (const id of ['leader', 'leader2', 'leader3']) expect(state.clusters[id]?.engine).toEqual({ kind: 'opensearch', version: '2.19.4' });
    expect(state.clusters.follower.engine).toEqual({ kind: 'elasticsearch', version: '8.19.21' });
    expect(state.clusters.leader2?.heap).toBe('512m');
  });
});
