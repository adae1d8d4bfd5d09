/**
 * What a replication's status is, from its spec and the rows the extractor and the applier write to kccr._status.
 * Pure: the time is an argument, so the rules are unit-tested.
 *
 * - STOPPED / PAUSED: what the spec says (the data plane follows the spec).
 * - FAILED: an active spec whose extractor or applier reports failed since the spec last changed (an older failure
 *   belongs to an earlier start: the extractor retries a failed index when its spec changes).
 * - STALE: the extractor's or the applier's row has not been renewed for 3 report intervals (at least 3 s): what it
 *   last said is no longer known to hold (Kafka down, the service dead or cut off). Lag in operations is then
 *   unknown (null) and lag in seconds grows from the last leader state the follower was known to hold.
 * - RETRYING: the extractor or the applier is retrying a transient failure (reason, since, attempts).
 * - BOOTSTRAPPING: active, and some shard has no checkpoint applied on the follower yet.
 * - SYNCING: otherwise: both sides reported within their intervals, and neither is retrying.
 * Lag in operations: leader global checkpoint - follower applied checkpoint (never below 0).
 * Lag in seconds: 0 when the follower holds the leader's latest checkpoint; otherwise the age of the leader state the
 * follower holds (now - when the leader was at the applied checkpoint).
 */
import type { ApplierShardStatus, ApplierStatus, BootstrapStatus, ExtractorShardStatus, ExtractorStatus, ReplicationSpec } from '../../shared/replication.js';
import { applierStatusKey, bootstrapStatusKey, extractorStatusKey, silentAfterMs } from '../../shared/replication.js';
import { positionView, rebuildReason, rebuildView } from './progress-views.js';
import type { PositionView, RebuildView } from './progress-views.js';

export type ReplicationStatusName = 'BOOTSTRAPPING' | 'SYNCING' | 'RETRYING' | 'STALE' | 'PAUSED' | 'STOPPED' | 'FAILED';

/** The report interval assumed for a status row that does not say its own (the services' default). */
export const DEFAULT_REPORT_INTERVAL_MS = 2000;

/** How long a status row may go unrenewed before what it says is no longer taken as seen. */
export function staleAfterMs(row: { readonly reportIntervalMs?: number }): number {
  return silentAfterMs(row.reportIntervalMs ?? DEFAULT_REPORT_INTERVAL_MS);
}

/** Seconds since a row was written when that is past its stale bound; undefined while it is fresh. */
export function staleSeconds(row: { readonly updatedAt: number; readonly reportIntervalMs?: number } | undefined, now: number): number | undefined {
  if (!row) return undefined;
  const age = now - row.updatedAt;
  return age > staleAfterMs(row) ? Math.round(age / 1000) : undefined;
}

export interface ShardView {
  readonly shard: number;
  readonly leader_checkpoint: number | null;
  readonly leader_max_seq_no: number | null;
  readonly follower_checkpoint: number | null;
  readonly lag_operations: number | null;
  readonly lag_seconds: number | null;
  readonly applied: number;
  readonly skipped: number;
  readonly dead_lettered: number;
  /** Bytes of a chunked document the applier holds while its chunks arrive (absent when none). */
  readonly reassembling_bytes?: number;
  /** Chunks of sequences found cut and dropped (a retry published them again, or compaction left them). */
  readonly chunks_dropped?: number;
  /** The leader node (id) the extractor last read this shard from (the primary's node), its primary term, failovers seen. */
  readonly leader_read_from?: string;
  readonly leader_primary_term?: number;
  readonly leader_failovers?: number;
  readonly offset: string | null;
  readonly high_watermark: string | null;
  readonly last_applied_at: string | null;
}

