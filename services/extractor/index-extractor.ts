/**
 * Extracts one leader index: per shard, everything up to the primary's global checkpoint G, in _seq_no order,
 * into the index's topic (partition = shard), then a checkpoint record, then the cursor moves to G.
 *
 * Why G and not the highest hit: a delete takes a _seq_no but leaves no hit, so a cursor on hits would stall.
 * Why refresh after reading G: search sees only refreshed operations; a refresh that starts after G was read
 * makes every operation up to G visible on every in-sync copy.
 */
import { createHash } from 'node:crypto';
import type { ElasticsearchAdapter, ShardStats } from '../shared/adapters/elasticsearch.js';
import type { KafkaAdapter, KafkaProducer, OutgoingMessage } from '../shared/adapters/kafka.js';
import type { SchemaRegistryAdapter } from '../shared/adapters/registry.js';
import { CHUNK_OVERHEAD_BYTES, splitRecord } from '../shared/chunks.js';
import { leaderSource } from '../shared/leader-source.js';
import { checkpointEvent, deleteEvent, envelopeSchema, indexEvent, metadataEvent } from '../shared/envelope.js';
import type { ChangeEnvelope, IndexMetadata, OriginBase } from '../shared/envelope.js';
import { asKccrError, failureKind, KccrError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { parseMgetResponse, parseSearchResponse } from '../shared/raw-hits.js';
import type { BootstrapCheckpoints, ExtractorCursor, ExtractorShardStatus, ExtractorStatus, ReconcileRequest } from '../shared/replication.js';
import { cursorKey, extractorStatusKey, silentAfterMs } from '../shared/replication.js';
import { abortableSleep, backoffDelay, RetryTracker, TRANSIENT_BACKOFF } from '../shared/retry.js';
import type { CompactedTable } from '../shared/table.js';
import { changeTopic, valueSubject } from '../shared/topics.js';
import type { ExtractorConfig } from './config.js';

export interface ExtractorDeps {
  readonly config: ExtractorConfig;
  readonly es: ElasticsearchAdapter;
  readonly kafka: KafkaAdapter;
  readonly producer: KafkaProducer;
  readonly registry: SchemaRegistryAdapter;
  readonly cursors: CompactedTable<ExtractorCursor | { digest: string; indexUuid: string }>;
  readonly status: CompactedTable<ExtractorStatus>;
  readonly metadata: CompactedTable<IndexMetadata>;
  readonly logger: Logger;
}

/** The next poll delay: the minimum while changes flow, doubling up to the maximum while idle. */
export function nextPollDelay(previous: number, advanced: boolean, minMs: number, maxMs: number): number {
  return advanced ? minMs : Math.min(maxMs, Math.max(minMs, previous * 2));
}

/** The search for one page of the window (cursor, g] of one shard, in _seq_no order. */
export function windowQuery(cursor: number, g: number, size: number, after: number | undefined): Record<string, unknown> {
  return {
    size,
    sort: [{ _seq_no: 'asc' }],
    seq_no_primary_term: true,
    track_total_hits: false,
    query: { range: { _seq_no: { gt: cursor, lte: g } } },
    ...(after !== undefined ? { search_after: [after] } : {}),
  };
}

/** True when every copy seen at the first reading has completed at least two refreshes since. */
export function refreshedTwiceSince(before: Readonly<Record<string, number>>, now: Readonly<Record<string, number>>): boolean {
  const nodes = Object.keys(now);
  if (nodes.length === 0) return false;
  return nodes.every((node) => before[node] !== undefined && now[node]! >= before[node]! + 2);
}

/** A reading of a shard's stats, waiting until what it covers is visible to search on every copy. */
export interface Reading<S> {
  readonly stats: S;
  readonly observedAt: number;
}

/**
 * One shard's step of the visibility schedule, a pure function of its queue of readings, the shard's reading now,
 * the time and the cursor: the latest queued reading that every copy has refreshed twice since is ready (those before
 * it go with it); when none is and the oldest has waited `maxWaitMs`, the latest is taken and a refresh is forced.
 * A reading whose checkpoint is above the last queued one (or the cursor, or the window taken) is queued.
 */
export function visibilityStep<S extends { readonly globalCheckpoint: number; readonly refreshTotals: Readonly<Record<string, number>> }>(
  queue: readonly Reading<S>[],
  reading: Reading<S>,
  nowMs: number,
  cursor: number,
  maxWaitMs: number,
): { readonly window?: Reading<S>; readonly force: boolean; readonly queue: Reading<S>[] } {
  const now = reading.stats;
  let ready = -1;
  queue.forEach((p, i) => {
    if (refreshedTwiceSince(p.stats.refreshTotals, now.refreshTotals)) ready = i;
  });
  let force = false;
  if (ready < 0 && queue.length > 0 && nowMs - queue[0]!.observedAt >= maxWaitMs) {
    force = true;
    ready = queue.length - 1;
  }
  const window = ready >= 0 ? queue[ready] : undefined;
  const rest = queue.slice(ready + 1);
  const last = rest.at(-1)?.stats.globalCheckpoint ?? Math.max(cursor, window?.stats.globalCheckpoint ?? -1);
  if (now.globalCheckpoint > last) rest.push(reading);
  return { ...(window ? { window } : {}), force, queue: rest };
}

/** Settings that describe this physical index rather than the data; the follower gets its own. */
const VOLATILE_SETTINGS = [
  'uuid',
  'creation_date',
  'provided_name',
  'version',
  'history',
  'resize',
  'routing',
  'blocks',
  'verified_before_close',
  'shrink',
  'lifecycle',
  // OpenSearch: how this index's replicas copy data (index.replication.type: DOCUMENT or SEGMENT), a property of the
  // physical index that the follower's cluster decides for its own; Elasticsearch does not know the setting.
  'replication',
];

export function portableSettings(settings: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(settings).filter(([k]) => !VOLATILE_SETTINGS.includes(k)));
}

