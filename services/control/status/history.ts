/**
 * The last hour of each replication, for the status page's charts: every `intervalMs` (10 s) the control service
 * samples the view `_status` answers with (applied operations summed over shards, lag, status) into a ring of
 * `keepMs / intervalMs` points (360). Kept in memory only: a restarted control service starts its charts again.
 */
import type { ReplicationSpec } from '../../shared/replication.js';
import type { ReplicationStatusName, StatusView } from './status.js';

export interface HistoryPoint {
  /** Epoch ms of the sample. */
  readonly at: number;
  readonly status: ReplicationStatusName;
  /** Operations applied on the follower, summed over shards (as the applier counts them since it started). */
  readonly applied: number;
  readonly lagOperations: number | null;
  readonly lagSeconds: number | null;
}

export interface ThroughputPoint {
  readonly at: number;
  /** Operations applied per second since the previous point; null across a restart of the counter. */
  readonly perSecond: number | null;
}

export function historyKey(spec: Pick<ReplicationSpec, 'followerCluster' | 'followerIndex'>): string {
  return `${spec.followerCluster}/${spec.followerIndex}`;
}

export class StatusHistory {
  private readonly series = new Map<string, HistoryPoint[]>();
  private readonly capacity: number;

  constructor(
    readonly intervalMs = 10_000,
    readonly keepMs = 3_600_000,
  ) {
    this.capacity = Math.max(2, Math.ceil(keepMs / intervalMs));
  }

  /** One sample of every replication; replications gone from `rows` are forgotten. */
  record(now: number, rows: readonly { readonly spec: ReplicationSpec; readonly view: StatusView }[]): void {
    const seen = new Set<string>();
    for (const { spec, view } of rows) {
      const key = historyKey(spec);
      seen.add(key);
      const points = this.series.get(key) ?? [];
      points.push({
        at: now,
        status: view.status,
        applied: view.shards.reduce((n, s) => n + s.applied, 0),
        lagOperations: view.lag_operations,
        lagSeconds: view.lag_seconds,
      });
      if (points.length > this.capacity) points.splice(0, points.length - this.capacity);
      this.series.set(key, points);
    }
    for (const key of [...this.series.keys()]) if (!seen.has(key)) this.series.delete(key);
  }

  points(key: string): readonly HistoryPoint[] {
    return this.series.get(key) ?? [];
  }
}

/** Applied operations per second between consecutive points; a counter that went down (an applier restart) gives null. */
export function throughput(points: readonly HistoryPoint[]): ThroughputPoint[] {
  const out: ThroughputPoint[] = [];
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    const seconds = (b.at - a.at) / 1000;
    out.push({ at: b.at, perSecond: b.applied < a.applied || seconds <= 0 ? null : (b.applied - a.applied) / seconds });
  }
  return out;
}