export interface StatusView {
  readonly status: ReplicationStatusName;
  readonly reason?: string;
  readonly leader_alias: string;
  readonly remote_cluster: string;
  readonly leader_index: string;
  /** The leader index incarnation (UUID at the start) this replication follows; null on older replications. */
  readonly leader_index_uuid: string | null;
  readonly follower_cluster: string;
  readonly follower_index: string;
  readonly bootstrap: string;
  /** The leader keeps only part of _source and the start accepted it: the follower holds what these keep. */
  readonly partial_source?: { readonly includes: readonly string[]; readonly excludes: readonly string[] };
  /** The leader has synthetic _source: the follower holds the documents as the leader rebuilds them. */
  readonly synthetic_source?: boolean;
  /** One source of a merged index: the index it writes, its id template and provenance field. */
  readonly merged?: { readonly into: string; readonly id_template: string; readonly origin_field: string };
  /** The OpenSearch plugin's summary, over all shards. */
  readonly syncing_details: { readonly leader_checkpoint: number; readonly follower_checkpoint: number; readonly seq_no: number };
  readonly lag_operations: number | null;
  readonly lag_seconds: number | null;
  readonly shards: readonly ShardView[];
  readonly requested_by: string;
  readonly created_at: string;
  readonly updated_at: string;
  readonly extractor_updated_at: string | null;
  readonly applier_updated_at: string | null;
  /** What is being retried, since when and how many attempts (RETRYING, and FAILED on refused credentials). */
  readonly retrying?: { readonly side: 'extractor' | 'applier'; readonly reason: string; readonly since: string; readonly attempts: number };
  /** Times the extractor's loop for this index, and the applier's consumer, were started again after ending unexpectedly. */
  readonly restarts: { readonly extractor: number; readonly applier: number };
  /** The applier's latest dead letters, newest last (absent when none). */
  readonly recent_dead_letters?: readonly { at: string; id: string; shard: number; offset: string; stage: string; reason: string }[];
  /** Settings and mapping parameters of the leader's index that the follower does not know, left out (absent when none). */
  readonly left_out?: readonly string[];
  /** Bootstrap progress: a snapshot's copy and restore (bytes), or a scan's documents. */
  readonly bootstrap_progress?: BootstrapProgress;
  /** The latest request to move the position in the topic (POST .../_offsets), and when the applier applied it. */
  readonly position?: PositionView;
  /** A follower index made by a rebuild: offsets applied of the topic's end, when it caught up and the alias moved. */
  readonly rebuild?: RebuildView;
  /** Delete reconciliation: passes the applier asked for, and DELETEs the extractor published from them. */
  readonly reconciliation: {
    readonly passes: number;
    readonly passes_abandoned: number;
    readonly ranges_counted: number;
    readonly ids_listed: number;
    readonly ids_checked: number;
    readonly deletes_published: number;
    readonly last_pass_ms: number | null;
    readonly last_pass_at: string | null;
  };
}

export interface BootstrapProgress {
  readonly mode: 'snapshot' | 'scan';
  readonly phase: string;
  readonly documents?: number;
  readonly documents_total?: number;
  readonly bytes: number;
  readonly bytes_total?: number;
  readonly percent: number | null;
  /** Documents (scan) or bytes (snapshot) per second since the start. */
  readonly rate_per_second: number | null;
  readonly eta_seconds: number | null;
  readonly started_at: string;
  readonly finished_at: string | null;
}

export type StatusRow = ExtractorStatus | ApplierStatus | BootstrapStatus;

/** Progress figures from what is done of a total since a start. */
export function progress(done: number, total: number | undefined, startedAt: number, finishedAt: number | null | undefined, now: number) {
  const seconds = Math.max(0.001, ((finishedAt ?? now) - startedAt) / 1000);
  const rate = done / seconds;
  const percent = total ? Math.min(100, Math.round((done / total) * 1000) / 10) : finishedAt ? 100 : null;
  const eta = finishedAt ? 0 : total && rate > 0 ? Math.max(0, Math.round((total - done) / rate)) : null;
  return {
    percent,
    rate_per_second: Math.round(rate * 10) / 10,
    eta_seconds: eta,
    started_at: new Date(startedAt).toISOString(),
    finished_at: finishedAt ? new Date(finishedAt).toISOString() : null,
  };
}

