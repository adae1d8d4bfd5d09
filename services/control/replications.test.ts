import { describe, expect, it } from 'vitest';
import { startPosition } from './replications.js';

describe('startPosition: where a new replication reads its topic', () => {
  it('offsets left in the topic by an earlier replication into the follower cluster: from the start', () => {
    expect(startPosition(true)).toBe('earliest');
  });

  it('no offsets: the group starts at the beginning by itself, no request', () => {
    expect(startPosition(false)).toBeUndefined();
  });
});
