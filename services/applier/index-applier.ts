/**
 * Applies one topic to one follower index, a batch of one partition at a time, in offset order.
 * Offsets are committed only after the writes they stand for were checked item by item.
 */
import type { ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import type { BatchControl, ConsumedBatch, ConsumedMessage, KafkaProducer } from '../shared/adapters/kafka.js';
import type { SchemaRegistryAdapter } from '../shared/adapters/registry.js';
import { readMetadata, validateEnvelope } from '../shared/envelope.js';
import type { ChangeEnvelope, IndexMetadata } from '../shared/envelope.js';
import { errorMessage, isRetriable, KccrError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { ApplierShardStatus, ApplierStatus, ReplicationSpec } from '../shared/replication.js';
import { abortableSleep, backoffDelay } from '../shared/retry.js';
import type { CompactedTable } from '../shared/table.js';
import { deadLetterTopic } from '../shared/topics.js';
import { bulkBody, classify, fitsBulk } from './bulk.js';
import type { PendingWrite } from './bulk.js';
import type { ApplierConfig } from './config.js';
import { applyMetadata, ensureFollowerIndex } from './follower-index.js';
import type { Reconciler } from './reconciler.js';

export interface ApplierDeps {
  readonly config: ApplierConfig;
  readonly es: ElasticsearchAdapter;
  readonly registry: SchemaRegistryAdapter;
  readonly producer: KafkaProducer;
  readonly metadata: CompactedTable<IndexMetadata>;
  readonly logger: Logger;
}

interface ShardState {
  appliedCheckpoint: number;
  appliedObservedAt: number | null;
  offset: string;
  highWatermark: string;
  applied: number;
  skipped: number;
  deadLettered: number;
  lastAppliedAt: number | null;
  lastDeleteTotal: number | null;
  /** The leader shard's deletes moved: a reconciliation pass is due once this partition has caught up. */
  reconcileDue: boolean;
  /** A pass is due once a checkpoint reaches this _seq_no (the deletes counted are then visible on the leader). */
  reconcileAfter: number | null;
  /** The leader index UUID of the last METADATA record read in this partition. */
  indexUuid?: string;
}

export class IndexApplier {
  private readonly shards = new Map<number, ShardState>();
  private indexReady = false;
  private reason?: string;
  private failedReason?: string;
  private metadataProblem?: string;

  constructor(
    private readonly deps: ApplierDeps,
    private specNow: ReplicationSpec,
    readonly topic: string,
    private readonly reconciler: Reconciler,
  ) {}

  get spec(): ReplicationSpec {
    return this.specNow;
  }

  /** The same replication with a new state or settings; an operator's resume also clears a failure. */
  updateSpec(spec: ReplicationSpec): void {
    this.specNow = spec;
    this.failedReason = undefined;
    this.reason = undefined;
  }

  private get log() {
    return this.deps.logger.child({ followerIndex: this.spec.followerIndex, topic: this.topic });
  }

  private shard(partition: number): ShardState {
    let s = this.shards.get(partition);
    if (!s) {
      s = { appliedCheckpoint: -1, appliedObservedAt: null, offset: '0', highWatermark: '0', applied: 0, skipped: 0, deadLettered: 0, lastAppliedAt: null, lastDeleteTotal: null, reconcileDue: false, reconcileAfter: null };
      this.shards.set(partition, s);
    }
    return s;
  }

  async handleBatch(batch: ConsumedBatch, control: BatchControl): Promise<void> {
    const shard = this.shard(batch.partition);
    shard.highWatermark = batch.highWatermark;
    let pending: PendingWrite[] = [];
    let lastDone: string | undefined;
    const flush = async () => {
      if (pending.length > 0) {
        const ok = await this.write(pending, batch.partition, control);
        if (!ok) return false;
        lastDone = pending[pending.length - 1]!.offset;
        pending = [];
      }
      if (lastDone !== undefined && String(BigInt(lastDone) + 1n) !== shard.offset) {
        await control.commit(String(BigInt(lastDone) + 1n));
        shard.offset = String(BigInt(lastDone) + 1n);
      }
      await control.heartbeat();
      return true;
    };

    for (const m of batch.messages) {
      if (!control.isActive()) break;
      const envelope = await this.decode(m, batch.partition);
      if (!envelope) {
        lastDone = m.offset;
        continue;
      }
      // Records of an earlier index of the same name (deleted and created again on the leader) stay in the topic
      // until compaction: they are not this replication's. Every document follows its index's METADATA record in
      // the partition, so the last METADATA seen says which index is current (before any: the metadata table).
      if (envelope.op === 'METADATA') shard.indexUuid = envelope.origin.indexUuid;
      const current = shard.indexUuid ?? this.deps.metadata.get(this.topic)?.indexUuid;
      if (current !== undefined && envelope.origin.indexUuid !== current) {
        this.shard(batch.partition).skipped++;
        lastDone = m.offset;
        continue;
      }
      if (envelope.op === 'METADATA' || envelope.op === 'CHECKPOINT') {
        if (!(await flush())) return;
        if (envelope.op === 'METADATA') {
          if (!(await this.withRetry(control, () => this.applyMetadataOrDeadLetter(envelope, m, batch.partition)))) return;
        } else {
          this.onCheckpoint(envelope, batch.partition, m, batch.highWatermark);
        }
        lastDone = m.offset;
        continue;
      }
      if (this.coveredByBootstrap(envelope)) {
        shard.skipped++;
        lastDone = m.offset;
        continue;
      }
      pending.push({ envelope, offset: m.offset });
      if (pending.length >= this.deps.config.batchSize && !(await flush())) return;
    }
    await flush();
  }

  /**
   * A change the bootstrap already gave the follower (snapshot) or left out on purpose (none): at or below the
   * checkpoint read at the start, in the same shard history. A topic that an earlier replication filled holds such
   * records; they are read, not written again.
   */
  private coveredByBootstrap(e: ChangeEnvelope): boolean {
    const cp = this.spec.bootstrapCheckpoints;
    if (!cp || e.origin.indexUuid !== cp.indexUuid) return false;
    const s = cp.shards.find((x) => x.shard === e.origin.shard);
    return s !== undefined && s.historyUuid === e.origin.historyUuid && e.origin.seqNo <= s.globalCheckpoint;
  }

  private async decode(m: ConsumedMessage, partition: number): Promise<ChangeEnvelope | undefined> {
    if (!m.value) return undefined; // a tombstone: compaction's business, nothing to apply
    try {
      return validateEnvelope(await this.deps.registry.decode(m.value));
    } catch (e) {
      if (isRetriable(e)) throw e;
      await this.deadLetter(m.key?.toString() ?? '', m.value, partition, m.offset, `cannot decode: ${errorMessage(e)}`, 'decode');
      return undefined;
    }
  }

  private onCheckpoint(e: ChangeEnvelope, partition: number, m: ConsumedMessage, highWatermark: string): void {
    const cp = e.checkpoint!;
    const shard = this.shard(partition);
    // Everything before this record in the partition is applied: the follower has the leader up to G.
    shard.appliedCheckpoint = cp.globalCheckpoint;
    shard.appliedObservedAt = cp.observedAt;
    // The leader side checks with searches, which see what a refresh made visible. The deletes counted in a
    // reading are at or below its max _seq_no; once a checkpoint reaches that, the extractor has made them visible.
    if (shard.reconcileAfter !== null && cp.globalCheckpoint >= shard.reconcileAfter) {
      shard.reconcileDue = true;
      shard.reconcileAfter = null;
    }
    const deleteTotal = cp.deleteTotal;
    if (deleteTotal !== null && deleteTotal !== shard.lastDeleteTotal) {
      // At the first checkpoint seen, any delete the leader ever had may be missing here.
      if (shard.lastDeleteTotal !== null || deleteTotal > 0) {
        const cover = Math.max(cp.maxSeqNo, cp.globalCheckpoint);
        if (cp.globalCheckpoint >= cover) shard.reconcileDue = true;
        else shard.reconcileAfter = Math.max(shard.reconcileAfter ?? -1, cover);
      }
      shard.lastDeleteTotal = deleteTotal;
    }
    // Only once caught up: DELETEs of an earlier pass may still wait in the backlog, and a pass now would ask again.
    if (shard.reconcileDue && BigInt(m.offset) + 1n >= BigInt(highWatermark)) {
      shard.reconcileDue = false;
      this.reconciler.request(partition, 'the leader shard had deletes');
    }
  }

  /** Runs `fn` until it succeeds, backing off on retriable failures; false when the partition was taken away. */
  private async withRetry(control: BatchControl, fn: () => Promise<void>): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await fn();
        if (this.reason) this.reason = undefined;
        return true;
      } catch (e) {
        if (!isRetriable(e) && !(e instanceof KccrError && (e.code === 'ES_FORBIDDEN' || e.code === 'ES_UNAUTHENTICATED'))) throw e;
        this.reason = `retrying: ${errorMessage(e)}`;
        const delay = backoffDelay(attempt, 500, this.deps.config.retryMaxMs);
        this.log.warn({ err: errorMessage(e), attempt, retryInMs: delay }, 'follower write failed; partition paused until it succeeds');
        await this.sleepWithHeartbeat(delay, control);
        if (!control.isActive()) return false;
      }
    }
  }

  private async sleepWithHeartbeat(ms: number, control: BatchControl): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until && control.isActive()) {
      await abortableSleep(Math.min(2000, until - Date.now()));
      await control.heartbeat().catch(() => undefined);
    }
  }

  private async ensureIndex(): Promise<void> {
    if (this.indexReady) return;
    const meta = this.deps.metadata.get(this.topic);
    if (!meta) throw new KccrError('ES_UNAVAILABLE', `waiting for the leader's metadata of ${this.spec.leaderIndex} (the extractor publishes it)`);
    if (await ensureFollowerIndex(this.deps.es, this.spec.followerIndex, meta, this.spec.followerSettings, this.deps.config.gcDeletes)) {
      this.log.info('created the follower index');
    }
    this.indexReady = true;
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
      if (isRetriable(e) || (e instanceof KccrError && (e.code === 'ES_FORBIDDEN' || e.code === 'ES_UNAUTHENTICATED'))) throw e;
      this.metadataProblem = `the leader's mappings or aliases could not be applied: ${errorMessage(e)}`;
      this.shard(partition).deadLettered++;
      await this.deadLetter(envelope.id, m.value ?? Buffer.alloc(0), partition, m.offset, this.metadataProblem, 'metadata');
    }
  }

  private async applyMetadata(meta: IndexMetadata): Promise<void> {
    if (!this.indexReady && !(await this.deps.es.indexExists(this.spec.followerIndex))) {
      await ensureFollowerIndex(this.deps.es, this.spec.followerIndex, meta, this.spec.followerSettings, this.deps.config.gcDeletes);
      this.indexReady = true;
      return;
    }
    this.indexReady = true;
    await applyMetadata(this.deps.es, this.spec.followerIndex, meta);
  }

  /** Writes one group; retriable item failures are retried (only those items) until they pass. */
  private async write(writes: PendingWrite[], partition: number, control: BatchControl): Promise<boolean> {
    const shard = this.shard(partition);
    let todo = writes;
    for (let attempt = 1; todo.length > 0; attempt++) {
      const retry: PendingWrite[] = [];
      const ok = await this.withRetry(control, async () => {
        await this.ensureIndex();
        const bulk = todo.filter(fitsBulk);
        const single = todo.filter((w) => !fitsBulk(w));
        const results = bulk.length ? await this.deps.es.bulk(bulkBody(this.spec.followerIndex, bulk)) : [];
        if (results.length !== bulk.length) throw new KccrError('ES_UNAVAILABLE', `bulk answered ${results.length} items for ${bulk.length} writes`);
        const outcomes = results.map((r, i) => ({ w: bulk[i]!, outcome: classify(r), error: r.error }));
        for (const w of single) {
          const r = await this.writeSingle(w);
          outcomes.push({ w, outcome: r.outcome, error: r.error });
        }
        for (const { w, outcome, error } of outcomes) {
          if (outcome === 'applied') shard.applied++;
          else if (outcome === 'skipped') shard.skipped++;
          else if (outcome === 'retry') retry.push(w);
          else {
            shard.deadLettered++;
            await this.deadLetterEnvelope(w, partition, error ? `${error.type}: ${error.reason}` : 'rejected');
          }
        }
        shard.lastAppliedAt = Date.now();
      });
      if (!ok) return false;
      if (retry.length) {
        this.reason = `retrying ${retry.length} writes the follower refused for now`;
        await this.sleepWithHeartbeat(backoffDelay(attempt, 500, this.deps.config.retryMaxMs), control);
        if (!control.isActive()) return false;
      }
      todo = retry;
    }
    return true;
  }

  /** A source with raw newlines cannot sit on one _bulk line: it goes as its own request, bytes unchanged. */
  private async writeSingle(w: PendingWrite): Promise<{ outcome: ReturnType<typeof classify>; error?: { type: string; reason: string } }> {
    const e = w.envelope;
    const r = await this.deps.es
      .request<{ error?: { type: string; reason: string } }>('PUT', `/${encodeURIComponent(this.spec.followerIndex)}/_doc/${encodeURIComponent(e.id)}`, {
        query: { version: e.version, version_type: 'external', ...(e.routing !== null ? { routing: e.routing } : {}) },
        rawBody: e.source!.toString('utf8'),
        ignore: [400, 409],
      });
    const error = r.body.error ? { type: r.body.error.type, reason: r.body.error.reason } : undefined;
    return { outcome: classify({ action: 'index', status: r.status, ...(error ? { error } : {}) }), ...(error ? { error } : {}) };
  }

  private async deadLetterEnvelope(w: PendingWrite, partition: number, reason: string): Promise<void> {
    const e = w.envelope;
    const body = Buffer.from(JSON.stringify({ op: e.op, id: e.id, routing: e.routing, version: e.version, origin: e.origin, source: e.source?.toString('utf8') ?? null }));
    await this.deadLetter(e.id, body, partition, w.offset, reason, 'write');
  }

  private async deadLetter(key: string, value: Buffer, partition: number, offset: string, reason: string, stage: string): Promise<void> {
    this.log.warn({ id: key, partition, offset, reason }, 'dead-lettered');
    await this.deps.producer.send(deadLetterTopic(this.deps.config.followerCluster), [
      {
        key,
        value,
        partition: 0,
        headers: { 'kccr.reason': reason.slice(0, 2000), 'kccr.stage': stage, 'kccr.topic': this.topic, 'kccr.partition': String(partition), 'kccr.offset': offset, 'kccr.follower-index': this.spec.followerIndex },
      },
    ]);
  }

  /** A failure that no retry will mend: this follower index stops here, the others go on. */
  fail(reason: string): void {
    this.failedReason = reason;
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
        lastAppliedAt: s.lastAppliedAt,
      }));
    const reason = this.failedReason ?? this.reason ?? this.metadataProblem;
    return {
      kind: 'applier',
      followerCluster: this.spec.followerCluster,
      followerIndex: this.spec.followerIndex,
      topic: this.topic,
      state: this.failedReason ? 'failed' : this.spec.state === 'paused' ? 'paused' : this.spec.state === 'stopped' ? 'stopped' : 'syncing',
      ...(reason ? { reason } : {}),
      shards,
      reconcile: { ...this.reconciler.stats },
      updatedAt: Date.now(),
    };
  }
}
