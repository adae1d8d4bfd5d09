import { describe, expect, it } from 'vitest';
import { CLOCK_MARGIN_MS, startPosition } from './replications.js';

describe('startPosition: where a new replication reads a topic that an earlier one left behind', () => {
  const t = 1_800_000_000_000;

  it('a topic never published or never read by this follower cluster: the group decides (no request)', () => {
    expect(startPosition('scan', { records: false, committed: false }, t)).toBeUndefined();
    expect(startPosition(undefined, { records: true, committed: false }, t)).toBeUndefined();
    expect(startPosition('snapshot', { records: false, committed: false }, t)).toBeUndefined();
    expect(startPosition('none', { records: false, committed: false }, t)).toBeUndefined();
  });

  it('scan after an earlier replication into the same follower cluster: from the topic start', () => {
    expect(startPosition('scan', { records: true, committed: true }, t)).toBe('earliest');
    expect(startPosition(undefined, { records: true, committed: true }, t)).toBe('earliest');
  });

  it('snapshot and none onto records already published: from the start time less the clock margin', () => {
    for (const committed of [false, true]) {
      expect(startPosition('snapshot', { records: true, committed }, t)).toBe(t - CLOCK_MARGIN_MS);
      expect(startPosition('none', { records: true, committed }, t)).toBe(t - CLOCK_MARGIN_MS);
    }
  });
});
