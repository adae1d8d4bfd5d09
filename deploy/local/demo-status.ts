/**
 * The demo's live view: the control API's `_status` of the demo replication, with what the demo wrote, as a few
 * short lines (the table fits 80 columns). Pure: the tests feed it answers and read the lines.
 */
import { num, seconds, table } from '../../services/cli/format.js';
import type { Status } from '../../services/cli/format.js';

/** The `_status` answer as the demo reads it: the CLI's shape, plus the optional blocks it shows when present. */
export interface DemoStatus extends Status {
  reconciliation?: { passes: number; ids_checked: number; deletes_published: number };
  bootstrap_progress?: { mode: string; phase: string; percent: number | null };
}

export interface WriteCounts {
  created: number;
  updated: number;
  deleted: number;
  /** Of the writes above, those with a custom routing. */
  routed: number;
  /** Bulk items the leader refused. */
  failed: number;
}

export function emptyCounts(): WriteCounts {
  return { created: 0, updated: 0, deleted: 0, routed: 0, failed: 0 };
}

function n(v: number): string {
  return v.toLocaleString('en-US');
}

/** The heading line: the phase, the replication's status and its lag. */
function heading(phase: string, s: DemoStatus | undefined): string {
  if (!s) return `${phase}   status: (no answer yet)`;
  const state =
    s.bootstrap_progress && s.status === 'BOOTSTRAPPING' && s.bootstrap_progress.percent !== null ? `${s.status} ${s.bootstrap_progress.percent}%` : s.status;
  return `${phase}   ${state}   lag ${num(s.lag_operations)} ops, ${seconds(s.lag_seconds)}`;
}

export function statusLines(phase: string, s: DemoStatus | undefined, writes: WriteCounts): string[] {
  const lines = [heading(phase, s)];
  const total = writes.created + writes.updated + writes.deleted;
  lines.push(
    `  leader writes: ${n(writes.created)} created, ${n(writes.updated)} updated, ${n(writes.deleted)} deleted` +
      (total > 0 ? ` (${Math.round((writes.routed / total) * 100)}% routed)` : '') +
      (writes.failed > 0 ? `, ${n(writes.failed)} refused` : ''),
  );
  if (!s) return lines;
  if (s.reason) lines.push(`  ${truncate(s.reason, 76)}`);
  const applied = s.shards.reduce((a, sh) => a + sh.applied, 0);
  const skipped = s.shards.reduce((a, sh) => a + sh.skipped, 0);
  const dead = s.shards.reduce((a, sh) => a + sh.dead_lettered, 0);
  const rec = s.reconciliation;
  lines.push(`  follower: ${n(applied)} applied, ${n(skipped)} skipped, ${n(dead)} dead-lettered`);
  if (rec) lines.push(`  delete reconciliation: ${n(rec.passes)} passes, ${n(rec.deletes_published)} deletes carried over`);
  if (s.shards.length === 0) {
    lines.push('  (no shard reported yet: the extractor and the applier report every second)');
    return lines;
  }
  const rows = s.shards.map((sh) => [
    String(sh.shard),
    num(sh.leader_checkpoint),
    num(sh.follower_checkpoint),
    num(sh.lag_operations),
    seconds(sh.lag_seconds),
    n(sh.applied),
    sh.offset === null ? '-' : `${sh.offset}/${sh.high_watermark ?? '-'}`,
  ]);
  for (const line of table(['shard', 'leader cp', 'follower cp', 'lag ops', 'lag', 'applied', 'offset/high'], rows)) lines.push(`  ${line}`);
  return lines;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 3)}...`;
}

/** True when the follower holds every leader checkpoint the demo saw at the end of its writes. */
export function caughtUp(s: DemoStatus | undefined, leaderCheckpoints: ReadonlyMap<number, number>): boolean {
  if (!s || s.status !== 'SYNCING' || s.lag_operations !== 0) return false;
  for (const [shard, g] of leaderCheckpoints) {
    const sh = s.shards.find((x) => x.shard === shard);
    if (!sh || sh.leader_checkpoint === null || sh.leader_checkpoint < g || sh.follower_checkpoint === null || sh.follower_checkpoint < g) return false;
  }
  return true;
}

/**
 * Prints blocks of lines; on a terminal each block replaces the previous one (cursor up, clear), elsewhere
 * (a pipe, a log file, a test) blocks follow one another.
 */
export class LiveBlock {
  private rows = 0;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  draw(lines: readonly string[]): void {
    if (this.tty) {
      const width = Math.max(20, this.out.columns || 80);
      const erase = this.rows > 0 ? `\x1b[${this.rows}F\x1b[J` : '';
      this.out.write(`${erase}${lines.join('\n')}\n`);
      this.rows = lines.reduce((acc, l) => acc + Math.max(1, Math.ceil(l.length / width)), 0);
    } else {
      this.out.write(`${lines.join('\n')}\n\n`);
    }
  }

  /** The next draw starts below the current block instead of replacing it. */
  keep(): void {
    this.rows = 0;
  }
}