export function bootstrapProgress(rows: { extractor?: ExtractorStatus; bootstrap?: BootstrapStatus }, now: number): BootstrapProgress | undefined {
  const b = rows.bootstrap;
  if (b)
    return {
      mode: 'snapshot',
      phase: b.phase,
      bytes: b.bytesDone,
      bytes_total: b.bytesTotal,
      ...progress(b.bytesDone, b.bytesTotal, b.startedAt, b.finishedAt, now),
    };
  const scan = rows.extractor?.bootstrap;
  if (scan) {
    return {
      mode: 'scan',
      phase: scan.finishedAt ? 'done' : 'scanning',
      documents: scan.docs,
      documents_total: scan.total,
      bytes: scan.bytes,
      ...progress(scan.docs, scan.total, scan.startedAt, scan.finishedAt, now),
    };
  }
  return undefined;
}

/** Reads the two rows of a spec from the status table. */
export function rowsOf(
  spec: ReplicationSpec,
  get: (key: string) => StatusRow | undefined,
): { extractor?: ExtractorStatus; applier?: ApplierStatus; bootstrap?: BootstrapStatus } {
  const e = get(extractorStatusKey(spec.leaderCluster, spec.leaderIndex));
  const a = get(applierStatusKey(spec.followerCluster, spec.followerIndex));
  // A bootstrap row of an earlier replication of the same follower index is not this one's.
  const b = spec.bootstrap === 'snapshot' ? get(bootstrapStatusKey(spec.followerCluster, spec.followerIndex)) : undefined;
  // An extractor row about another incarnation of the leader index (deleted and created again) says nothing of
  // the one this replication follows: its checkpoints would pass for this index's.
  const otherIncarnation = e?.kind === 'extractor' && e.indexUuid !== undefined && spec.leaderIndexUuid !== undefined && e.indexUuid !== spec.leaderIndexUuid;
  return {
    ...(e?.kind === 'extractor' && !otherIncarnation ? { extractor: e } : {}),
    ...(a?.kind === 'applier' ? { applier: a } : {}),
    ...(b?.kind === 'bootstrap' && b.startedAt >= spec.createdAt ? { bootstrap: b } : {}),
  };
}

function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

export function shardView(
  leader: ExtractorShardStatus | undefined,
  follower: ApplierShardStatus | undefined,
  shard: number,
  now: number,
  remembered?: { readonly appliedCheckpoint: number; readonly appliedObservedAt: number },
  stale = false,
): ShardView {
  const leaderCp = leader?.globalCheckpoint ?? null;
  const held =
    follower && follower.appliedObservedAt !== null
      ? { appliedCheckpoint: follower.appliedCheckpoint, appliedObservedAt: follower.appliedObservedAt }
      : remembered;
  const applied = held?.appliedCheckpoint ?? null;
  let lagOps: number | null = null;
  let lagSeconds: number | null = null;
  if (stale) {
    // Reports are missing: the leader may have moved on unseen. The follower is known current only as of the leader
    // state it last applied, and that age keeps growing.
    lagOps = null;
    lagSeconds = held ? Math.max(0, (now - held.appliedObservedAt) / 1000) : null;
  } else if (leaderCp !== null && held) {
    lagOps = Math.max(0, leaderCp - held.appliedCheckpoint);
    lagSeconds = held.appliedCheckpoint >= leaderCp ? 0 : Math.max(0, (now - held.appliedObservedAt) / 1000);
  } else if (leaderCp !== null && leaderCp < 0) {
    // An empty leader shard: nothing to be behind on.
    lagOps = 0;
  }
  return {
    shard,
    leader_checkpoint: leaderCp,
    leader_max_seq_no: leader?.maxSeqNo ?? null,
    follower_checkpoint: applied,
    lag_operations: lagOps,
    lag_seconds: lagSeconds === null ? null : Math.round(lagSeconds * 1000) / 1000,
    applied: follower?.applied ?? 0,
    skipped: follower?.skipped ?? 0,
    dead_lettered: follower?.deadLettered ?? 0,
    ...(follower?.reassemblingBytes ? { reassembling_bytes: follower.reassemblingBytes } : {}),
    ...(follower?.chunksDropped ? { chunks_dropped: follower.chunksDropped } : {}),
    ...(leader?.readFrom ? { leader_read_from: leader.readFrom } : {}),
    ...(leader?.primaryTerm ? { leader_primary_term: leader.primaryTerm } : {}),
    ...(leader?.failovers ? { leader_failovers: leader.failovers } : {}),
    offset: follower?.offset ?? null,
    high_watermark: follower?.highWatermark ?? null,
    last_applied_at: iso(follower?.lastAppliedAt),
  };
}

