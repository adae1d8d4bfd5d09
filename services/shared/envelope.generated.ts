// Generated from schemas/change-envelope.avsc by `npm run gen`. Do not edit.

/** INDEX: the document as it is now on the leader. DELETE: the document is gone. READ: the document as read by a bootstrap scan (applied like INDEX). CHECKPOINT: no document; how far the leader shard is. METADATA: the leader index's settings, mappings and aliases as JSON in source; published to every partition before any document that needs them. */
export type Operation = 'INDEX' | 'DELETE' | 'READ' | 'CHECKPOINT' | 'METADATA';
export const OperationSymbols = ['INDEX', 'DELETE', 'READ', 'CHECKPOINT', 'METADATA'] as const;

export interface Origin {
  /** The leader cluster's name as registered with kccr. */
  readonly cluster: string;
  /** The leader index name. */
  readonly index: string;
  /** The leader index UUID; a new one means a new index under the same name. */
  readonly indexUuid: string;
  /** The shard's history UUID; a new one means a new operation history (restore, recovery from store). */
  readonly historyUuid: string;
  /** The leader shard number, equal to the topic partition. */
  readonly shard: number;
  /** The document's _seq_no on the leader (for CHECKPOINT: the global checkpoint). */
  readonly seqNo: number;
  /** The document's _primary_term on the leader (0 when unknown). */
  readonly primaryTerm: number;
  /** When the extractor read it. */
  readonly readAt: number;
}

export interface SeqRangeCount {
  /** First _seq_no of the range. */
  readonly from: number;
  /** Last _seq_no of the range (inclusive). */
  readonly to: number;
  /** Live documents of the leader shard whose _seq_no is in the range. */
  readonly count: number;
}

export interface RangeCounts {
  /** The reconciliation pass that asked. */
  readonly passId: string;
  readonly ranges: readonly (SeqRangeCount)[];
}

export interface Checkpoint {
  /** Every operation up to this _seq_no has been published before this record. */
  readonly globalCheckpoint: number;
  /** The highest _seq_no the leader shard has assigned when this was read. */
  readonly maxSeqNo: number;
  /** When the leader's checkpoint was read. */
  readonly observedAt: number;
  /** The leader shard's document count at globalCheckpoint, when known. */
  readonly docCount: null | number;
  /** The leader primary's count of delete operations (since its last start), when known: a change asks the follower side to reconcile deletes. */
  readonly deleteTotal: null | number;
  /** Set on a CHECKPOINT that answers a delete reconciliation's request: the leader shard's live documents per _seq_no range, counted after everything up to globalCheckpoint was published (all ranges are at or below it). The follower side counts the documents it holds in the same ranges when it reaches this record; where it holds more, documents were deleted. */
  readonly counts: null | RangeCounts;
}

/** One change to one document of a leader index shard, a checkpoint of that shard, or the index's metadata. Keyed by the document _id; checkpoints use the empty string and metadata a 513-character key, neither of which Elasticsearch accepts as an _id, so compaction keeps the latest of each. Registered under <topic>-value with BACKWARD compatibility: new fields need defaults. */
export interface ChangeEnvelope {
  readonly op: Operation;
  /** The document _id; for CHECKPOINT and METADATA the reserved keys (see the record's doc). */
  readonly id: string;
  /** The document _routing, when it has one. */
  readonly routing: null | string;
  /** The leader's _source as UTF-8 JSON bytes, unchanged; for METADATA the index metadata as JSON; null for DELETE and CHECKPOINT. */
  readonly source: null | Buffer;
  /** The external version the follower writes: _seq_no + 1 for INDEX and READ, the reconciliation's global checkpoint + 1 for DELETE. */
  readonly version: number;
  /** Where the event came from. */
  readonly origin: Origin;
  /** Set on CHECKPOINT events only. */
  readonly checkpoint: null | Checkpoint;
}
