/**
 * Which records of a topic a replication applies: pure rules over a record's origin and the replication's spec, so
 * that they are tested without a consumer or a cluster (IndexApplier keeps the state they read).
 */
import type { BootstrapCheckpoints } from '../shared/replication.js';

interface OriginOf {
  readonly indexUuid: string;
  readonly historyUuid: string;
  readonly shard: number;
  readonly seqNo: number;
}

/**
 * Whether a record belongs to the leader index incarnation this replication follows: the one its spec was bound to
 * at the start (`bound`); for a spec without one (written before binding existed), the incarnation last seen in
 * the partition's METADATA (`current`), any while none was seen.
 */
export function ofIncarnation(origin: Pick<OriginOf, 'indexUuid'>, bound: string | undefined, current: string | undefined): boolean {
  if (bound !== undefined) return origin.indexUuid === bound;
  return current === undefined || origin.indexUuid === current;
}

/**
 * A change the bootstrap already gave the follower (snapshot) or left out on purpose (none): at or below the
 * checkpoint read at the start, in the same index and shard history. A topic an earlier replication filled holds
 * such records; they are read, not written again.
 */
export function coveredByBootstrap(origin: OriginOf, checkpoints: BootstrapCheckpoints | undefined): boolean {
  if (!checkpoints || origin.indexUuid !== checkpoints.indexUuid) return false;
  const s = checkpoints.shards.find((x) => x.shard === origin.shard);
  return s !== undefined && s.historyUuid === origin.historyUuid && origin.seqNo <= s.globalCheckpoint;
}
