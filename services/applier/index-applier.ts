/**
 * Applies one topic to one follower index, a batch of one partition at a time, in offset order.
 * Offsets are committed only after the writes they stand for were checked item by item.
 */
import type { BulkItemResult, ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import type { BatchControl, ConsumedBatch, ConsumedMessage, KafkaProducer } from '../shared/adapters/kafka.js';
import type { SchemaRegistryAdapter } from '../shared/adapters/registry.js';
import { ChunkAssembler, chunkInfo } from '../shared/chunks.js';
import type { ChunkInfo } from '../shared/chunks.js';
import { systemClock } from '../shared/clock.js';
import type { Clock } from '../shared/clock.js';
import { readMetadata, validateEnvelope } from '../shared/envelope.js';
import type { ChangeEnvelope, IndexMetadata } from '../shared/envelope.js';
import { errorMessage, failureKind, KccrError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { ApplierShardStatus, ApplierStatus, RecentDeadLetter, ReplicationSpec } from '../shared/replication.js';
import { silentAfterMs, targetIndex } from '../shared/replication.js';
import { sourceWriter } from '../shared/merge.js';
import { backoffDelay, RetryTracker, TRANSIENT_BACKOFF } from '../shared/retry.js';
import type { RetryingView } from '../shared/retry.js';
import type { CompactedTable } from '../shared/table.js';
import { deadLetterTopic } from '../shared/topics.js';
import { bulkParts, classify, fitsBulk, refusal } from './bulk.js';
import type { PendingWrite } from './bulk.js';
import type { ApplierConfig } from './config.js';
import { applyMergedMetadata, applyMetadata, ensureFollowerIndex, leftOutList, mergedIndexMetadata } from './follower-index.js';
import type { LeftOut } from './translate.js';
import type { FollowerIndexCluster } from './follower-index.js';
import { entryOf } from './ledger.js';
import type { Ledger } from './ledger.js';
import type { Reconciler } from './reconciler.js';
import type { SeqRange } from './bisect.js';
import { coveredByBootstrap, NO_DELETES_SEEN, ofIncarnation, onCheckpointDeletes } from './rules.js';
import type { DeleteWatch } from './rules.js';

/** The follower cluster: _bulk, a PUT of one document, and the follower index created and kept like the leader's (follower-index.ts). */
export type FollowerWriter = Pick<ElasticsearchAdapter, 'bulk' | 'request'> & FollowerIndexCluster;

/** Records' values into envelopes (the schema registry's wire format). */
export type EnvelopeDecoder = Pick<SchemaRegistryAdapter, 'decode'>;

/** Where what is not applied goes, with why (the follower cluster's dead-letter topic). */
export type DeadLetterSink = Pick<KafkaProducer, 'send'>;

/** The leader index's metadata as the extractor last published it, by topic. */
export type MetadataReader = Pick<CompactedTable<IndexMetadata>, 'get'>;

/** The follower index's ledger: made ready before the first write, written before the documents. */
export type ApplierLedger = Pick<Ledger, 'index' | 'ensure' | 'write'>;

/** The follower index's delete reconciliation, fed by the partitions' checkpoints. */
export type ApplierReconciler = Pick<Reconciler, 'follow' | 'request' | 'onLeaderCounts' | 'stats'>;

/** The settings an IndexApplier reads. */
export type IndexApplierConfig = Pick<
  ApplierConfig,
  | 'followerCluster'
  | 'batchSize'
  | 'maxBulkBytes'
  | 'maxDocumentBytes'
  | 'maxReassemblyBytes'
  | 'maxMessageBytes'
  | 'gcDeletes'
  | 'retryMaxMs'
  | 'failedProbeMs'
  | 'statusIntervalMs'
>;

/**
 * What an IndexApplier uses of the world, each port as narrow as its use; the service's adapters are them as they
 * are (ElasticsearchAdapter, SchemaRegistryAdapter, KafkaProducer, CompactedTable), as are its Ledger and Reconciler.
 */
export interface IndexApplierDeps {
  readonly config: IndexApplierConfig;
  readonly follower: FollowerWriter;
  readonly decoder: EnvelopeDecoder;
  readonly deadLetters: DeadLetterSink;
  readonly metadata: MetadataReader;
  readonly logger: Logger;
  /** The time of status rows, retries and requests in flight; the system's by default. */
  readonly clock?: Clock;
  /** Where each _bulk's duration goes (the service's /metrics histogram); none by default. */
  readonly meter?: ApplierMeter;
}

export interface ApplierMeter {
  bulk(followerIndex: string, seconds: number): void;
}

interface ShardState {
  appliedCheckpoint: number;
  appliedObservedAt: number | null;
  offset: string;
  highWatermark: string;
  applied: number;
  skipped: number;
  deadLettered: number;
  /** Records of another incarnation of the leader index, skipped. */
  otherIncarnation: number;
  lastAppliedAt: number | null;
  /** The leader shard's deletes as the checkpoints report them, and the pass they call for (rules.ts). */
  deletes: DeleteWatch;
  /** The leader index UUID of the last METADATA record read in this partition. */
  indexUuid?: string;
  /** Chunks of a large envelope being put together (bounded by maxReassemblyBytes). */
  readonly chunks: ChunkAssembler;
}

/** A _bulk body above this many bytes is streamed from its parts rather than copied into one buffer. */
const STREAMED_BULK_BYTES = 4 * 1024 * 1024;

/** Dead letters the status keeps (the newest). */
const RECENT_DEAD_LETTERS = 5;

/** Room for a dead letter's envelope fields and headers beside the source. */
const DEAD_LETTER_ENVELOPE_BYTES = 64 * 1024;

export class IndexApplier {
  private readonly shards = new Map<number, ShardState>();
  /** Bytes of _bulk bodies the follower accepted, and failures retried by error code (status and /metrics). */
  private bytesWritten = 0;
  /** The latest dead letters (at most RECENT_DEAD_LETTERS), for the status. */
  private readonly recentDeadLetters: RecentDeadLetter[] = [];
  /** What of the leader's settings and mappings the follower did not know, left out (kept for later mapping updates). */
  private readonly leftOut: LeftOut[] = [];
  private readonly failures = new Map<string, number>();
  private indexReady = false;
  /** The follower index and its ledger being made ready (shared by the partitions that need them at once). */
  private preparing?: Promise<IndexMetadata | undefined>;
  private ledgerReady?: Promise<void>;
  /** Per partition, the failure it is backing off on (it is paused meanwhile). */
  private readonly retrying = new Map<number, RetryTracker>();
  /** Per partition, since when a request to the follower waits for its answer. */
  private readonly inFlight = new Map<number, number>();
  private credentialProblem?: string;
  private failedReason?: string;
  /** The reason of a failure being probed again (clearFailure), shown until a batch goes through. */
  private probing?: string;
  /** A merged source's ids and provenance (the spec's merge never changes for a replication). */
  private writer?: ReturnType<typeof sourceWriter>;
  private metadataProblem?: string;
  private readonly clock: Clock;

  constructor(
    private readonly deps: IndexApplierDeps,
    private specNow: ReplicationSpec,
    readonly topic: string,
    private readonly reconciler: ApplierReconciler,
    private readonly ledger: ApplierLedger,
  ) {
    this.clock = deps.clock ?? systemClock;
    reconciler.follow((shard) => this.reconcileSpan(shard));
  }

  /**
   * The leader _seq_no range a shard's documents on the follower come from: up to the checkpoint applied, from the
   * start of what the bootstrap gave (bootstrap `none` leaves out the documents at or below its checkpoint).
   */
  private reconcileSpan(shard: number): SeqRange | undefined {
    const s = this.shards.get(shard);
    if (!s || s.appliedCheckpoint < 0) return undefined;
    const cp = this.spec.bootstrap === 'none' ? this.spec.bootstrapCheckpoints?.shards.find((x) => x.shard === shard) : undefined;
    return { from: cp ? cp.globalCheckpoint + 1 : 0, to: s.appliedCheckpoint };
  }

  get spec(): ReplicationSpec {
    return this.specNow;
  }

  /** The same replication with a new state or settings; an operator's resume also clears a failure. */
  updateSpec(spec: ReplicationSpec): void {
    this.specNow = spec;
    this.failedReason = undefined;
    this.probing = undefined;
  }

  private get log() {
    return this.deps.logger.child({ followerIndex: this.spec.followerIndex, topic: this.topic });
  }

  private shard(partition: number): ShardState {
    let s = this.shards.get(partition);
    if (!s) {
      s = {
        appliedCheckpoint: -1,
        appliedObservedAt: null,
        offset: '0',
        highWatermark: '0',
        applied: 0,
        skipped: 0,
        deadLettered: 0,
        otherIncarnation: 0,
        lastAppliedAt: null,
        deletes: NO_DELETES_SEEN,
        chunks: new ChunkAssembler(this.deps.config.maxReassemblyBytes, this.deps.config.maxDocumentBytes),
      };
      this.shards.set(partition, s);
    }
    return s;
  }

  async handleBatch(batch: ConsumedBatch, control: BatchControl): Promise<void> {
    const shard = this.shard(batch.partition);
    shard.highWatermark = batch.highWatermark;
    let pending: PendingWrite[] = [];
    let pendingBytes = 0;
    // Every record at or below lastDone is done (written, skipped or dead-lettered). A record done without a write
    // while writes before it are pending counts only once they are done (`doneAfterPending`).
    let lastDone: string | undefined;
    let doneAfterPending: string | undefined;
    const done = (offset: string) => {
      if (pending.length === 0) lastDone = offset;
      else doneAfterPending = offset;
    };
    const flush = async () => {
      let refused: KccrError | undefined;
      if (pending.length > 0) {
        const r = await this.write(pending, batch.partition);
        if (r.done > 0) lastDone = pending[r.done - 1]!.offset;
        if (r.done === pending.length && doneAfterPending !== undefined && BigInt(doneAfterPending) > BigInt(lastDone!)) lastDone = doneAfterPending;
        refused = r.refused;
        pending = [];
        pendingBytes = 0;
        doneAfterPending = undefined;
      }
      if (lastDone !== undefined && String(BigInt(lastDone) + 1n) !== shard.offset) {
        await control.commit(String(BigInt(lastDone) + 1n));
        shard.offset = String(BigInt(lastDone) + 1n);
      }
      // What the follower refused for now is read again once the partition's backoff is over.
      if (refused) throw refused;
      shard.chunks.settled();
      await control.heartbeat();
      return true;
    };

    for (const m of batch.messages) {
      if (!control.isActive()) break;
      const whole = await this.assemble(m, batch.partition, shard);
      if (whole === 'held') {
        // The chunk is held in memory and the fetch moves past it; nothing before it may wait unwritten, since a
        // failure now is read again from the fetch position. The commit stays below the chunks until the value is whole.
        if (pending.length > 0 && !(await flush())) return;
        control.resolve(m.offset);
        continue;
      }
      const envelope = whole === 'done' ? undefined : await this.decode(whole, batch.partition);
      if (!envelope) {
        done(m.offset);
        continue;
      }
      // Records of another incarnation of the leader index (deleted and created again under the same name) share
      // the topic until compaction: they are not this replication's, and are skipped (counted), never applied.
      if (!this.ofThisIncarnation(envelope, shard)) {
        shard.skipped++;
        shard.otherIncarnation++;
        done(m.offset);
        continue;
      }
      if (envelope.op === 'METADATA' || envelope.op === 'CHECKPOINT') {
        if (!(await flush())) return;
        if (envelope.op === 'METADATA') {
          await this.waiting(batch.partition, () => this.applyMetadataOrDeadLetter(envelope, whole as ConsumedMessage, batch.partition));
        } else {
          await this.onCheckpoint(envelope, batch.partition, m, batch.highWatermark);
        }
        lastDone = m.offset;
        continue;
      }
      if (this.coveredByBootstrap(envelope)) {
        shard.skipped++;
        done(m.offset);
        continue;
      }
      const sourceBytes = envelope.source?.length ?? 0;
      if (sourceBytes > this.deps.config.maxDocumentBytes) {
        await this.deadLetterOversize(
          envelope.id,
          sourceBytes,
          { id: envelope.id, op: envelope.op, version: envelope.version, ...envelope.origin },
          batch.partition,
          m.offset,
          'document',
        );
        shard.deadLettered++;
        done(m.offset);
        continue;
      }
      // A _bulk request stays below maxBulkBytes: a large document goes in a request of its own.
      if (pending.length > 0 && pendingBytes + sourceBytes > this.deps.config.maxBulkBytes && !(await flush())) return;
      pending.push({ envelope, offset: m.offset });
      pendingBytes += sourceBytes + 200;
      if ((pending.length >= this.deps.config.batchSize || pendingBytes >= this.deps.config.maxBulkBytes) && !(await flush())) return;
    }
    await flush();
    this.succeeded(batch.partition);
  }

  /**
   * Puts chunked envelopes together (shared/chunks.ts): the record to decode (the whole value for a last chunk),
   * `held` for a chunk kept until its value is whole, `done` for a record with nothing to apply (a chunk left over,
   * or a document dead-lettered as too large before any of it was held).
   */
  private async assemble(m: ConsumedMessage, partition: number, shard: ShardState): Promise<ConsumedMessage | 'held' | 'done'> {
    let info: ChunkInfo | undefined;
    try {
      info = chunkInfo(m.headers);
    } catch (e) {
      shard.deadLettered++;
      await this.deadLetter(m.key?.toString() ?? '', m.value ?? Buffer.alloc(0), partition, m.offset, `cannot read the chunk: ${errorMessage(e)}`, 'decode');
      return 'done';
    }
    const a = shard.chunks.add(m.offset, info, m.value ?? Buffer.alloc(0));
    switch (a.kind) {
      case 'record':
        return m;
      case 'whole':
        return { ...m, value: a.value };
      case 'held':
        return 'held';
      case 'skip':
        return 'done';
      case 'too-large':
        shard.deadLettered++;
        await this.deadLetterOversize(
          a.info.origin?.id ?? m.key?.toString() ?? '',
          a.info.sourceBytes,
          a.info.origin,
          partition,
          m.offset,
          a.limit,
          a.info.totalBytes,
        );
        return 'done';
      case 'corrupt':
        shard.deadLettered++;
        await this.deadLetter(
          a.info.origin?.id ?? '',
          Buffer.from(JSON.stringify({ origin: a.info.origin ?? null, bytes: a.info.totalBytes })),
          partition,
          m.offset,
          `the chunks of this document do not make the value their digest names (${a.info.digest}); replay the partition to read them again`,
          'chunks',
        );
        return 'done';
    }
  }

  /**
   * A document not applied because of its size: the dead letter says which (id, origin), how large, and which
   * limit; the document itself stays in the topic, where a replay with a higher limit applies it.
   */
  private async deadLetterOversize(
    id: string,
    sourceBytes: number,
    origin: object | undefined,
    partition: number,
    offset: string,
    limit: 'reassembly' | 'document',
    recordBytes?: number,
  ): Promise<void> {
    const { maxDocumentBytes, maxReassemblyBytes } = this.deps.config;
    const reason =
      limit === 'document'
        ? `document ${id} has ${sourceBytes} bytes of _source, above the limit of ${maxDocumentBytes} (KCCR_MAX_DOCUMENT_BYTES); raise the limit and replay the topic to apply it`
        : `document ${id} takes ${recordBytes} bytes in the topic, above the ${maxReassemblyBytes} bytes an applier may hold per partition (KCCR_APPLIER_MAX_REASSEMBLY_BYTES); raise it and replay the topic to apply it`;
    const body = Buffer.from(JSON.stringify({ id, sourceBytes, ...(recordBytes !== undefined ? { recordBytes } : {}), origin: origin ?? null, limit }));
    await this.deadLetter(id, body, partition, offset, reason, 'size');
  }

  /** The incarnation rule (rules.ts), with the METADATA records of the partition telling the current one. */
  private ofThisIncarnation(e: ChangeEnvelope, shard: ShardState): boolean {
    if (this.spec.leaderIndexUuid === undefined && e.op === 'METADATA') shard.indexUuid = e.origin.indexUuid;
    return ofIncarnation(e.origin, this.spec.leaderIndexUuid, shard.indexUuid ?? this.deps.metadata.get(this.topic)?.indexUuid);
  }

  private coveredByBootstrap(e: ChangeEnvelope): boolean {
    return coveredByBootstrap(e.origin, this.spec.bootstrapCheckpoints);
  }

  private async decode(m: ConsumedMessage, partition: number): Promise<ChangeEnvelope | undefined> {
    if (!m.value) return undefined; // a tombstone: compaction's business, nothing to apply
    try {
      return validateEnvelope(await this.deps.decoder.decode(m.value));
    } catch (e) {
      // The registry down, or not knowing the schema id (yet): the partition waits; only a record no registry can
      // decode is dead-lettered.
      if (failureKind(e) !== 'permanent') throw e;
      await this.deadLetter(m.key?.toString() ?? '', m.value, partition, m.offset, `cannot decode: ${errorMessage(e)}`, 'decode');
      return undefined;
    }
  }

  private async onCheckpoint(e: ChangeEnvelope, partition: number, m: ConsumedMessage, highWatermark: string): Promise<void> {
    const cp = e.checkpoint!;
    const shard = this.shard(partition);
    // The leader's counts for a reconciliation pass: everything before them is written (flushed), nothing after.
    if (cp.counts) {
      await this.waiting(partition, async () => {
        await this.ensureIndex();
        await this.reconciler.onLeaderCounts(partition, cp.counts!);
      });
    }
    // Everything before this record in the partition is applied: the follower has the leader up to G.
    shard.appliedCheckpoint = cp.globalCheckpoint;
    shard.appliedObservedAt = cp.observedAt;
    // The reconcile trigger (rules.ts): the leader's delete count moved, covered by a checkpoint, caught up.
    const trigger = onCheckpointDeletes(shard.deletes, cp, BigInt(m.offset) + 1n >= BigInt(highWatermark));
    shard.deletes = trigger.watch;
    if (trigger.request) this.reconciler.request(partition, 'the leader shard had deletes');
  }

  /**
   * Records a failure of one partition that a wait can fix and returns how long the partition pauses before it is
   * read again. Nothing is buffered meanwhile and the other partitions go on. Transient failures (the follower,
   * Kafka or the registry down, hung, refusing for now) back off exponentially up to `retryMaxMs`, forever (status
   * RETRYING); refused credentials are probed again every `failedProbeMs` (status FAILED with the reason, cleared by
   * the first success).
   */
  retryDelay(partition: number, e: unknown): number {
    const tracker = this.retrying.get(partition) ?? new RetryTracker();
    this.retrying.set(partition, tracker);
    const attempt = tracker.failed(e, this.clock.now());
    const code = e instanceof KccrError ? e.code : 'INTERNAL';
    this.failures.set(code, (this.failures.get(code) ?? 0) + 1);
    if (failureKind(e) === 'credentials') {
      this.credentialProblem = errorMessage(e);
      return this.deps.config.failedProbeMs;
    }
    return backoffDelay(attempt, TRANSIENT_BACKOFF.initialMs, this.deps.config.retryMaxMs);
  }

  /** A batch of this partition went through: whatever it was retrying is over. */
  private succeeded(partition: number): void {
    this.probing = undefined;
    const tracker = this.retrying.get(partition);
    if (!tracker) return;
    this.log.info({ partition, after: tracker.attempts }, 'replication of this partition resumed');
    this.retrying.delete(partition);
    if (this.retrying.size === 0) this.credentialProblem = undefined;
  }

  /** Runs one request to the follower, noting per partition since when it waits for the answer. */
  private async waiting<T>(partition: number, fn: () => Promise<T>): Promise<T> {
    this.inFlight.set(partition, this.clock.now());
    try {
      return await fn();
    } finally {
      this.inFlight.delete(partition);
    }
  }

  /**
   * The longest-running retry of this index's partitions, if any; else a request to the follower unanswered for 3
   * report intervals (at least 3 s): a hung follower shows as RETRYING while the request's timeout runs, not as
   * the last good state.
   */
  private retryingView(now = this.clock.now()): RetryingView | undefined {
    const retrying = [...this.retrying.values()]
      .map((t) => t.view())
      .filter((v): v is RetryingView => v !== undefined)
      .sort((a, b) => a.since - b.since)[0];
    if (retrying) return retrying;
    const since = Math.min(...this.inFlight.values());
    if (!Number.isFinite(since) || now - since <= silentAfterMs(this.deps.config.statusIntervalMs)) return undefined;
    return { reason: `no answer from the follower for ${Math.round((now - since) / 1000)} s`, since, attempts: 0 };
  }

  /**
   * The follower index and its ledger, once, whichever partition gets there first (the others wait for the same
   * work: a ledger decided while another partition is still creating the index would be built from it). Returns the
   * metadata the index was created with, when this call created it.
   */
  private async ensureIndex(meta?: IndexMetadata): Promise<IndexMetadata | undefined> {
    if (this.indexReady) return undefined;
    this.preparing ??= this.prepareIndex(meta).finally(() => (this.preparing = undefined));
    return this.preparing;
  }

  private async prepareIndex(given: IndexMetadata | undefined): Promise<IndexMetadata | undefined> {
    const meta = given ?? this.deps.metadata.get(this.topic);
    if (!meta) throw new KccrError('ES_UNAVAILABLE', `waiting for the leader's metadata of ${this.spec.leaderIndex} (the extractor publishes it)`);
    const merge = this.spec.merge;
    const created = await ensureFollowerIndex(
      this.deps.follower,
      targetIndex(this.spec),
      merge ? mergedIndexMetadata(meta, merge) : meta,
      this.spec.followerSettings,
      this.deps.config.gcDeletes,
      this.leftOut,
    );
    if (created) this.log.info({ index: targetIndex(this.spec) }, 'created the follower index');
    // A merged index another source created takes this source's mappings too (checked for conflicts) before any write.
    else if (merge) await applyMergedMetadata(this.deps.follower, merge, `${this.spec.leaderCluster}:${this.spec.leaderIndex}`, meta);
    await this.prepareLedger(created);
    this.indexReady = true;
    return created ? meta : undefined;
  }

  /** The ledger, before the first write: new with a new follower index, else built once from its documents. */
  private async prepareLedger(followerCreated: boolean): Promise<void> {
    this.ledgerReady ??= (async () => {
      const cp = this.spec.bootstrap === 'snapshot' ? this.spec.bootstrapCheckpoints : undefined;
      // A source of a merged index starts with an empty ledger when it has none: the documents in the index are other
      // sources' (its own earlier ones, after a stop and a start again, are not listed: docs/design/fan-in.md).
      const built = await this.ledger.ensure(
        followerCreated,
        new Map((cp?.shards ?? []).map((x) => [x.shard, x.globalCheckpoint])),
        this.spec.merge !== undefined,
      );
      if (built) this.log.info({ ledger: this.ledger.index, entries: built.built }, 'built the ledger of an existing follower index');
    })().catch((e: unknown) => {
      this.ledgerReady = undefined;
      throw e;
    });
    await this.ledgerReady;
  }

  /**
   * A mapping the follower cannot take (a field of another type there) is not the partition's fault: the record is
   * dead-lettered, the status says why, and documents go on (those that conflict are dead-lettered one by one).
   */
  private async applyMetadataOrDeadLetter(envelope: ChangeEnvelope, m: ConsumedMessage, partition: number): Promise<void> {
    try {
      await this.applyMetadata(readMetadata(envelope));
      this.metadataProblem = undefined;
    } catch (e) {
      // A conflict between sources of a merged index stops this source (FAILED, probed again), never the index.
      if (failureKind(e) !== 'permanent' || (e instanceof KccrError && e.code === 'MERGE_MAPPING_CONFLICT')) throw e;
      this.metadataProblem = `the leader's mappings or aliases could not be applied: ${errorMessage(e)}`;
      this.shard(partition).deadLettered++;
      await this.deadLetter(envelope.id, m.value ?? Buffer.alloc(0), partition, m.offset, this.metadataProblem, 'metadata');
    }
  }

  private async applyMetadata(meta: IndexMetadata): Promise<void> {
    // A follower index created now is created with these mappings; an existing one takes them.
    if ((await this.ensureIndex(meta)) === meta) return;
    if (this.spec.merge) await applyMergedMetadata(this.deps.follower, this.spec.merge, `${this.spec.leaderCluster}:${this.spec.leaderIndex}`, meta);
    else await applyMetadata(this.deps.follower, this.spec.followerIndex, meta, this.leftOut);
  }

  /**
   * Writes one group with one _bulk (sources with raw newlines one by one). Returns how many writes from the start
   * of the group are done — applied, skipped as older than the follower's, or dead-lettered — and, when the follower
   * refused some for now (429, 5xx, a block), the error to back off on: the refused write and those after it are
   * read again later (the ones after it that did apply are then skipped as already there).
   */
  private async write(writes: readonly PendingWrite[], partition: number): Promise<{ done: number; refused?: KccrError }> {
    const shard = this.shard(partition);
    await this.waiting(partition, () => this.ensureIndex());
    // The ledger first: a failure here leaves nothing written, and the group is read again.
    await this.waiting(partition, () => this.ledger.write(writes.map((w) => entryOf(w.envelope))));
    // A merged source's document holding a field of the provenance's name is refused here, as the follower refuses one.
    type Result = { outcome: ReturnType<typeof classify>; status: number; error?: { type: string; reason: string } };
    const byWrite = new Map<PendingWrite, Result>(
      writes.filter((w) => this.claimsOrigin(w)).map((w) => [w, { outcome: 'dead-letter', status: 400, error: this.originClaimError() }]),
    );
    const bulk = writes.filter((w) => fitsBulk(w) && !byWrite.has(w));
    const results = bulk.length ? await this.waiting(partition, () => this.bulk(bulk)) : [];
    if (results.length !== bulk.length) throw new KccrError('ES_UNAVAILABLE', `bulk answered ${results.length} items for ${bulk.length} writes`);
    results.forEach((r, i) => byWrite.set(bulk[i]!, { outcome: classify(r), status: r.status, ...(r.error ? { error: r.error } : {}) }));
    let done = 0;
    for (const w of writes) {
      const result = byWrite.get(w) ?? (await this.waiting(partition, () => this.writeSingle(w)));
      const { outcome, error } = result;
      if (outcome === 'retry') {
        shard.lastAppliedAt = this.clock.now();
        return { done, refused: refusal(result) };
      }
      if (outcome === 'applied') shard.applied++;
      else if (outcome === 'skipped') shard.skipped++;
      else {
        shard.deadLettered++;
        await this.deadLetterEnvelope(w, partition, error ? `${error.type}: ${error.reason}` : 'rejected');
      }
      done++;
    }
    shard.lastAppliedAt = this.clock.now();
    return { done };
  }

  /**
   * One _bulk of these writes. A follower that refuses the request as too large (413: above its
   * http.max_content_length) gets the writes one by one; a single document it refuses so is its own item's failure
   * (dead-lettered, with what to raise), not the index's.
   */
  private async bulk(writes: readonly PendingWrite[]): Promise<BulkItemResult[]> {
    try {
      // A large body is sent as its parts (streamed), not copied into one buffer beside the sources.
      const parts = bulkParts(
        targetIndex(this.spec),
        writes.map((w) => this.asWritten(w)),
      );
      const bytes = parts.reduce((n, p) => n + p.length, 0);
      const started = this.clock.now();
      const results = await this.deps.follower.bulk(bytes > STREAMED_BULK_BYTES ? parts : Buffer.concat(parts, bytes));
      this.deps.meter?.bulk(this.spec.followerIndex, (this.clock.now() - started) / 1000);
      this.bytesWritten += bytes;
      return results;
    } catch (e) {
      if ((e as KccrError).details?.status !== 413) throw e;
      if (writes.length > 1) return (await Promise.all(writes.map((w) => this.bulk([w])))).flat();
      const w = writes[0]!;
      const reason = `the follower refuses a request this large (${w.envelope.source?.length ?? 0} bytes of _source; 413, above its http.max_content_length): raise http.max_content_length on the follower and replay the topic`;
      return [{ action: w.envelope.op === 'DELETE' ? 'delete' : 'index', id: w.envelope.id, status: 413, error: { type: 'request_entity_too_large', reason } }];
    }
  }

  /**
   * The write as the follower index gets it: as it came, or, for a source of a merged index, under its namespaced
   * `_id` with the provenance field in front of the leader's `_source` (shared/merge.ts). Version and routing stay
   * the leader's. The ledger and dead letters keep the leader's `_id` and bytes.
   */
  private asWritten(w: PendingWrite): PendingWrite {
    const merge = this.spec.merge;
    if (!merge) return w;
    this.writer ??= sourceWriter(merge, { leaderCluster: this.spec.leaderCluster, leaderIndex: this.spec.leaderIndex });
    const e = w.envelope;
    return { offset: w.offset, envelope: { ...e, id: this.writer.id(e.id), source: e.source && this.writer.source(e.source) } };
  }

  private claimsOrigin(w: PendingWrite): boolean {
    const merge = this.spec.merge;
    if (!merge || w.envelope.source === null) return false;
    this.writer ??= sourceWriter(merge, { leaderCluster: this.spec.leaderCluster, leaderIndex: this.spec.leaderIndex });
    return this.writer.claimsOrigin(w.envelope.source);
  }

  private originClaimError(): { type: string; reason: string } {
    const field = this.spec.merge!.originField;
    return {
      type: 'kccr_origin_field_in_source',
      reason: `the document has a field named like the provenance field ${field} (${field.split('.')[0]}), which would mix with the provenance in ${this.spec.merge!.into}; not written. Rename the field on the leader or give the merged index another origin_field`,
    };
  }

  /** A source with raw newlines cannot sit on one _bulk line: it goes as its own request, bytes unchanged. */
  private async writeSingle(w: PendingWrite): Promise<{ outcome: ReturnType<typeof classify>; status: number; error?: { type: string; reason: string } }> {
    const e = this.asWritten(w).envelope;
    const r = await this.deps.follower.request<{ error?: { type: string; reason: string } }>(
      'PUT',
      `/${encodeURIComponent(targetIndex(this.spec))}/_doc/${encodeURIComponent(e.id)}`,
      {
        query: { version: e.version, version_type: 'external', ...(e.routing !== null ? { routing: e.routing } : {}) },
        rawBody: e.source!,
        ignore: [400, 409],
      },
    );
    const error = r.body.error ? { type: r.body.error.type, reason: r.body.error.reason } : undefined;
    return { outcome: classify({ action: 'index', status: r.status, ...(error ? { error } : {}) }), status: r.status, ...(error ? { error } : {}) };
  }

  /**
   * The envelope as JSON, with its source when the dead-letter topic takes it; a larger source is left out (its size
   * and place in the change topic are given: it is there to replay).
   */
  private async deadLetterEnvelope(w: PendingWrite, partition: number, reason: string): Promise<void> {
    const e = w.envelope;
    const sourceBytes = e.source?.length ?? 0;
    const fits = sourceBytes + DEAD_LETTER_ENVELOPE_BYTES <= this.deps.config.maxMessageBytes;
    const source = fits ? (e.source?.toString('utf8') ?? null) : null;
    const body = Buffer.from(
      JSON.stringify({
        op: e.op,
        id: e.id,
        routing: e.routing,
        version: e.version,
        origin: e.origin,
        source,
        ...(fits
          ? {}
          : { sourceBytes, sourceOmitted: `larger than the dead-letter topic takes; it is at offset ${w.offset} of partition ${partition} of ${this.topic}` }),
      }),
    );
    await this.deadLetter(e.id, body, partition, w.offset, reason, 'write');
  }

  private async deadLetter(key: string, value: Buffer, partition: number, offset: string, reason: string, stage: string): Promise<void> {
    this.log.warn({ id: key, partition, offset, reason }, 'dead-lettered');
    this.recentDeadLetters.push({ at: this.clock.now(), id: key, shard: partition, offset, stage, reason: reason.slice(0, 500) });
    if (this.recentDeadLetters.length > RECENT_DEAD_LETTERS) this.recentDeadLetters.shift();
    await this.deps.deadLetters.send(deadLetterTopic(this.deps.config.followerCluster), [
      {
        key,
        value,
        partition: 0,
        headers: {
          'kccr.reason': reason.slice(0, 2000),
          'kccr.stage': stage,
          'kccr.topic': this.topic,
          'kccr.partition': String(partition),
          'kccr.offset': offset,
          'kccr.follower-index': this.spec.followerIndex,
        },
      },
    ]);
  }

  /** A failure that no retry will mend: this follower index stops here (probed again later), the others go on. */
  fail(reason: string): void {
    this.failedReason = reason;
  }

  /**
   * The failure is probed again: the next batch tries. The status keeps saying FAILED with the reason until a batch
   * goes through (a probe that fails again would otherwise show SYNCING for the moment between the two).
   */
  clearFailure(): void {
    this.probing = this.failedReason;
    this.failedReason = undefined;
  }

  get failed(): boolean {
    return this.failedReason !== undefined;
  }

  status(): ApplierStatus {
    const shards: ApplierShardStatus[] = [...this.shards.entries()]
      .sort(([a], [b]) => a - b)
      .map(([shard, s]) => ({
        shard,
        appliedCheckpoint: s.appliedCheckpoint,
        appliedObservedAt: s.appliedObservedAt,
        offset: s.offset,
        highWatermark: s.highWatermark,
        applied: s.applied,
        skipped: s.skipped,
        deadLettered: s.deadLettered,
        otherIncarnation: s.otherIncarnation,
        ...(s.chunks.heldBytes > 0 ? { reassemblingBytes: s.chunks.heldBytes } : {}),
        ...(s.chunks.droppedChunks > 0 ? { chunksDropped: s.chunks.droppedChunks } : {}),
        lastAppliedAt: s.lastAppliedAt,
      }));
    const retrying = this.retryingView();
    const failed = this.failedReason ?? this.probing ?? this.credentialProblem;
    const reason = failed ?? retrying?.reason ?? this.metadataProblem;
    const state = this.spec.state === 'paused' ? 'paused' : this.spec.state === 'stopped' ? 'stopped' : failed ? 'failed' : retrying ? 'retrying' : 'syncing';
    return {
      kind: 'applier',
      followerCluster: this.spec.followerCluster,
      followerIndex: this.spec.followerIndex,
      topic: this.topic,
      state,
      ...(retrying && (state === 'retrying' || state === 'failed') ? { retrying } : {}),
      ...(reason ? { reason } : {}),
      shards,
      reconcile: { ...this.reconciler.stats },
      bytesWritten: this.bytesWritten,
      ...(this.recentDeadLetters.length ? { recentDeadLetters: [...this.recentDeadLetters] } : {}),
      ...(this.leftOut.length ? { leftOut: leftOutList(this.leftOut) } : {}),
      ...(this.failures.size ? { failures: Object.fromEntries(this.failures) } : {}),
      updatedAt: this.clock.now(),
    };
  }
}
