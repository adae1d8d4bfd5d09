import { KccrError } from './errors.js';
import type { MergeSpec } from './merge.js';
import type { RetryingView } from './retry.js';

/**
 * What should be replicated (written by the control service, read by extractors and appliers) and what each
 * side reports back. Both travel as rows of compacted control topics (table.ts).
 */
/**
 * bootstrapping: a snapshot of the leader index is being restored on the follower; the extractor already publishes
 * changes after the snapshot's checkpoints, the applier waits. active / paused / stopped as the words say.
 */
export type ReplicationState = 'bootstrapping' | 'active' | 'paused' | 'stopped';
export type BootstrapMode = 'snapshot' | 'scan' | 'none';

export interface ReplicationSpec {
  readonly followerCluster: string;
  readonly followerIndex: string;
  readonly leaderCluster: string;
  readonly leaderIndex: string;
  /**
   * The incarnation of the leader index this replication follows (its UUID when started). A leader index deleted
   * and created again under the same name is another incarnation: its records share the topic with the earlier
   * one's until compaction, and the applier applies only this one's. Absent on specs written before it existed.
   */
  readonly leaderIndexUuid?: string;
  readonly state: ReplicationState;
  readonly bootstrap: BootstrapMode;
  /** Settings the follower index gets on top of the leader's (number_of_replicas, say). */
  readonly followerSettings?: Record<string, unknown>;
  /**
   * Set when the leader index keeps only part of _source (includes/excludes) and the start accepted it
   * (accept_partial_source): the follower holds what the leader's _source keeps, not all the leader indexed.
   */
  readonly partialSource?: PartialSource;
  /** Set when the leader index has synthetic _source: the follower holds the documents as the leader rebuilds them. */
  readonly syntheticSource?: boolean;
  readonly requestedBy: string;
  readonly createdAt: number;
  readonly updatedAt: number;
  /**
   * Where the extractor starts when it has no cursor for the leader index yet: the leader's checkpoints read before
   * a snapshot bootstrap (the snapshot holds everything up to them), or at start for bootstrap `none`.
   * Absent for `scan`: everything from the first operation.
   */
  readonly bootstrapCheckpoints?: BootstrapCheckpoints;
  /** Why the replication stopped when kccr stopped it (a failed bootstrap, say). */
  readonly reason?: string;
  /** The latest request to move the applier's position in the topic (POST .../_offsets, or a rebuild). */
  readonly position?: PositionRequest;
  /** Set on a replication created by a rebuild: where it came from and how far the alias move is. */
  readonly rebuild?: RebuildInfo;
  /** Set on a replication a rebuild replaced (stopped): the follower index that replaced it. */
  readonly rebuiltInto?: string;
  /**
   * Set on one source of a merged index (docs/design/fan-in.md): the documents go into `merge.into` with namespaced
   * ids and the provenance field; `followerIndex` is then the source's name (`<into>@<leader cluster>@<leader index>`,
   * shared/merge.ts), which keys its status, ledger and lifecycle, never an index.
   */
  readonly merge?: MergeSpec;
}

/** The index a replication writes: the merged index for a source of one, else the follower index. */
export function targetIndex(spec: Pick<ReplicationSpec, 'followerIndex' | 'merge'>): string {
  return spec.merge?.into ?? spec.followerIndex;
}

/** The `_source` includes and excludes of a leader index that keeps only part of its documents' source. */
export interface PartialSource {
  readonly includes: readonly string[];
  readonly excludes: readonly string[];
}

/** Where the applier's position in the topic moves to: the start, the end, or the first record at or after a time (epoch ms). */
export type PositionTarget = 'earliest' | 'latest' | number;

export interface PositionRequest {
  /** Unique per request: the applier applies each one once and reports it in its status row. */
  readonly requestId: string;
  readonly to: PositionTarget;
  readonly requestedAt: number;
  readonly requestedBy: string;
}