function maxOrNull(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === values.length && known.length > 0 ? Math.max(...known) : null;
}

/** The last checkpoint each shard had applied, as an earlier status row of the same applier told it. */
export type RememberedShards = ReadonlyMap<number, { readonly appliedCheckpoint: number; readonly appliedObservedAt: number }>;

/**
 * `remembered` covers the moment after a pause, resume or update, when the applier starts the index anew and
 * reports its shards only once the next checkpoint record arrives: the follower still holds what it had applied.
 */
export function replicationStatus(
  spec: ReplicationSpec,
  rows: { extractor?: ExtractorStatus; applier?: ApplierStatus; bootstrap?: BootstrapStatus },
  now: number,
  remembered?: RememberedShards,
): StatusView {
  const { extractor, applier } = rows;
  const extractorStale = staleSeconds(extractor, now);
  const applierStale = staleSeconds(applier, now);
  const live = spec.state === 'active';
  const stale = live && (extractorStale !== undefined || applierStale !== undefined);
  const numbers = new Set<number>([...(extractor?.shards ?? []).map((s) => s.shard), ...(applier?.shards ?? []).map((s) => s.shard)]);
  const shards = [...numbers]
    .sort((a, b) => a - b)
    .map((n) =>
      shardView(
        extractor?.shards.find((s) => s.shard === n),
        applier?.shards.find((s) => s.shard === n),
        n,
        now,
        remembered?.get(n),
        stale,
      ),
    );
  const retryingRow = (
    [
      ['extractor', extractor],
      ['applier', applier],
    ] as const
  ).find(([, r]) => r?.retrying !== undefined && (r.state === 'retrying' || r.state === 'failed'));

  let status: ReplicationStatusName;
  let reason: string | undefined;
  // A failure reported before the spec last changed belongs to an earlier start.
  const currentFailure = [extractor, applier].find((r) => r?.state === 'failed' && r.updatedAt >= spec.updatedAt);
  if (spec.state === 'stopped') {
    status = 'STOPPED';
    if (spec.reason) reason = spec.reason;
  } else if (spec.state === 'bootstrapping') {
    status = 'BOOTSTRAPPING';
    reason = rows.bootstrap ? `snapshot bootstrap: ${rows.bootstrap.phase}` : 'snapshot bootstrap starting';
  } else if (spec.state === 'paused') status = 'PAUSED';
  else if (currentFailure) {
    status = 'FAILED';
    reason = `${currentFailure.kind}: ${currentFailure.reason ?? 'failed'}`;
  } else if (stale) {
    status = 'STALE';
    reason = [
      extractorStale !== undefined ? `the extractor of ${spec.leaderCluster} has not reported for ${extractorStale} s` : undefined,
      applierStale !== undefined ? `the applier of ${spec.followerCluster} has not reported for ${applierStale} s` : undefined,
    ]
      .filter(Boolean)
      .join('; ');
  } else if (retryingRow && retryingRow[1]?.state === 'retrying') {
    status = 'RETRYING';
    reason = `${retryingRow[0]}: ${retryingRow[1].reason ?? retryingRow[1].retrying!.reason}`;
  } else if (shards.length === 0 || shards.some((s) => s.follower_checkpoint === null)) {
    status = 'BOOTSTRAPPING';
    reason = !extractor
      ? 'waiting for the extractor of the leader cluster to report'
      : !applier
        ? 'waiting for the applier of the follower cluster to report'
        : 'the follower has not caught up with a leader checkpoint yet';
  } else {
    status = 'SYNCING';
  }
  const rebuild = rebuildView(spec, applier);
  // A rebuilt index bootstraps from the topic until it has caught up and the alias has moved to it (rebuild.ts).
  if (rebuild && rebuild.alias_moved_at === null && (status === 'SYNCING' || status === 'BOOTSTRAPPING')) {
    status = 'BOOTSTRAPPING';
    reason = rebuildReason(rebuild);
  }
  const position = positionView(spec, applier);
  const retrying = [extractor?.reason, applier?.reason].find((r) => r !== undefined);
  if (reason === undefined && status !== 'STOPPED' && retrying) reason = retrying;

  const sum = (pick: (s: ShardView) => number | null) => shards.reduce((acc, s) => acc + Math.max(0, pick(s) ?? 0), 0);
  return {
    status,
    ...(reason !== undefined ? { reason } : {}),
    leader_alias: spec.leaderCluster,
    remote_cluster: spec.leaderCluster,
    leader_index: spec.leaderIndex,
    leader_index_uuid: spec.leaderIndexUuid ?? null,
    follower_cluster: spec.followerCluster,
    follower_index: spec.followerIndex,
    bootstrap: spec.bootstrap,
    ...(spec.partialSource ? { partial_source: { includes: [...spec.partialSource.includes], excludes: [...spec.partialSource.excludes] } } : {}),
    ...(spec.syntheticSource ? { synthetic_source: true } : {}),
    ...(spec.merge ? { merged: { into: spec.merge.into, id_template: spec.merge.idTemplate, origin_field: spec.merge.originField } } : {}),
    syncing_details: {
      leader_checkpoint: sum((s) => s.leader_checkpoint),
      follower_checkpoint: sum((s) => s.follower_checkpoint),
      seq_no: sum((s) => s.leader_max_seq_no),
    },
    lag_operations: shards.length
      ? shards.reduce<number | null>((acc, s) => (acc === null || s.lag_operations === null ? null : acc + s.lag_operations), 0)
      : null,
    lag_seconds: maxOrNull(shards.map((s) => s.lag_seconds)),
    shards,
    requested_by: spec.requestedBy,
    created_at: new Date(spec.createdAt).toISOString(),
    updated_at: new Date(spec.updatedAt).toISOString(),
    extractor_updated_at: iso(extractor?.updatedAt),
    applier_updated_at: iso(applier?.updatedAt),
    ...(retryingRow && !stale && spec.state === 'active'
      ? {
          retrying: {
            side: retryingRow[0],
            reason: retryingRow[1]!.retrying!.reason,
            since: new Date(retryingRow[1]!.retrying!.since).toISOString(),
            attempts: retryingRow[1]!.retrying!.attempts,
          },
        }
      : {}),
    restarts: { extractor: extractor?.restarts ?? 0, applier: applier?.restarts ?? 0 },
    ...(applier?.leftOut?.length ? { left_out: [...applier.leftOut] } : {}),
    ...(applier?.recentDeadLetters?.length ? { recent_dead_letters: applier.recentDeadLetters.map((d) => ({ ...d, at: new Date(d.at).toISOString() })) } : {}),
    ...(() => {
      const p = bootstrapProgress(rows, now);
      return p ? { bootstrap_progress: p } : {};
    })(),
    ...(position ? { position } : {}),
    ...(rebuild ? { rebuild } : {}),
    reconciliation: {
      passes: applier?.reconcile?.passes ?? 0,
      passes_abandoned: applier?.reconcile?.abandoned ?? 0,
      ranges_counted: applier?.reconcile?.rangesCounted ?? 0,
      ids_listed: applier?.reconcile?.idsSent ?? 0,
      ids_checked: extractor?.reconcile.idsChecked ?? 0,
      deletes_published: extractor?.reconcile.deletesPublished ?? 0,
      last_pass_ms: applier?.reconcile?.lastPassMs ?? null,
      last_pass_at: iso(applier?.reconcile?.lastPassAt),
    },
  };
}

