/**
 * What should be replicated (written by the control service, read by extractors and appliers) and what each
 * side reports back. Both travel as rows of compacted control topics (table.ts).
 */
export type ReplicationState = 'active' | 'paused' | 'stopped';
export type BootstrapMode = 'snapshot' | 'scan' | 'none';

export interface ReplicationSpec {
  readonly followerCluster: string;
  readonly followerIndex: string;
  readonly leaderCluster: string;
  readonly leaderIndex: string;
  readonly state: ReplicationState;
  readonly bootstrap: BootstrapMode;
  /** Settings the follower index gets on top of the leader's (number_of_replicas, say). */
  readonly followerSettings?: Record<string, unknown>;
  readonly requestedBy: string;
  readonly createdAt: number;
  readonly updatedAt: number;
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
}

export interface ExtractorStatus {
  readonly kind: 'extractor';
  readonly leaderCluster: string;
  readonly leaderIndex: string;
  readonly topic: string;
  readonly state: 'running' | 'failed';
  readonly reason?: string;
  readonly indexUuid?: string;
  readonly shards: readonly ExtractorShardStatus[];
  readonly reconcile: { readonly requests: number; readonly idsChecked: number; readonly deletesPublished: number; readonly lastMs: number | null };
  /** Refreshes of the leader index that kccr forced (the cost of the visibility strategy). */
  readonly forcedRefreshes?: number;
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
  readonly lastAppliedAt: number | null;
}

export interface ApplierStatus {
  readonly kind: 'applier';
  readonly followerCluster: string;
  readonly followerIndex: string;
  readonly topic: string;
  readonly state: 'syncing' | 'paused' | 'stopped' | 'failed';
  readonly reason?: string;
  readonly shards: readonly ApplierShardStatus[];
  /** Delete reconciliation passes of this follower index: how many, ids sent, and the last pass's duration. */
  readonly reconcile?: { readonly passes: number; readonly idsSent: number; readonly lastPassMs: number | null; readonly lastPassAt: number | null };
  readonly updatedAt: number;
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
  readonly ids: readonly { readonly id: string; readonly routing: string | null }[];
  readonly requestedAt: number;
}

export const RECONCILE_TOPIC = 'kccr._reconcile';
