import { describe, expect, it } from 'vitest';
import { caughtUp, emptyCounts, LiveBlock, statusLines } from './demo-status.js';
import type { DemoStatus } from './demo-status.js';

function status(
  over: Partial<DemoStatus> = {},
  shards: { shard: number; leader: number | null; follower: number | null; lag?: number | null }[] = [],
): DemoStatus {
  return {
    status: 'SYNCING',
    leader_alias: 'demo-leader',
    leader_index: 'kccr-demo',
    follower_index: 'kccr-demo-follower',
    lag_operations: shards.reduce((a, s) => a + (s.lag ?? 0), 0),
    lag_seconds: 0,
    shards: shards.map((s) => ({
      shard: s.shard,
      leader_checkpoint: s.leader,
      leader_max_seq_no: s.leader,
      follower_checkpoint: s.follower,
      lag_operations: s.lag ?? 0,
      lag_seconds: 0,
      applied: 1200,
      skipped: 0,
      dead_lettered: 0,
      offset: '1300',
      high_watermark: '1310',
    })),
    reconciliation: { passes: 3, ids_checked: 4000, deletes_published: 12 },
    ...over,
  };
}

describe('demo status lines', () => {
  it('show the lag per shard in a table of at most 80 columns', () => {
    const counts = { ...emptyCounts(), created: 1234, updated: 2345, deleted: 345, routed: 980 };
    const lines = statusLines(
      '   12 s / 30 s',
      status({ lag_operations: 42, lag_seconds: 0.4 }, [
        { shard: 0, leader: 1520, follower: 1498, lag: 22 },
        { shard: 1, leader: 10, follower: 10 },
      ]),
      counts,
    );
    expect(lines[0]).toBe('   12 s / 30 s   SYNCING   lag 42 ops, 0.4 s');
    expect(lines[1]).toBe('  leader writes: 1,234 created, 2,345 updated, 345 deleted (25% routed)');
    expect(lines[2]).toBe('  follower: 2,400 applied, 0 skipped, 0 dead-lettered');
    expect(lines[3]).toBe('  delete reconciliation: 3 passes, 12 deletes carried over');
    expect(lines[4]).toMatch(/^ {2}shard +leader cp +follower cp +lag ops +lag +applied +offset\/high$/);
    expect(lines[5]).toMatch(/^ {2}0 +1520 +1498 +22 +0 s +1,200 +1300\/1310$/);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
  });

  it('say so when there is no answer or no shard yet, and show the reason', () => {
    expect(statusLines('x', undefined, emptyCounts())).toEqual(['x   status: (no answer yet)', '  leader writes: 0 created, 0 updated, 0 deleted']);
    const lines = statusLines(
      'x',
      status({ status: 'BOOTSTRAPPING', reason: 'waiting for the applier of the follower cluster to report', lag_operations: null, lag_seconds: null }),
      emptyCounts(),
    );
    expect(lines[0]).toBe('x   BOOTSTRAPPING   lag - ops, -');
    expect(lines).toContain('  waiting for the applier of the follower cluster to report');
    expect(lines.at(-1)).toMatch(/no shard reported yet/);
  });
});

describe('caught up', () => {
  const target = new Map([
    [0, 100],
    [1, 50],
  ]);
  it('needs SYNCING, lag 0, and every shard at the leader checkpoints the demo saw', () => {
    expect(
      caughtUp(
        status({}, [
          { shard: 0, leader: 100, follower: 100 },
          { shard: 1, leader: 50, follower: 50 },
        ]),
        target,
      ),
    ).toBe(true);
    // The extractor's row is older than the end of the writes: lag 0 against a stale leader checkpoint.
    expect(
      caughtUp(
        status({}, [
          { shard: 0, leader: 90, follower: 90 },
          { shard: 1, leader: 50, follower: 50 },
        ]),
        target,
      ),
    ).toBe(false);
    expect(caughtUp(status({}, [{ shard: 0, leader: 100, follower: 100 }]), target)).toBe(false);
    expect(
      caughtUp(
        status({ status: 'BOOTSTRAPPING' }, [
          { shard: 0, leader: 100, follower: 100 },
          { shard: 1, leader: 50, follower: 50 },
        ]),
        target,
      ),
    ).toBe(false);
    expect(caughtUp(undefined, target)).toBe(false);
  });
});

describe('live block', () => {
  function stream(isTTY: boolean) {
    const written: string[] = [];
    return { written, out: { isTTY, columns: 40, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream };
  }

  it('redraws in place on a terminal, counting wrapped lines', () => {
    const { written, out } = stream(true);
    const live = new LiveBlock(out);
    live.draw(['a', 'b'.repeat(50)]);
    live.draw(['c']);
    expect(written).toEqual(['a\n' + 'b'.repeat(50) + '\n', '\x1b[3F\x1b[Jc\n']);
    live.keep();
    live.draw(['d']);
    expect(written[2]).toBe('d\n');
  });

  it('appends blocks elsewhere', () => {
    const { written, out } = stream(false);
    const live = new LiveBlock(out);
    live.draw(['a']);
    live.draw(['b']);
    expect(written).toEqual(['a\n\n', 'b\n\n']);
  });
});