/** GET .../follower_stats: the OpenSearch plugin's counters for one follower cluster, from kccr's status rows. */
export function followerStats(specs: readonly ReplicationSpec[], viewOf: (spec: ReplicationSpec) => StatusView, followerCluster: string) {
  const counts = { BOOTSTRAPPING: 0, SYNCING: 0, RETRYING: 0, STALE: 0, PAUSED: 0, FAILED: 0, STOPPED: 0 };
  const indexStats: Record<string, ReturnType<typeof indexFollowerStats>> = {};
  let shardTasks = 0;
  for (const spec of specs) {
    if (spec.followerCluster !== followerCluster || spec.state === 'stopped') continue;
    const view = viewOf(spec);
    counts[view.status]++;
    if (view.status !== 'PAUSED') shardTasks += view.shards.length;
    indexStats[spec.followerIndex] = indexFollowerStats(view);
  }
  const all = Object.values(indexStats);
  const total = (k: keyof ReturnType<typeof indexFollowerStats>) => all.reduce((acc, s) => acc + (typeof s[k] === 'number' ? (s[k] as number) : 0), 0);
  return {
    follower_cluster: followerCluster,
    num_syncing_indices: counts.SYNCING,
    num_bootstrapping_indices: counts.BOOTSTRAPPING,
    num_paused_indices: counts.PAUSED,
    num_failed_indices: counts.FAILED,
    num_retrying_indices: counts.RETRYING,
    num_stale_indices: counts.STALE,
    num_shard_tasks: shardTasks,
    num_index_tasks: counts.SYNCING + counts.BOOTSTRAPPING + counts.RETRYING + counts.STALE,
    operations_written: total('operations_written'),
    operations_read: total('operations_read'),
    operations_skipped: total('operations_skipped'),
    operations_dead_lettered: total('operations_dead_lettered'),
    failed_write_requests: total('failed_write_requests'),
    follower_checkpoint: total('follower_checkpoint'),
    leader_checkpoint: total('leader_checkpoint'),
    index_stats: indexStats,
  };
}