/** A search page is kept to about this many bytes: large documents are asked for a few at a time. */
export const PAGE_TARGET_BYTES = 16 * 1024 * 1024;

/** The next page's size: cut to what fits PAGE_TARGET_BYTES at the last page's mean, else doubling back to the maximum. */
export function nextPageSize(size: number, hits: number, bytes: number, max: number): number {
  if (hits > 0 && bytes > PAGE_TARGET_BYTES) return Math.max(1, Math.floor((hits * PAGE_TARGET_BYTES) / bytes));
  return Math.min(max, size * 2);
}

/** How long a leader index not found is waited on (a restarted cluster recovering it) before it shows FAILED. */
export const MISSING_INDEX_GRACE_MS = 60_000;

/** How often the extractor registers its schema again (a registry that lost it gets it back). */
export const SCHEMA_CHECK_MS = 60_000;

/** Reconciliation checks groups of at most this many ids with realtime gets; larger groups are counted first. */
export const RECONCILE_GET_GROUP = 250;

export class IndexExtractor {
  readonly topic: string;
  private readonly abort = new AbortController();
  private loop?: Promise<void>;
  private schemaId = 0;
  private base?: Omit<OriginBase, 'shard' | 'historyUuid'>;
  private readonly cursors = new Map<number, ExtractorCursor>();
  private readonly lastCheckpointAt = new Map<number, number>();
  private readonly shardStatus = new Map<number, ExtractorShardStatus>();
  private readonly published = new Map<number, number>();
  /** Per shard, the primary term last read, failovers seen, and where the cursor stood lately. */
  private readonly primaryTerms = new Map<number, number>();
  private readonly failovers = new Map<number, number>();
  private readonly cursorHistory = new Map<number, { at: number; from: number; cursor: number }[]>();
  /** Per shard, the node the last window was read from. */
  private readonly readFrom = new Map<number, string>();
  /** Per shard, documents asked for per search page: fewer while documents are large (see nextPageSize). */
  private readonly pageSize = new Map<number, number>();
  private metadataDigest?: string;
  /** Scheduled visibility: per shard, the checkpoint read and waiting for refreshes. */
  private readonly pending = new Map<number, { stats: ShardStats; observedAt: number }[]>();
  private forcedRefreshes = 0;
  /**
   * A scan bootstrap: shards that started without a cursor read everything up to the first checkpoint seen
   * (published as READ events); this tracks its progress.
   */
  private scan?: { targets: Map<number, number> | undefined; total: number; docs: number; bytes: number; startedAt: number; finishedAt: number | null };
  private state: ExtractorStatus['state'] = 'running';
  /** Bytes of envelopes encoded for Kafka, and failed cycles by error code (status and /metrics). */
  private bytesPublished = 0;
  private readonly failures = new Map<string, number>();
  /** The status row last made (also when writing it failed): what this extractor's /metrics show. */
  private lastStatus?: ExtractorStatus;
  private reason?: string;
  /** The latest reading of each shard's checkpoints (the cycle's), reused by delete reconciliation. */
  private readonly lastStats = new Map<number, ShardStats>();
  private readonly reconcileStats = { requests: 0, idsChecked: 0, counts: 0, gets: 0, deletesPublished: 0, lastMs: null as number | null };
  private readonly retrying = new RetryTracker();
  private statusTimer?: NodeJS.Timeout;
  private statusInFlight = false;
  private schemaCheckedAt = 0;
  /** When the running cycle started, and when it last got an answer (a stuck cycle shows as RETRYING). */
  private cycleStartedAt?: number;
  private progressAt = 0;

  constructor(
    private readonly deps: ExtractorDeps,
    readonly leaderIndex: string,
    /** Where to start shards that have no cursor yet (snapshot or `none` bootstraps); undefined: scan from the start. */
    private readonly bootstrapStart: () => BootstrapCheckpoints | undefined = () => undefined,
    /** Whether every replication of this index was started after the given time (an operator's new start). */
    private readonly restartedSince: (time: number) => boolean = () => false,
    /** Whether a replication of this index needs its whole history in the topic (a scan bootstrap). */
    private readonly wantsHistory: () => boolean = () => true,
  ) {
    this.topic = changeTopic(deps.config.leaderCluster, leaderIndex);
  }

  get failed(): boolean {
    return this.state === 'failed';
  }

  /** Times this index's extraction was started again after its loop ended unexpectedly (set by the service). */
  restarts = 0;

