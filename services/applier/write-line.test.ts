import { describe, expect, it } from 'vitest';
import type { BatchControl } from '../shared/adapters/kafka.js';
import type { ChangeEnvelope } from '../shared/envelope.js';
import type { PendingWrite } from './bulk.js';
import { WriteLine } from './write-line.js';

/** A write the test finishes by hand, and a log of what happened in which order. */
function harness(opts: { failGroup?: number } = {}) {
  const events: string[] = [];
  const writes: { group: string[]; finish: (ok: boolean) => void; fail: (e: Error) => void }[] = [];
  const control: BatchControl = {
    heartbeat: async () => undefined,
    isActive: () => true,
    resolve: () => undefined,
    commit: async (next) => {
      events.push(`commit ${next}`);
    },
  };
  const shard = { offset: '0' };
  const line = new WriteLine(control, shard, (group) => {
    const offsets = group.map((w) => w.offset);
    events.push(`write ${offsets.join(',')}`);
    return new Promise<boolean>((resolve, reject) => {
      writes.push({
        group: offsets,
        finish: (ok) => {
          events.push(`written ${offsets.join(',')}`);
          resolve(ok);
        },
        fail: reject,
      });
      if (opts.failGroup === writes.length) resolve(false);
    });
  });
  return { events, writes, line, shard };
}

const w = (offset: number): PendingWrite => ({ envelope: { op: 'INDEX' } as unknown as ChangeEnvelope, offset: String(offset) });
const tick = () => new Promise((r) => setImmediate(r));

describe('WriteLine', () => {
  it('gathers the next group while one is written, and starts it only when the first is done', async () => {
    const { events, writes, line } = harness();
    expect(await line.add(w(10), 2)).toBe(true);
    expect(await line.add(w(11), 2)).toBe(true); // full: submitted, not awaited
    expect(events).toEqual(['write 10,11']);
    expect(await line.add(w(12), 2)).toBe(true); // gathered while 10,11 is in flight
    const second = line.add(w(13), 2); // full: waits for the first write
    await tick();
    expect(events).toEqual(['write 10,11']);
    writes[0]!.finish(true);
    expect(await second).toBe(true);
    expect(events).toEqual(['write 10,11', 'written 10,11', 'commit 12', 'write 12,13']);
    writes[1]!.finish(true);
    expect(await line.settle()).toBe(true);
    expect(events.slice(4)).toEqual(['written 12,13', 'commit 14']);
  });

  it('runs an action (a checkpoint) only after the writes before it, and commits what was skipped at the end', async () => {
    const { events, writes, line, shard } = harness();
    await line.add(w(1), 10);
    expect(await line.submit()).toBe(true);
    line.then(() => {
      events.push('checkpoint');
    });
    line.done('2');
    line.done('3'); // a record of another index, skipped
    const settled = line.settle();
    await tick();
    expect(events).toEqual(['write 1']);
    writes[0]!.finish(true);
    expect(await settled).toBe(true);
    expect(events).toEqual(['write 1', 'written 1', 'commit 2', 'checkpoint', 'commit 4']);
    expect(shard.offset).toBe('4');
  });

  it('commits nothing more and skips later actions once a write gives up (the partition was taken away)', async () => {
    const { events, line } = harness({ failGroup: 1 });
    await line.add(w(5), 1);
    line.then(() => {
      events.push('checkpoint');
    });
    line.done('6');
    expect(await line.add(w(7), 1)).toBe(false);
    expect(await line.settle()).toBe(false);
    expect(events).toEqual(['write 5']);
  });

  it('a failed write surfaces at the next wait, and idle() waits for the write in flight without throwing', async () => {
    const { events, writes, line } = harness();
    await line.add(w(1), 1);
    writes[0]!.fail(new Error('follower refused'));
    await line.idle();
    await expect(line.settle()).rejects.toThrow('follower refused');
    expect(events).toEqual(['write 1']);
  });

  it('commits only when the offset moves (a partition moved back by a position request commits again)', async () => {
    const { events, writes, line, shard } = harness();
    shard.offset = '50';
    await line.add(w(3), 1);
    writes[0]!.finish(true);
    expect(await line.settle()).toBe(true);
    expect(events).toEqual(['write 3', 'written 3', 'commit 4']);
    expect(shard.offset).toBe('4');
  });
});
