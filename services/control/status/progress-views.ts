/**
 * What the status shows of a replication's position request and of its rebuild: pure functions of its spec and
 * the applier's status row (no service, no I/O), so that the status views (status.ts) and the services that act
 * (offsets.ts, rebuild.ts) share them without depending on each other.
 */
import type { ApplierStatus, PositionTarget, ReplicationSpec } from '../../shared/replication.js';

export function targetText(to: PositionTarget): string | number {
  return typeof to === 'number' ? new Date(to).toISOString() : to;
}

export interface PositionView {
  readonly request_id: string;
  /** earliest, latest, or the time as ISO-8601. */
  readonly to: string;
  readonly requested_at: string;
  readonly requested_by: string;
  /** When the applier set the offsets; null while it has not. */
  readonly applied_at: string | null;
  readonly offsets: readonly { readonly partition: number; readonly offset: string }[];
}

/** The spec's latest position request and whether the applier has applied it (from its status row). */
export function positionView(spec: ReplicationSpec, applier: ApplierStatus | undefined): PositionView | undefined {
  const p = spec.position;
  if (!p) return undefined;
  const applied = applier?.position?.requestId === p.requestId ? applier.position : undefined;
  return {
    request_id: p.requestId,
    to: String(targetText(p.to)),
    requested_at: new Date(p.requestedAt).toISOString(),
    requested_by: p.requestedBy,
    applied_at: applied ? new Date(applied.appliedAt).toISOString() : null,
    offsets: applied?.offsets ?? [],
  };
}

export interface RebuildView {
  readonly from: string;
  readonly alias: string;
  readonly started_at: string;
  /** Offsets of the topic applied since the start, of the topic's end (over all partitions), as the applier reports. */
  readonly offsets_done: number;
  readonly offsets_total: number | null;
  readonly percent: number | null;
  readonly caught_up_at: string | null;
  readonly alias_moved_at: string | null;
}

/** A rebuild's progress from its spec and the new index's applier status row. */
export function rebuildView(spec: ReplicationSpec, applier: ApplierStatus | undefined): RebuildView | undefined {
  const r = spec.rebuild;
  if (!r) return undefined;
  const taken = applier !== undefined && spec.position !== undefined && applier.position?.requestId === spec.position.requestId;
  const shards = taken ? applier.shards : [];
  const done = shards.reduce((n, s) => n + Number(s.offset), 0);
  const total = shards.length > 0 ? shards.reduce((n, s) => n + Math.max(Number(s.highWatermark), Number(s.offset)), 0) : null;
  const finished = r.aliasMovedAt !== undefined;
  return {
    from: r.from,
    alias: r.alias,
    started_at: new Date(r.startedAt).toISOString(),
    offsets_done: finished && total !== null ? Math.max(done, total) : done,
    offsets_total: total,
    percent: finished ? 100 : total ? Math.min(100, Math.floor((done / total) * 1000) / 10) : null,
    caught_up_at: r.caughtUpAt !== undefined ? new Date(r.caughtUpAt).toISOString() : null,
    alias_moved_at: r.aliasMovedAt !== undefined ? new Date(r.aliasMovedAt).toISOString() : null,
  };
}

/** The `reason` a rebuilding replication's status gives while it has not caught up. */
export function rebuildReason(v: RebuildView): string {
  const progress =
    v.offsets_total === null
      ? 'waiting for the applier to start on it'
      : `${v.offsets_done} of ${v.offsets_total} offsets applied${v.percent !== null ? ` (${v.percent}%)` : ''}`;
  return `rebuilding from ${v.from}: ${progress}; the alias ${v.alias} moves here once caught up`;
}