function indexFollowerStats(view: StatusView) {
  const written = view.shards.reduce((acc, s) => acc + s.applied, 0);
  const skipped = view.shards.reduce((acc, s) => acc + s.skipped, 0);
  const dead = view.shards.reduce((acc, s) => acc + s.dead_lettered, 0);
  return {
    status: view.status,
    leader_alias: view.leader_alias,
    leader_index: view.leader_index,
    operations_written: written,
    operations_read: written + skipped + dead,
    operations_skipped: skipped,
    operations_dead_lettered: dead,
    failed_write_requests: dead,
    follower_checkpoint: view.syncing_details.follower_checkpoint,
    leader_checkpoint: view.syncing_details.leader_checkpoint,
    lag_operations: view.lag_operations,
    lag_seconds: view.lag_seconds,
  };
}

/** GET .../leader_stats: per replicated leader index (as `<leader cluster>:<index>`), what its extractor reports. */
export function leaderStats(specs: readonly ReplicationSpec[], get: (key: string) => StatusRow | undefined) {
  const indexStats: Record<
    string,
    {
      leader_cluster: string;
      leader_index: string;
      state: string;
      reason?: string;
      operations_read: number;
      leader_checkpoint: number;
      leader_max_seq_no: number;
      docs: number;
      shards: number;
      deletes_reconciled: number;
    }
  > = {};
  for (const spec of specs) {
    if (spec.state === 'stopped') continue;
    const key = `${spec.leaderCluster}:${spec.leaderIndex}`;
    if (indexStats[key]) continue;
    const e = get(extractorStatusKey(spec.leaderCluster, spec.leaderIndex));
    const ex = e?.kind === 'extractor' ? e : undefined;
    const shards = ex?.shards ?? [];
    indexStats[key] = {
      leader_cluster: spec.leaderCluster,
      leader_index: spec.leaderIndex,
      state: ex?.state ?? 'unknown',
      ...(ex?.reason ? { reason: ex.reason } : {}),
      operations_read: shards.reduce((acc, s) => acc + s.published, 0),
      leader_checkpoint: shards.reduce((acc, s) => acc + Math.max(0, s.globalCheckpoint), 0),
      leader_max_seq_no: shards.reduce((acc, s) => acc + Math.max(0, s.maxSeqNo), 0),
      docs: shards.reduce((acc, s) => acc + s.docs, 0),
      shards: shards.length,
      deletes_reconciled: ex?.reconcile.deletesPublished ?? 0,
    };
  }
  const all = Object.values(indexStats);
  return {
    num_replicated_indices: all.length,
    operations_read: all.reduce((acc, s) => acc + s.operations_read, 0),
    index_stats: indexStats,
  };
}