export interface RebuildInfo {
  /** The follower index this one replaces (left as it was, no longer followed). */
  readonly from: string;
  /** The alias moved from `from` to this index once it has caught up. */
  readonly alias: string;
  readonly startedAt: number;
  /** The leader's global checkpoint per shard when the rebuild started: caught up means at least these applied. */
  readonly leaderCheckpoints: readonly { readonly shard: number; readonly globalCheckpoint: number }[];
  readonly caughtUpAt?: number;
  readonly aliasMovedAt?: number;
}

/** The applier's consumer group: one per follower cluster. */
export function applierGroupId(followerCluster: string): string {
  return `kccr-applier-${followerCluster}`;
}

export interface BootstrapCheckpoints {
  readonly indexUuid: string;
  readonly shards: readonly { readonly shard: number; readonly historyUuid: string; readonly globalCheckpoint: number }[];
  /** The snapshot holding everything up to the checkpoints (bootstrap `snapshot`). */
  readonly snapshot?: { readonly repository: string; readonly name: string };
  readonly readAt: number;
}

/** Snapshot bootstrap progress, written by the control service (status key `bootstrap/<cluster>/<index>`). */
export interface BootstrapStatus {
  readonly kind: 'bootstrap';
  readonly followerCluster: string;
  readonly followerIndex: string;
  readonly mode: 'snapshot';
  readonly phase: 'snapshot' | 'restore' | 'done' | 'failed';
  readonly snapshot: string;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly startedAt: number;
  readonly finishedAt?: number;
  readonly reason?: string;
  readonly updatedAt: number;
}

export function bootstrapStatusKey(followerCluster: string, followerIndex: string): string {
  return `bootstrap/${followerCluster}/${followerIndex}`;
}

export function replicationKey(followerCluster: string, followerIndex: string): string {
  return `${followerCluster}/${followerIndex}`;
}

/** Cluster names become parts of topic names and keys: kept to a safe alphabet. */
export const CLUSTER_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export interface ExtractorCursor {
  readonly indexUuid: string;
  readonly historyUuid: string;
  /** Every operation up to this _seq_no has been published. */
  readonly cursor: number;
  readonly updatedAt: number;
  /**
   * The shard started from a bootstrap checkpoint (snapshot or none): the topic lacks its documents whose _seq_no is
   * at or below this, until a replication that needs them (scan) has them published. Absent: the topic has them all.
   */
  readonly historyFrom?: number;
}

export function cursorKey(leaderCluster: string, leaderIndex: string, shard: number): string {
  return `${leaderCluster}/${leaderIndex}/${shard}`;
}

export interface ExtractorShardStatus {
  readonly shard: number;
  readonly globalCheckpoint: number;
  readonly maxSeqNo: number;
  readonly cursor: number;
  readonly docs: number;
  readonly observedAt: number;
  readonly published: number;
  /** The primary's term at the last reading; a higher one means a replica was promoted (failover). */
  readonly primaryTerm?: number;
  /** The node (id) the last window was read from: the primary's, preferred for the search. */
  readonly readFrom?: string;
  /** Failovers seen, each followed by a read again of the recent changes (see docs/design/multi-node.md). */
  readonly failovers?: number;
}

export interface ExtractorStatus {
  readonly kind: 'extractor';
  readonly leaderCluster: string;
  readonly leaderIndex: string;
  readonly topic: string;
  /** running: extracting; retrying: a transient failure is being retried (see `retrying`); failed: see `reason`. */
  readonly state: 'running' | 'retrying' | 'failed';
  readonly reason?: string;
  readonly retrying?: RetryingView;
  /** Times the extraction of this index was started again after its loop ended unexpectedly. */
  readonly restarts?: number;
  /** How often this row is written: the control service shows STALE once it is 3 intervals old. */
  readonly reportIntervalMs?: number;
  readonly indexUuid?: string;
  readonly shards: readonly ExtractorShardStatus[];
  /** Bytes of change envelopes encoded for Kafka, since the extractor started. */
  readonly bytesPublished?: number;
  /** Failed cycles, by error code (docs/reference/errors.md), since the extractor started. */
  readonly failures?: Readonly<Record<string, number>>;
  readonly reconcile: {
    readonly requests: number;
    readonly idsChecked: number;
    readonly counts?: number;
    readonly gets?: number;
    readonly deletesPublished: number;
    readonly lastMs: number | null;
  };
  /** Refreshes of the leader index that kccr forced (the cost of the visibility strategy). */
  readonly forcedRefreshes?: number;
  /** A scan bootstrap: documents up to the first checkpoints read, published as READ events. */
  readonly bootstrap?: {
    readonly mode: 'scan';
    readonly docs: number;
    readonly total: number;
    readonly bytes: number;
    readonly startedAt: number;
    readonly finishedAt: number | null;
  };
  readonly updatedAt: number;
}

