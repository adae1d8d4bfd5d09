import { describe, expect, it } from 'vitest';
import { KccrError } from '../../shared/errors.js';
import type { ApplierStatus, ReplicationSpec } from '../../shared/replication.js';
import { checkPositionAllowed, parsePositionTarget } from './offsets.js';
import { positionView } from '../status/progress-views.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');

function refused(value: unknown): string {
  try {
    parsePositionTarget(value, NOW);
  } catch (e) {
    expect(e).toBeInstanceOf(KccrError);
    expect((e as KccrError).code).toBe('BAD_REQUEST');
    return (e as Error).message;
  }
  throw new Error(`${JSON.stringify(value)} was accepted`);
}

describe('parsePositionTarget', () => {
  it('takes earliest, latest, ISO-8601 times with a zone, dates and epoch milliseconds', () => {
    expect(parsePositionTarget('earliest', NOW)).toBe('earliest');
    expect(parsePositionTarget('latest', NOW)).toBe('latest');
    expect(parsePositionTarget('2025-05-31T10:00:00Z', NOW)).toBe(Date.parse('2025-05-31T10:00:00Z'));
    expect(parsePositionTarget('2025-05-31T12:00:00.250+02:00', NOW)).toBe(Date.parse('2025-05-31T10:00:00.250Z'));
    expect(parsePositionTarget('2025-05-31 10:00Z', NOW)).toBe(Date.parse('2025-05-31T10:00:00Z'));
    expect(parsePositionTarget('2025-05-31', NOW)).toBe(Date.parse('2025-05-31T00:00:00Z'));
    expect(parsePositionTarget(1_700_000_000_000, NOW)).toBe(1_700_000_000_000);
    expect(parsePositionTarget('1700000000000', NOW)).toBe(1_700_000_000_000);
    expect(parsePositionTarget(0, NOW)).toBe(0);
  });

  it('refuses what it cannot read exactly, saying what it expects', () => {
    expect(refused('2025-05-31T10:00:00')).toMatch(/needs its zone/);
    expect(refused('2025-02-30')).toMatch(/not a date that exists/);
    expect(refused('2025-05-31T25:00:00Z')).toMatch(/not a date that exists/);
    expect(refused('yesterday')).toMatch(/"earliest", "latest", an ISO-8601 time/);
    expect(refused('EARLIEST')).toMatch(/received "EARLIEST"/);
    expect(refused(-5)).toMatch(/whole number from 0/);
    expect(refused(1.5)).toMatch(/whole number from 0/);
    expect(refused(true)).toMatch(/received true/);
    expect(refused(null)).toMatch(/received null/);
  });

  it('refuses a time in the future: latest says that', () => {
    expect(refused('2025-06-02T00:00:00Z')).toMatch(/in the future.*use "latest"/);
    expect(refused(NOW + 1)).toMatch(/in the future/);
    expect(parsePositionTarget(NOW, NOW)).toBe(NOW);
  });
});

const spec: ReplicationSpec = {
  followerCluster: 'fc',
  followerIndex: 'f',
  leaderCluster: 'lc',
  leaderIndex: 'l',
  state: 'active',
  bootstrap: 'scan',
  requestedBy: 'ops',
  createdAt: 1,
  updatedAt: 2,
};

describe('checkPositionAllowed', () => {
  it('allows active and paused replications; refuses stopped ones and rebuilds under way (409)', () => {
    expect(() => checkPositionAllowed(spec, 'x')).not.toThrow();
    expect(() => checkPositionAllowed({ ...spec, state: 'paused' }, 'x')).not.toThrow();
    expect(() => checkPositionAllowed({ ...spec, state: 'stopped' }, 'x')).toThrow(/was stopped/);
    const rebuilding = { ...spec, rebuild: { from: 'old', alias: 'a', startedAt: 1, leaderCheckpoints: [] } };
    expect(() => checkPositionAllowed(rebuilding, 'x')).toThrow(/being rebuilt from old/);
    expect(() => checkPositionAllowed({ ...rebuilding, rebuild: { ...rebuilding.rebuild, aliasMovedAt: 5 } }, 'x')).not.toThrow();
  });
});

describe('positionView', () => {
  it('shows the request and, once the applier reports its id, when it was applied and the offsets', () => {
    const s: ReplicationSpec = { ...spec, position: { requestId: 'r1', to: Date.parse('2025-05-31T10:00:00Z'), requestedAt: 10, requestedBy: 'ops' } };
    const row = { kind: 'applier', position: { requestId: 'r0', appliedAt: 5, offsets: [] } } as unknown as ApplierStatus;
    expect(positionView(s, row)).toMatchObject({ request_id: 'r1', to: '2025-05-31T10:00:00.000Z', applied_at: null, offsets: [] });
    const applied = { ...row, position: { requestId: 'r1', appliedAt: 20, offsets: [{ partition: 0, offset: '4' }] } } as ApplierStatus;
    expect(positionView(s, applied)).toMatchObject({ applied_at: new Date(20).toISOString(), offsets: [{ partition: 0, offset: '4' }] });
    expect(positionView(spec, applied)).toBeUndefined();
  });
});
