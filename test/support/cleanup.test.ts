import { describe, expect, it } from 'vitest';
import { madeSince, stampOf } from './cleanup.js';
import { uniqueName } from './stack.js';

describe('what a test run made', () => {
  it('is told by the time uniqueName() stamped into a name', () => {
    const since = Date.now() - 1000;
    const fresh = uniqueName('ctl-follower');
    expect(stampOf(fresh)).toBeGreaterThanOrEqual(since);
    const old = `off-follower-${(since - 60_000).toString(36)}-0a1b2c`;
    const names = [
      fresh,
      `.kccr-ledger-${fresh}`,
      `${fresh}-rebuilt-20261129152349`,
      `kccr.lc-${fresh.slice('ctl-follower-'.length)}.leader-01`,
      old,
      'orders',
      'kccr._status',
      'leader-01',
    ];
    expect(madeSince(names, since)).toEqual(names.slice(0, 4));
  });
});