export interface ApplierShardStatus {
  readonly shard: number;
  /** The leader's global checkpoint of the last checkpoint record applied: everything up to it is on the follower. */
  readonly appliedCheckpoint: number;
  /** When the leader was at appliedCheckpoint. */
  readonly appliedObservedAt: number | null;
  readonly offset: string;
  readonly highWatermark: string;
  readonly applied: number;
  readonly skipped: number;
  readonly deadLettered: number;
  /** Of `skipped`, the records of another incarnation of the leader index (deleted and created again). */
  readonly otherIncarnation?: number;
  /** Bytes of a chunked document held while its chunks arrive (absent when none). */
  readonly reassemblingBytes?: number;
  /** Chunks of sequences found cut (published again after a retry, or left by compaction) and dropped. */
  readonly chunksDropped?: number;
  readonly lastAppliedAt: number | null;
}

/** A dead letter as the status shows it: what was refused and why; the record itself is in the dead-letter topic. */
export interface RecentDeadLetter {
  readonly at: number;
  readonly id: string;
  readonly shard: number;
  readonly offset: string;
  /** decode, metadata, write, chunks, size. */
  readonly stage: string;
  readonly reason: string;
}

export interface ApplierStatus {
  readonly kind: 'applier';
  readonly followerCluster: string;
  readonly followerIndex: string;
  readonly topic: string;
  readonly state: 'syncing' | 'retrying' | 'paused' | 'stopped' | 'failed';
  readonly reason?: string;
  readonly retrying?: RetryingView;
  /** Times the applier's consumer had to be built anew after it stopped unexpectedly. */
  readonly restarts?: number;
  /** How often this row is written: the control service shows STALE once it is 3 intervals old. */
  readonly reportIntervalMs?: number;
  readonly shards: readonly ApplierShardStatus[];
  /** The latest dead letters of this follower index (at most 5, newest last), since the applier started. */
  readonly recentDeadLetters?: readonly RecentDeadLetter[];
  /** Settings and mapping parameters of the leader's index that the follower does not know, left out (translate.ts). */
  readonly leftOut?: readonly string[];
  /** Bytes of _bulk bodies the follower accepted, since the applier started. */
  readonly bytesWritten?: number;
  /** Failures retried (or probed again), by error code (docs/reference/errors.md), since the applier started. */
  readonly failures?: Readonly<Record<string, number>>;
  /** Delete reconciliation passes of this follower index: how many, ids sent, and the last pass's duration. */
  readonly reconcile?: {
    readonly passes: number;
    readonly abandoned?: number;
    readonly rangesCounted?: number;
    readonly idsSent: number;
    readonly lastPassMs: number | null;
    readonly lastPassAt: number | null;
  };
  /** The last position request applied (the spec's `position.requestId`) and the offsets it set, per partition. */
  readonly position?: AppliedPosition;
  readonly updatedAt: number;
}

export interface AppliedPosition {
  readonly requestId: string;
  readonly appliedAt: number;
  readonly offsets: readonly { readonly partition: number; readonly offset: string }[];
}

