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

/** What a partition remembers between checkpoints to know when the leader shard's deletes call for a pass. */
export interface DeleteWatch {
  /** The leader shard's delete count at the last checkpoint read (null before any). */
  readonly lastDeleteTotal: number | null;
  /** A pass is owed, asked for once the partition is caught up. */
  readonly due: boolean;
  /** A pass is owed once a checkpoint reaches this _seq_no (the deletes counted are visible to search by then). */
  readonly after: number | null;
}

export const NO_DELETES_SEEN: DeleteWatch = { lastDeleteTotal: null, due: false, after: null };

/**
 * The reconcile trigger, at each CHECKPOINT of a partition: the leader shard's delete count moved (or, at the first
 * checkpoint, is above zero: any delete it ever had may be missing here), so a pass is owed; the leader checks with
 * searches, so the pass waits until a checkpoint covers the reading's max _seq_no (the extractor makes everything up
 * to a checkpoint visible before publishing it); and it is asked for only once the partition is caught up (DELETEs
 * of an earlier pass may still wait in the backlog, and a pass now would ask for them again).
 */
export function onCheckpointDeletes(
  watch: DeleteWatch,
  cp: { readonly globalCheckpoint: number; readonly maxSeqNo: number; readonly deleteTotal: number | null },
  caughtUp: boolean,
): { readonly watch: DeleteWatch; readonly request: boolean } {
  let due = watch.due;
  let after = watch.after;
  let lastDeleteTotal = watch.lastDeleteTotal;
  if (after !== null && cp.globalCheckpoint >= after) {
    due = true;
    after = null;
  }
  if (cp.deleteTotal !== null && cp.deleteTotal !== lastDeleteTotal) {
    if (lastDeleteTotal !== null || cp.deleteTotal > 0) {
      const cover = Math.max(cp.maxSeqNo, cp.globalCheckpoint);
      if (cp.globalCheckpoint >= cover) due = true;
      else after = Math.max(after ?? -1, cover);
    }
    lastDeleteTotal = cp.deleteTotal;
  }
  const request = due && caughtUp;
  return { watch: { lastDeleteTotal, due: request ? false : due, after }, request };
}
