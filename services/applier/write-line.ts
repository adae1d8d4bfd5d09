/**
 * The writes of one fetched batch, in order, with the next group gathered while the previous one is written.
 */
import type { BatchControl } from '../shared/adapters/kafka.js';
import type { PendingWrite } from './bulk.js';

/**
 * The writes of one batch of one partition, in order: at most one group in flight while the next is gathered.
 * Offsets are committed after the writes they cover, never past a message not yet done.
 */
export class WriteLine {
  private pending: PendingWrite[] = [];
  /** The last message done, or done once the writes submitted before it succeed. */
  private lastDone: string | undefined;
  /** Every write and action queued so far; false once one gave up (the partition was taken away). */
  private writing: Promise<boolean> = Promise.resolve(true);

  constructor(
    private readonly control: BatchControl,
    private readonly shard: { offset: string },
    private readonly writeGroup: (group: PendingWrite[]) => Promise<boolean>,
  ) {}

  done(offset: string): void {
    this.lastDone = offset;
  }

  /** Adds a write; a full group is submitted. */
  async add(w: PendingWrite, groupSize: number): Promise<boolean> {
    this.pending.push(w);
    this.lastDone = w.offset;
    return this.pending.length < groupSize || this.submit();
  }

  /** Waits for the write in flight, then starts writing the pending group without waiting for it. */
  async submit(): Promise<boolean> {
    if (this.pending.length === 0) return true;
    if (!(await this.writing)) return false;
    const group = this.pending;
    this.pending = [];
    const last = group[group.length - 1]!.offset;
    this.queue(
      this.writeGroup(group).then(async (ok) => {
        if (ok) {
          await this.commitUpTo(last);
          await this.control.heartbeat();
        }
        return ok;
      }),
    );
    return true;
  }

  /** Runs `action` after every write submitted so far, if they all succeeded. */
  then(action: () => Promise<void> | void): void {
    this.queue(
      this.writing.then(async (ok) => {
        if (ok) await action();
        return ok;
      }),
    );
  }

  /** Everything added is written and every message done is committed. */
  async settle(): Promise<boolean> {
    if (!(await this.submit()) || !(await this.writing)) return false;
    if (this.lastDone !== undefined) await this.commitUpTo(this.lastDone);
    await this.control.heartbeat();
    return true;
  }

  /** Resolves once nothing is in flight, whatever its outcome. */
  async idle(): Promise<void> {
    await this.writing.catch(() => undefined);
  }

  private queue(p: Promise<boolean>): void {
    // Awaited later (the next submit, or settle); a failure meanwhile must not count as unhandled.
    p.catch(() => undefined);
    this.writing = p;
  }

  private async commitUpTo(offset: string): Promise<void> {
    // Offsets only grow within a batch; a position request may have moved the partition back since the last one.
    const next = String(BigInt(offset) + 1n);
    if (next === this.shard.offset) return;
    await this.control.commit(next);
    this.shard.offset = next;
  }
}