/**
 * How long a side may go without news before what it last said no longer counts as seen: 3 report intervals, at
 * least 3 s. The control service ages status rows by it (STALE); the services age their own unanswered requests
 * by it (RETRYING).
 */
export function silentAfterMs(reportIntervalMs: number): number {
  return Math.max(3 * reportIntervalMs, 3000);
}

export function extractorStatusKey(leaderCluster: string, leaderIndex: string): string {
  return `extractor/${leaderCluster}/${leaderIndex}`;
}

export function applierStatusKey(followerCluster: string, followerIndex: string): string {
  return `applier/${followerCluster}/${followerIndex}`;
}

/** A follower-side request to check which of these ids still exist on the leader (delete reconciliation). */
export interface ReconcileRequest {
  readonly leaderCluster: string;
  readonly leaderIndex: string;
  readonly shard: number;
  readonly passId: string;
  /** Ids the follower holds: those the leader no longer has get a DELETE. */
  readonly ids?: readonly { readonly id: string; readonly routing: string | null }[];
  /** Leader _seq_no ranges (inclusive) to count: the answer is a CHECKPOINT carrying the counts. */
  readonly ranges?: readonly { readonly from: number; readonly to: number }[];
  readonly requestedAt: number;
}

/** Ranges and ids one request may carry, at most. */
export const MAX_RECONCILE_RANGES = 256;
export const MAX_RECONCILE_IDS = 10_000;

/**
 * Reads a reconciliation request from the request topic, checking every field (anyone able to write the topic can
 * put a record there): a request that is not well formed is refused with the reason, never acted on.
 */
export function parseReconcileRequest(value: Buffer): ReconcileRequest {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new KccrError('BAD_REQUEST', 'reconcile request is not JSON');
  }
  const problems: string[] = [];
  const str = (k: string) => typeof r[k] === 'string' && (r[k] as string).length > 0 && (r[k] as string).length <= 512;
  for (const k of ['leaderCluster', 'leaderIndex', 'passId']) if (!str(k)) problems.push(`${k} must be a non-empty string`);
  if (!Number.isSafeInteger(r.shard) || (r.shard as number) < 0) problems.push('shard must be a non-negative integer');
  if (typeof r.requestedAt !== 'number') problems.push('requestedAt must be a number');
  const { ids, ranges } = r;
  if ((ids === undefined) === (ranges === undefined)) problems.push('exactly one of ids and ranges is needed');
  if (ids !== undefined) {
    const ok =
      Array.isArray(ids) &&
      ids.length <= MAX_RECONCILE_IDS &&
      ids.every((d: { id?: unknown; routing?: unknown }) => typeof d?.id === 'string' && (d.routing === null || typeof d.routing === 'string'));
    if (!ok) problems.push(`ids must be at most ${MAX_RECONCILE_IDS} of {id, routing}`);
  }
  if (ranges !== undefined) {
    const ok =
      Array.isArray(ranges) &&
      ranges.length <= MAX_RECONCILE_RANGES &&
      ranges.every(
        (x: { from?: unknown; to?: unknown }) =>
          Number.isSafeInteger(x?.from) && Number.isSafeInteger(x?.to) && (x.from as number) >= 0 && (x.from as number) <= (x.to as number),
      );
    if (!ok) problems.push(`ranges must be at most ${MAX_RECONCILE_RANGES} of {from, to}, 0 <= from <= to`);
  }
  if (problems.length) throw new KccrError('BAD_REQUEST', `reconcile request refused: ${problems.join('; ')}`);
  return r as unknown as ReconcileRequest;
}

export const RECONCILE_TOPIC = 'kccr._reconcile';
/** How the reconcile topic is created (both sides create it when missing): requests are kept a day. */
export const RECONCILE_TOPIC_CONFIGS: Readonly<Record<string, string>> = { 'retention.ms': String(24 * 3600 * 1000) };

/** The consumer group through which a leader cluster's extractor reads reconciliation requests. */
export function reconcileGroup(leaderCluster: string): string {
  return `kccr-extractor-${leaderCluster}`;
}