  /** The loop's promise, for the service's supervision: it settles only when stopped, or on a defect. */
  get running(): Promise<void> | undefined {
    return this.loop;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private get log() {
    return this.deps.logger.child({ index: this.leaderIndex, topic: this.topic });
  }

  /**
   * The extraction loop; it ends only when stopped. A transient failure (Kafka, the registry or the leader down,
   * hung or overloaded) is retried with capped backoff, forever, the status saying RETRYING meanwhile; anything
   * else (refused credentials, a new history, a programming error) shows FAILED with the reason and is probed again
   * every `failedProbeMs`, so that an operator's fix resumes it without a restart.
   */
  private async run(): Promise<void> {
    const { config } = this.deps;
    let delay = config.minPollMs;
    this.statusTimer = setInterval(() => void this.publishStatus(false), config.statusIntervalMs);
    try {
      while (!this.abort.signal.aborted) {
        try {
          this.cycleStartedAt = Date.now();
          this.progressAt = this.cycleStartedAt;
          if (!this.base) await this.init();
          await this.checkSchema();
          const advanced = await this.cycle();
          if (this.state !== 'running') this.log.info({ after: this.retrying.attempts }, 'extraction resumed');
          this.retrying.succeeded();
          this.state = 'running';
          this.reason = undefined;
          delay = nextPollDelay(delay, advanced, config.minPollMs, config.maxPollMs);
        } catch (e) {
          if (this.abort.signal.aborted) break;
          delay = this.onFailure(e);
        } finally {
          this.cycleStartedAt = undefined;
        }
        await this.publishStatus(false);
        await abortableSleep(delay, this.abort.signal);
      }
    } finally {
      clearInterval(this.statusTimer);
      await this.publishStatus(true);
    }
  }

  /** Records a failed cycle in the status and returns how long to wait before the next. */
  private onFailure(e: unknown): number {
    const err = asKccrError(e);
    const attempt = this.retrying.failed(err);
    this.failures.set(err.code, (this.failures.get(err.code) ?? 0) + 1);
    if (err.code === 'SCHEMA_UNKNOWN' || err.code === 'REGISTRY_UNAVAILABLE') this.schemaCheckedAt = 0;
    // A restarted leader answers HTTP before it has recovered its indices (404 for a while): a leader index not
    // found is waited on like a transient failure for a minute before it shows FAILED.
    const missingSince = err.code === 'ES_NOT_FOUND' ? this.retrying.view()?.since : undefined;
    const stillRecovering = missingSince !== undefined && Date.now() - missingSince < MISSING_INDEX_GRACE_MS;
    if (failureKind(err) === 'transient' || stillRecovering) {
      this.state = 'retrying';
      this.reason = err.message;
      const delay = backoffDelay(attempt, TRANSIENT_BACKOFF.initialMs, this.deps.config.retryMaxMs);
      this.log.warn({ code: err.code, err: err.message, attempt, retryInMs: delay }, 'extraction cycle failed; retrying');
      return delay;
    }
    // Initialised again at the next probe: the index, its cursors and the schema are read anew.
    this.base = undefined;
    this.state = 'failed';
    this.reason = err.message;
    this.log.error({ code: err.code, err: err.message, probeInMs: this.deps.config.failedProbeMs }, 'extraction failed; probing again later');
    void this.publishStatus(true);
    return this.deps.config.failedProbeMs;
  }

  /**
   * The schema id in use is registered again every minute and after any registry failure: a registry that lost
   * its schemas gets it back, and the id it gives now is the one used from then on.
   */
  private async checkSchema(): Promise<void> {
    if (Date.now() - this.schemaCheckedAt < SCHEMA_CHECK_MS) return;
    const id = await this.deps.registry.register(valueSubject(this.topic), envelopeSchema());
    if (id !== this.schemaId) {
      if (this.schemaId !== 0) this.log.warn({ was: this.schemaId, now: id }, 'the registry gives the envelope schema a new id; using it');
      this.schemaId = id;
    }
    this.schemaCheckedAt = Date.now();
  }

  private async init(): Promise<void> {
    const { es, kafka, cursors, config } = this.deps;
    const meta = await es.indexMeta(this.leaderIndex);
    // Envelopes above chunkBytes go as chunks: the topic must take a chunk and its headers (checked when it exists).
    const made = await kafka.ensureTopic(this.topic, meta.shards, {
      'cleanup.policy': 'compact',
      'compression.type': 'producer',
      'max.message.bytes': String(config.maxMessageBytes),
    });
    if (made === 'exists') await this.checkTopicTakesChunks();
    this.schemaCheckedAt = 0;
    await this.checkSchema();
    for (let shard = 0; shard < meta.shards; shard++) {
      const c = cursors.get(cursorKey(config.leaderCluster, this.leaderIndex, shard)) as ExtractorCursor | undefined;
      if (c && 'cursor' in c) {
        if (c.indexUuid !== meta.uuid && this.restartedSince(c.updatedAt)) {
          // The leader index is new and replication of it was started again since: its history starts over.
          this.log.warn(
            { shard, was: c.indexUuid, now: meta.uuid },
            'leader index has a new UUID and replication was started again: starting its history over',
          );
          continue;
        }
        if (c.indexUuid !== meta.uuid) {
          throw new KccrError(
            'HISTORY_CHANGED',
            `leader index ${this.leaderIndex} has a new UUID (${c.indexUuid} -> ${meta.uuid}): it was deleted and created again, or restored. Replication of it stopped; start it again to bootstrap the follower anew.`,
            { was: c.indexUuid, now: meta.uuid },
          );
        }
        this.cursors.set(shard, c);
      }
    }
    const start = this.bootstrapStart();
    for (let shard = 0; shard < meta.shards; shard++) {
      if (this.cursors.has(shard)) continue;
      const from = start?.indexUuid === meta.uuid ? start.shards.find((x) => x.shard === shard) : undefined;
      if (from) {
        // The follower gets everything up to here from a snapshot (or wants no history): start after it.
        this.cursors.set(shard, {
          indexUuid: meta.uuid,
          historyUuid: from.historyUuid,
          cursor: from.globalCheckpoint,
          updatedAt: Date.now(),
          historyFrom: from.globalCheckpoint,
        });
      } else {
        this.scan ??= { targets: undefined, total: 0, docs: 0, bytes: 0, startedAt: Date.now(), finishedAt: null };
      }
    }
    const stored = cursors.get(cursorKey(config.leaderCluster, this.leaderIndex, -1)) as { digest: string; indexUuid: string } | undefined;
    if (stored?.indexUuid === meta.uuid) this.metadataDigest = stored.digest;
    this.base = { cluster: config.leaderCluster, index: this.leaderIndex, indexUuid: meta.uuid };
    this.log.info({ shards: meta.shards, schemaId: this.schemaId, resumedShards: this.cursors.size }, 'extracting');
  }

  /** One pass over every shard; true when changes are flowing (published, or waiting to become visible). */
  private async cycle(): Promise<boolean> {
    const { es, config } = this.deps;
    const stats = await es.shardStats(this.leaderIndex);
    const observedAt = Date.now();
    this.progressAt = observedAt;
    for (const s of stats) this.checkHistory(s);
    for (const s of stats) this.lastStats.set(s.shard, s);
    for (const s of stats) await this.onPrimaryTerm(s);
    if (this.scan && !this.scan.targets) {
      // What the scan covers: every operation up to the checkpoints of its first reading.
      this.scan.targets = new Map(stats.filter((s) => this.cursorOf(s.shard) < 0).map((s) => [s.shard, s.globalCheckpoint]));
      this.scan.total = stats.filter((s) => this.scan!.targets!.has(s.shard)).reduce((n, s) => n + s.docs, 0);
    }
    let flowing: boolean;
    if (config.visibility === 'refresh') {
      const advancing = stats.filter((s) => s.globalCheckpoint > this.cursorOf(s.shard));
      if (advancing.length > 0) {
        // Mappings first: documents that need a new field must find it on the follower.
        await this.publishMetadataIfChanged(stats);
        await es.refresh(this.leaderIndex);
        this.forcedRefreshes++;
        for (const s of advancing) await this.publishWindow(s, observedAt);
      }
      flowing = advancing.length > 0;
    } else {
      flowing = await this.scheduledCycle(stats, observedAt);
    }
    await this.backfill(stats);
    const now = Date.now();
    for (const s of stats) {
      const idle = s.globalCheckpoint === this.cursorOf(s.shard) && !this.pending.has(s.shard);
      if (idle && now - (this.lastCheckpointAt.get(s.shard) ?? 0) >= config.idleCheckpointMs) {
        if (this.metadataDigest === undefined) await this.publishMetadataIfChanged(stats);
        await this.publishCheckpoint(s, observedAt);
      }
      this.shardStatus.set(s.shard, {
        shard: s.shard,
        globalCheckpoint: s.globalCheckpoint,
        maxSeqNo: s.maxSeqNo,
        cursor: this.cursorOf(s.shard),
        docs: s.docs,
        observedAt,
        published: this.published.get(s.shard) ?? 0,
        primaryTerm: s.primaryTerm,
        ...(this.readFrom.has(s.shard) ? { readFrom: this.readFrom.get(s.shard)! } : {}),
        ...(this.failovers.has(s.shard) ? { failovers: this.failovers.get(s.shard)! } : {}),
      });
    }
    return flowing;
  }

  /**
   * Visibility without forcing refreshes: a window (cursor, G] is read once every copy of the shard has completed
   * two refreshes since G was read (the first may have started before; the second started after, so it sees
   * every operation up to G). Readings queue up per shard, so a change waits for the refreshes after the next
   * reading, not behind a window still waiting. If the scheduled refreshes do not come in time (an idle or
   * search-idle shard), one refresh is forced.
   */
  private async scheduledCycle(stats: readonly ShardStats[], observedAt: number): Promise<boolean> {
    const { es, config } = this.deps;
    const now = Date.now();
    const windows: { s: ShardStats; at: number }[] = [];
    let force = false;
    for (const s of stats) {
      const step = visibilityStep(this.pending.get(s.shard) ?? [], { stats: s, observedAt }, now, this.cursorOf(s.shard), config.visibilityMaxWaitMs);
      if (step.window) windows.push({ s: step.window.stats, at: step.window.observedAt });
      force ||= step.force;
      if (step.queue.length > 0) this.pending.set(s.shard, step.queue);
      else this.pending.delete(s.shard);
    }
    if (windows.length > 0) {
      await this.publishMetadataIfChanged(stats);
      // Everything queued was read before this refresh, so all of it is visible after it.
      if (force) {
        await es.refresh(this.leaderIndex);
        this.forcedRefreshes++;
      }
      for (const { s, at } of windows) await this.publishWindow(s, at);
    }
    return windows.length > 0 || this.pending.size > 0;
  }

  private cursorOf(shard: number): number {
    return this.cursors.get(shard)?.cursor ?? -1;
  }

  private checkHistory(s: ShardStats): void {
    const c = this.cursors.get(s.shard);
    if (c && c.historyUuid && s.historyUuid && c.historyUuid !== s.historyUuid) {
      throw new KccrError(
        'HISTORY_CHANGED',
        `shard ${s.shard} of leader index ${this.leaderIndex} has a new history (${c.historyUuid} -> ${s.historyUuid}): it was restored or recreated. Replication of it stopped; start it again to bootstrap the follower anew.`,
        { shard: s.shard },
      );
    }
    // A global checkpoint below the cursor in the same history is a promoted replica that has not yet learnt how far
    // the old primary had got: everything up to the cursor was on every in-sync copy, so it stays. Nothing is read
    // until the checkpoint passes the cursor again (moments later).
    if (s.globalCheckpoint < this.cursorOf(s.shard)) {
      this.log.info(
        { shard: s.shard, cursor: this.cursorOf(s.shard), globalCheckpoint: s.globalCheckpoint },
        'global checkpoint below the cursor (a new primary catching up); waiting',
      );
    }
  }

  /**
   * A new primary term: a replica was promoted. Operations above the old global checkpoint may have been rolled
   * back on it, and a window read before could have missed a document's earlier version hidden behind such an
   * operation (the search sees the latest version of a document, which was above the checkpoint then). So the
   * documents of the recent changes — those changed since the cursor stood `failoverRereadMs` ago — are published
   * again; versions make what the follower already holds a no-op.
   */
  private async onPrimaryTerm(s: ShardStats): Promise<void> {
    const known = this.primaryTerms.get(s.shard);
    this.primaryTerms.set(s.shard, s.primaryTerm);
    if (known === undefined || s.primaryTerm <= known || !this.cursors.has(s.shard)) return;
    this.failovers.set(s.shard, (this.failovers.get(s.shard) ?? 0) + 1);
    const cursor = this.cursorOf(s.shard);
    const from = this.cursorSince(s.shard, Date.now() - this.deps.config.failoverRereadMs);
    await this.deps.es.refresh(this.leaderIndex);
    this.forcedRefreshes++;
    const docs = await this.publishRange(s, from, cursor, () => 'INDEX');
    this.log.warn(
      { shard: s.shard, term: s.primaryTerm, was: known, from, to: cursor, docs },
      'new primary term (failover): published the recent changes again',
    );
  }

  /**
   * Where the shard's cursor stood at `time`: the last move before it, else where the first move since started
   * (the cursor this process started from, when it has not run that long), else the cursor now.
   */
  private cursorSince(shard: number, time: number): number {
    const history = this.cursorHistory.get(shard) ?? [];
    const before = history.filter((h) => h.at <= time).at(-1);
    return before?.cursor ?? history[0]?.from ?? this.cursorOf(shard);
  }

  /** Keeps where the cursor stood over the last failoverRereadMs (and one entry before). */
  private noteCursor(shard: number, from: number, to: number): void {
    const history = this.cursorHistory.get(shard) ?? [];
    const now = Date.now();
    history.push({ at: now, from, cursor: to });
    const horizon = now - this.deps.config.failoverRereadMs;
    while (history.length > 1 && history[1]!.at <= horizon) history.shift();
    this.cursorHistory.set(shard, history);
  }

  private origin(shard: number, historyUuid: string): OriginBase {
    if (!this.base) throw new KccrError('INTERNAL', 'extractor used before init');
    return { ...this.base, shard, historyUuid };
  }

  /**
   * The records of these events, in order: an envelope larger than the chunk size becomes its chunks (see
   * shared/chunks.ts), which the producer sends contiguously.
   */
  private async encode(events: readonly ChangeEnvelope[], shard: number): Promise<OutgoingMessage[]> {
    const { registry, config } = this.deps;
    const values = await registry.encodeMany(this.schemaId, events);
    for (const v of values) this.bytesPublished += v.length;
    return events.flatMap((e, i) => {
      const origin = { id: e.id, op: e.op, shard: e.origin.shard, seqNo: e.origin.seqNo, version: e.version, cluster: e.origin.cluster, index: e.origin.index };
      return splitRecord({ key: e.id, value: values[i]!, partition: shard }, config.chunkBytes, { sourceBytes: e.source?.length ?? 0, origin });
    });
  }

  /**
   * A topic made elsewhere (or before) may take smaller records than the chunks: say so at start, with what to do,
   * rather than fail on the first large document.
   */
  private async checkTopicTakesChunks(): Promise<void> {
    const { kafka, config } = this.deps;
    const needed = config.chunkBytes + CHUNK_OVERHEAD_BYTES;
    const takes = Number((await kafka.topicConfig(this.topic, ['max.message.bytes']))['max.message.bytes']);
    if (Number.isFinite(takes) && takes < needed) {
      throw new KccrError(
        'KAFKA_REJECTED',
        `topic ${this.topic} takes records up to ${takes} bytes (max.message.bytes) but large documents are sent in chunks of up to ${needed} bytes (KCCR_CHUNK_BYTES=${config.chunkBytes} and headers); raise the topic's max.message.bytes to at least ${needed} (kafka-configs.sh --alter --entity-type topics --entity-name ${this.topic} --add-config max.message.bytes=${needed}) or lower KCCR_CHUNK_BYTES`,
        { topic: this.topic, maxMessageBytes: takes, needed },
      );
    }
  }

  private async publishMetadataIfChanged(stats: readonly ShardStats[]): Promise<void> {
    const { es, cursors, producer, config } = this.deps;
    const meta = await es.indexMeta(this.leaderIndex);
    if (meta.uuid !== this.base?.indexUuid) {
      throw new KccrError(
        'HISTORY_CHANGED',
        `leader index ${this.leaderIndex} has a new UUID (${this.base?.indexUuid} -> ${meta.uuid}): it was deleted and created again, or restored. Replication of it stopped; start it again to bootstrap the follower anew.`,
      );
    }
    if (leaderSource(meta).mode === 'disabled') {
      throw new KccrError('ES_REJECTED', `leader index ${this.leaderIndex} has _source disabled; kccr copies documents from _source and cannot replicate it`);
    }
    const settings = portableSettings(meta.settings);
    const digest = createHash('sha256')
      .update(JSON.stringify({ settings, mappings: meta.mappings, aliases: meta.aliases }))
      .digest('hex');
    if (digest === this.metadataDigest) return;
    const metadata: IndexMetadata = { indexUuid: meta.uuid, shards: meta.shards, settings, mappings: meta.mappings, aliases: meta.aliases, digest };
    const now = Date.now();
    for (const s of stats) {
      await producer.send(this.topic, await this.encode([metadataEvent(this.origin(s.shard, s.historyUuid), metadata, s.globalCheckpoint, now)], s.shard));
    }
    await this.deps.metadata.put(this.topic, metadata);
    await cursors.put(cursorKey(config.leaderCluster, this.leaderIndex, -1), { digest, indexUuid: meta.uuid });
    this.metadataDigest = digest;
    this.log.info({ digest: digest.slice(0, 12) }, 'published index metadata');
  }

  /** Publishes (cursor, G] of one shard, then its checkpoint, then moves the cursor to G. */
  private async publishWindow(s: ShardStats, observedAt: number): Promise<void> {
    const target = this.scan?.targets?.get(s.shard);
    await this.publishRange(s, this.cursorOf(s.shard), s.globalCheckpoint, (seqNo, bytes) => {
      if (target === undefined || seqNo > target) return 'INDEX';
      this.scan!.docs++;
      this.scan!.bytes += bytes;
      return 'READ';
    });
    await this.publishCheckpoint(s, observedAt);
    if (this.scan?.targets && this.scan.finishedAt === null && [...this.scan.targets].every(([shard, g]) => this.cursorOf(shard) >= g)) {
      this.scan.finishedAt = Date.now();
      this.log.info({ docs: this.scan.docs, bytes: this.scan.bytes, ms: this.scan.finishedAt - this.scan.startedAt }, 'scan bootstrap published');
    }
  }

  /**
   * A shard started from a bootstrap checkpoint (snapshot or none) has none of its documents at or below it in the
   * topic. Once a replication that needs them follows the index (a scan bootstrap: its follower reads the topic from
   * the start), they are published as READ events: the documents whose current _seq_no is at or below the
   * checkpoint — every later change is in the topic already. A document changed meanwhile is published again by
   * the next window with a higher version, which the follower keeps.
   */
  private async backfill(stats: readonly ShardStats[]): Promise<void> {
    const lacking = stats.filter((s) => this.cursors.get(s.shard)?.historyFrom !== undefined);
    if (lacking.length === 0 || !this.wantsHistory()) return;
    await this.publishMetadataIfChanged(stats);
    // The documents may never have been searched since they were written: make them visible.
    await this.deps.es.refresh(this.leaderIndex);
    this.forcedRefreshes++;
    for (const s of lacking) {
      const { historyFrom, ...complete } = this.cursors.get(s.shard)!;
      const docs = await this.publishRange(s, -1, historyFrom!, () => 'READ');
      const next: ExtractorCursor = { ...complete, updatedAt: Date.now() };
      await this.deps.cursors.put(cursorKey(this.deps.config.leaderCluster, this.leaderIndex, s.shard), next);
      this.cursors.set(s.shard, next);
      this.log.info({ shard: s.shard, docs, upTo: historyFrom }, 'published the documents the topic lacked below the bootstrap checkpoint');
    }
  }

  /** Publishes the documents of one shard whose _seq_no is in (from, to], in _seq_no order; returns how many. */
  private async publishRange(s: ShardStats, from: number, to: number, opOf: (seqNo: number, bytes: number) => 'INDEX' | 'READ'): Promise<number> {
    const { es, producer, config } = this.deps;
    const base = this.origin(s.shard, s.historyUuid);
    let after: number | undefined;
    let count = 0;
    for (;;) {
      const size = this.pageSize.get(s.shard) ?? config.batchSize;
      let raw: Buffer;
      try {
        // The primary's copy is asked first (any in-sync copy would do: see docs/design/multi-node.md); status shows it.
        raw = await es.searchRaw(
          this.leaderIndex,
          windowQuery(from, to, size, after),
          { preference: `_shards:${s.shard}|_prefer_nodes:${s.primaryNode}` },
          this.abort.signal,
        );
        this.readFrom.set(s.shard, s.primaryNode);
      } catch (e) {
        // A page of large documents the leader cannot build within its memory limits (429): ask for fewer.
        if (size > 1 && (e as KccrError).details?.status === 429) {
          this.pageSize.set(s.shard, Math.ceil(size / 2));
          continue;
        }
        throw e;
      }
      const page = parseSearchResponse(raw);
      // A partial page would let the cursor pass documents never published: retry the cycle instead.
      if (page.timedOut || (page.shards && page.shards.failed > 0)) {
        throw new KccrError('ES_UNAVAILABLE', `search of shard ${s.shard} of ${this.leaderIndex} was partial (timed out or shard failure)`);
      }
      const { hits } = page;
      if (hits.length === 0) break;
      const readAt = Date.now();
      const events = hits.map((h) => {
        if (!h.source) throw new KccrError('ES_REJECTED', `document ${h.id} of ${this.leaderIndex} came back without _source`);
        return indexEvent(
          base,
          { id: h.id, routing: h.routing, source: h.source, seqNo: h.seqNo, primaryTerm: h.primaryTerm },
          readAt,
          opOf(h.seqNo, h.source.length),
        );
      });
      await producer.send(this.topic, await this.encode(events, s.shard));
      this.progressAt = Date.now();
      this.published.set(s.shard, (this.published.get(s.shard) ?? 0) + events.length);
      count += events.length;
      after = hits[hits.length - 1]!.seqNo;
      this.pageSize.set(s.shard, nextPageSize(size, hits.length, raw.length, config.batchSize));
      if (hits.length < size) break;
    }
    return count;
  }

  private async publishCheckpoint(s: ShardStats, observedAt: number): Promise<void> {
    const { producer, cursors, config } = this.deps;
    const g = s.globalCheckpoint;
    const event = checkpointEvent(
      this.origin(s.shard, s.historyUuid),
      { globalCheckpoint: g, maxSeqNo: s.maxSeqNo, observedAt, docCount: s.docs, deleteTotal: s.deleteTotal, counts: null },
      Date.now(),
    );
    await producer.send(this.topic, await this.encode([event], s.shard));
    this.progressAt = Date.now();
    this.lastCheckpointAt.set(s.shard, Date.now());
    if (g !== this.cursorOf(s.shard) || !this.cursors.has(s.shard)) {
      const historyFrom = this.cursors.get(s.shard)?.historyFrom;
      const next: ExtractorCursor = {
        indexUuid: this.base!.indexUuid,
        historyUuid: s.historyUuid,
        cursor: g,
        updatedAt: Date.now(),
        ...(historyFrom !== undefined ? { historyFrom } : {}),
      };
      // The cursor moves only after everything up to G (and the checkpoint) is acknowledged by Kafka.
      await cursors.put(cursorKey(config.leaderCluster, this.leaderIndex, s.shard), next);
      this.noteCursor(s.shard, this.cursorOf(s.shard), g);
      this.cursors.set(s.shard, next);
    }
  }

  /**
   * Delete reconciliation, leader side: of the ids the follower holds, publish a DELETE for each that no longer
   * exists on the leader. First a count of the ids on the shard (a search: term lookups only, no document is
   * read); only when some are missing, the group is halved and counted again, down to small groups checked with a
   * realtime multi-get (existence only). A count sees what the leader's last refresh made visible; the applier
   * asks for a pass only once a checkpoint covers the deletes it saw counted, and the extractor publishes a
   * checkpoint only after making it visible, so a delete that set a pass off is visible to that pass.
   *
   * Version Gr + 1, with Gr read before the checks: below any re-creation after. Gr is the extraction cycle's
   * latest reading (no request of its own): it covers everything published, so it is above every version the
   * follower holds for a document it got from this extractor. A delete newer than that reading may get a version
   * the follower refuses (409, nothing lost, never a wrong delete); the delete count it moved asks for another
   * pass, which covers it.
   */
  async reconcile(req: ReconcileRequest): Promise<number> {
    if (!this.base) throw new KccrError('ES_UNAVAILABLE', `extractor for ${this.leaderIndex} is not initialised yet`);
    const { es, producer } = this.deps;
    const started = Date.now();
    const stats = this.lastStats.get(req.shard) ?? (await es.shardStats(this.leaderIndex)).find((s) => s.shard === req.shard);
    if (!stats) throw new KccrError('BAD_REQUEST', `reconcile request for shard ${req.shard} of ${this.leaderIndex}, which has no such shard`);
    if (req.ranges) return this.countRanges(req, stats);
    const gr = stats.globalCheckpoint;
    const work = { counts: 0, gets: 0 };
    const ids = req.ids ?? [];
    const missing = await this.missing(req.shard, ids, work);
    const now = Date.now();
    const base = this.origin(req.shard, stats.historyUuid);
    const gone = missing.map((d) => deleteEvent(base, d.id, d.routing, gr, now));
    if (gone.length) await producer.send(this.topic, await this.encode(gone, req.shard));
    this.reconcileStats.requests++;
    this.reconcileStats.idsChecked += ids.length;
    this.reconcileStats.counts += work.counts;
    this.reconcileStats.gets += work.gets;
    this.reconcileStats.deletesPublished += gone.length;
    this.reconcileStats.lastMs = Date.now() - started;
    return gone.length;
  }

  /**
   * Counts the shard's live documents per _seq_no range and answers with a CHECKPOINT carrying the counts, in the
   * shard's partition. Every range is at or below the cursor, read before counting: everything the counts cover was
   * published (and made visible) before, so the record comes after it and the follower side, counting when it gets
   * there, holds at least every document counted here (see the applier's bisect.ts). Ranges above the cursor are
   * refused: their documents may not be in the topic yet.
   */
  private async countRanges(req: ReconcileRequest, stats: ShardStats): Promise<number> {
    const ranges = req.ranges!;
    const started = Date.now();
    const cursor = this.cursorOf(req.shard);
    const above = ranges.find((r) => r.to > cursor);
    if (above)
      throw new KccrError(
        'BAD_REQUEST',
        `reconcile request for shard ${req.shard} of ${this.leaderIndex} counts up to ${above.to}, above what is published (${cursor})`,
      );
    const counts = await this.deps.es.counts(
      this.leaderIndex,
      ranges.map((r) => ({ range: { _seq_no: { gte: r.from, lte: r.to } } })),
      `_shards:${req.shard}|_prefer_nodes:${stats.primaryNode}`,
    );
    const now = Date.now();
    const checkpoint = {
      globalCheckpoint: cursor,
      maxSeqNo: stats.maxSeqNo,
      observedAt: now,
      docCount: null,
      deleteTotal: null,
      counts: { passId: req.passId, ranges: ranges.map((r, i) => ({ from: r.from, to: r.to, count: counts[i]! })) },
    };
    await this.deps.producer.send(this.topic, await this.encode([checkpointEvent(this.origin(req.shard, stats.historyUuid), checkpoint, now)], req.shard));
    this.reconcileStats.requests++;
    this.reconcileStats.counts += ranges.length;
    this.reconcileStats.lastMs = Date.now() - started;
    return 0;
  }

  /** The ids of `ids` (all held by one follower shard) that the leader shard no longer has. */
  private async missing(
    shard: number,
    ids: NonNullable<ReconcileRequest['ids']>,
    work: { counts: number; gets: number },
  ): Promise<NonNullable<ReconcileRequest['ids']>> {
    if (ids.length === 0) return [];
    if (ids.length > RECONCILE_GET_GROUP) {
      work.counts++;
      const r = await this.deps.es.search<{ hits: { total: { value: number } } }>(
        this.leaderIndex,
        { size: 0, track_total_hits: true, query: { ids: { values: ids.map((i) => i.id) } } },
        { preference: `_shards:${shard}` },
      );
      if (r.hits.total.value >= ids.length) return [];
      const half = Math.ceil(ids.length / 2);
      return [...(await this.missing(shard, ids.slice(0, half), work)), ...(await this.missing(shard, ids.slice(half), work))];
    }
    work.gets += ids.length;
    const docs = parseMgetResponse(await this.deps.es.mgetRaw(this.leaderIndex, ids, { _source: false }));
    const notFound = new Set(docs.filter((d) => !d.found).map((d) => d.id));
    return ids.filter((i) => notFound.has(i.id));
  }

  /** The status row last made, if any. */
  get reported(): ExtractorStatus | undefined {
    return this.lastStatus;
  }

  /**
   * Writes this index's status row: every `statusIntervalMs` from a timer of its own (a heartbeat the control
   * service ages: a row not renewed for 3 intervals shows STALE), and at once on a failure. A cycle that has had
   * no answer from the leader, Kafka or the registry for 3 intervals reports RETRYING, not its last good state.
   */
  private async publishStatus(force: boolean): Promise<void> {
    if (this.statusInFlight && !force) return;
    const { status, config } = this.deps;
    const now = Date.now();
    const stuckMs = this.cycleStartedAt !== undefined ? now - this.progressAt : 0;
    const stuck = this.state === 'running' && stuckMs > silentAfterMs(config.statusIntervalMs);
    const retrying =
      this.retrying.view() ??
      (stuck
        ? { reason: `no answer from the leader, Kafka or the registry for ${Math.round(stuckMs / 1000)} s`, since: this.progressAt, attempts: 0 }
        : undefined);
    const state = stuck ? 'retrying' : this.state;
    const reason = stuck ? retrying!.reason : this.reason;
    const s: ExtractorStatus = {
      kind: 'extractor',
      leaderCluster: config.leaderCluster,
      leaderIndex: this.leaderIndex,
      topic: this.topic,
      state,
      ...(reason ? { reason } : {}),
      ...(retrying && state !== 'running' ? { retrying } : {}),
      ...(this.base ? { indexUuid: this.base.indexUuid } : {}),
      shards: [...this.shardStatus.values()].sort((a, b) => a.shard - b.shard),
      reconcile: { ...this.reconcileStats },
      bytesPublished: this.bytesPublished,
      ...(this.failures.size ? { failures: Object.fromEntries(this.failures) } : {}),
      forcedRefreshes: this.forcedRefreshes,
      ...(this.scan
        ? {
            bootstrap: {
              mode: 'scan' as const,
              docs: this.scan.docs,
              total: this.scan.total,
              bytes: this.scan.bytes,
              startedAt: this.scan.startedAt,
              finishedAt: this.scan.finishedAt,
            },
          }
        : {}),
      restarts: this.restarts,
      reportIntervalMs: config.statusIntervalMs,
      updatedAt: now,
    };
    this.lastStatus = s;
    this.statusInFlight = true;
    try {
      await status.put(extractorStatusKey(config.leaderCluster, this.leaderIndex), s);
    } catch (e) {
      this.log.warn({ err: asKccrError(e).message }, 'status not written');
    } finally {
      this.statusInFlight = false;
    }
  }
}
