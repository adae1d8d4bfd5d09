/**
 * The applier service: one consumer group per follower cluster. Follows the replication specs, consumes the topics
 * of the active ones, and applies each partition in order through an IndexApplier.
 */
import { startMetricsServer } from '../shared/metrics/server.js';
import type { MetricsServer } from '../shared/metrics/server.js';
import { applierMetrics } from '../shared/metrics/service-metrics.js';
import { Histogram } from '../shared/metrics/exposition.js';
import { isEntryPoint } from '../shared/entry.js';
import { ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import { groupLag, KafkaAdapter } from '../shared/adapters/kafka.js';
import type { KafkaConsumer, KafkaProducer } from '../shared/adapters/kafka.js';
import { SchemaRegistryAdapter } from '../shared/adapters/registry.js';
import type { IndexMetadata } from '../shared/envelope.js';
import { errorMessage, failureKind, isRetriable, KccrError } from '../shared/errors.js';
import { abortableSleep, backoffDelay, RetryTracker, TRANSIENT_BACKOFF } from '../shared/retry.js';
import type { RetryingView } from '../shared/retry.js';
import { createLogger } from '../shared/logger.js';
import type { AppliedPosition, ApplierStatus, PositionRequest, ReplicationSpec } from '../shared/replication.js';
import {
  applierGroupId,
  applierStatusKey,
  RECONCILE_TOPIC,
  RECONCILE_TOPIC_CONFIGS,
  reconcileGroup,
  silentAfterMs,
  targetIndex,
} from '../shared/replication.js';
import { groupBySize } from '../shared/grouping.js';
import { runService } from '../shared/service.js';
import { CompactedTable, CONTROL_TOPICS } from '../shared/table.js';
import { parseReplicationSpec } from '../shared/rows.js';
import { changeTopic, deadLetterTopic } from '../shared/topics.js';
import { readApplierConfig } from './config.js';
import type { ApplierConfig } from './config.js';
import { IndexApplier } from './index-applier.js';
import type { IndexApplierDeps } from './index-applier.js';
import { describeTarget, pendingPosition, resolveTarget } from './positions.js';
import { Ledger, ledgerIndexName, ledgerRetires } from './ledger.js';
import type { LedgerMappings } from './ledger.js';
import { Reconciler } from './reconciler.js';

/** The service's connections to the follower, Kafka and the metadata table (its IndexAppliers get narrow ports of them). */
interface ApplierDeps {
  readonly es: ElasticsearchAdapter;
  readonly producer: KafkaProducer;
  readonly metadata: CompactedTable<IndexMetadata>;
}

interface Followed {
  spec: ReplicationSpec;
  /** Replaced by a fresh one when the position moves: counters and checkpoints start again with the replay. */
  applier: IndexApplier;
  readonly reconciler: Reconciler;
  readonly ledger: Ledger;
  /** The last position request applied to this follower index; kept in its status row across restarts. */
  position?: AppliedPosition;
  /** Why the pending position request could not be applied yet (it is tried again). */
  positionProblem?: string;
}

/** The length of the index names of one DELETE request (comma-separated), well below any proxy's URL limit. */
const DROP_URL_BYTES = 2000;

function retiredKey(s: ReplicationSpec): string {
  return `${s.followerIndex}\u0000${s.createdAt}`;
}

/** Names grouped so that each group, joined by commas, stays within `maxBytes` (a longer name goes alone). */
export function batchesOf(names: readonly string[], maxBytes: number): string[][] {
  return groupBySize(names, (name) => Buffer.byteLength(encodeURIComponent(name)) + 1, maxBytes);
}

/** How long a position request waits for the consumer group to empty (other appliers of the cluster leaving). */
const GROUP_EMPTY_WAIT_MS = 30_000;

export class ApplierService {
  private readonly logger;
  private readonly kafka: KafkaAdapter;
  private readonly deps: ApplierDeps;
  private readonly applierDeps: IndexApplierDeps;
  /** Each _bulk's duration per follower index, for /metrics. */
  private readonly bulkDurations = new Histogram('kccr_applier_bulk_duration_seconds', 'Duration of _bulk requests the follower answered');
  private readonly replications: CompactedTable<ReplicationSpec>;
  private readonly status: CompactedTable<ApplierStatus>;
  private readonly followed = new Map<string, Followed>(); // by topic
  private consumer?: KafkaConsumer;
  private subscribed = '';
  private syncing: Promise<void> = Promise.resolve();
  private syncRetry?: NodeJS.Timeout;
  private syncFailures = 0;
  private timers: NodeJS.Timeout[] = [];
  private statusInFlight = false;
  private metrics?: MetricsServer;
  /** The follower probe in flight (since when), and its run of failures. */
  private probeSince?: number;
  private readonly followerReach = new RetryTracker();
  /** Restarts of the consumers this service has replaced (the current one counts its own). */
  private consumerRestarts = 0;
  private stopping = false;
  /** Stopped replications whose ledger this applier dropped (a stop is final: a start again is a new replication). */
  private readonly retiredLedgers = new Set<string>();

  constructor(readonly config: ApplierConfig) {
    this.logger = createLogger('applier').child({ followerCluster: config.followerCluster });
    this.kafka = new KafkaAdapter({ ...config.kafka, clientId: `kccr-applier-${config.followerCluster}` }, this.logger);
    this.deps = {
      es: new ElasticsearchAdapter(config.follower),
      producer: this.kafka.producer(),
      metadata: new CompactedTable<IndexMetadata>(this.kafka, CONTROL_TOPICS.metadata, this.logger),
    };
    this.applierDeps = {
      config,
      follower: this.deps.es,
      decoder: new SchemaRegistryAdapter(config.registry),
      deadLetters: this.deps.producer,
      metadata: this.deps.metadata,
      logger: this.logger,
      meter: {
        bulk: (followerIndex, seconds) => this.bulkDurations.observe({ follower_cluster: config.followerCluster, follower_index: followerIndex }, seconds),
      },
    };
    this.replications = new CompactedTable<ReplicationSpec>(this.kafka, CONTROL_TOPICS.replications, this.logger, parseReplicationSpec);
    this.status = new CompactedTable<ApplierStatus>(this.kafka, CONTROL_TOPICS.status, this.logger);
  }

  async start(): Promise<void> {
    await Promise.all([this.replications.open(), this.status.open(), this.deps.metadata.open()]);
    // Bounded in time and in size: a flood of dead letters cannot fill Kafka's disk.
    await this.kafka.ensureTopic(deadLetterTopic(this.config.followerCluster), 1, {
      'retention.ms': String(30 * 24 * 3600 * 1000),
      'retention.bytes': String(this.config.deadLetterRetentionBytes),
      'max.message.bytes': String(this.config.maxMessageBytes),
    });
    await this.kafka.ensureTopic(RECONCILE_TOPIC, 1, { ...RECONCILE_TOPIC_CONFIGS });
    this.replications.on('change', () => this.scheduleSync());
    this.scheduleSync();
    await this.syncing;
    this.timers.push(setInterval(() => void this.publishStatus(), this.config.statusIntervalMs));
    this.timers.push(setInterval(() => this.periodicReconcile(), this.config.reconcileIntervalMs));
    this.metrics = await startMetricsServer(
      this.config.metrics,
      'applier',
      () => [
        ...applierMetrics(
          [...this.followed.values()].map((f) => this.statusOf(f)),
          Date.now(),
        ),
        this.bulkDurations.family(),
      ],
      this.logger,
    );
    this.logger.info({ follower: this.config.follower.url }, 'applier started');
  }

  private get groupId(): string {
    return applierGroupId(this.config.followerCluster);
  }

  /** Runs a sync after those queued; a failed one is tried again with backoff, even when no spec changes meanwhile. */
  private scheduleSync(): void {
    this.syncing = this.syncing
      .then(() => this.sync())
      .then(() => {
        this.syncFailures = 0;
      })
      .catch((e: unknown) => {
        this.logger.error({ err: errorMessage(e) }, 'could not follow the replication changes; trying again');
        this.retrySync();
      });
  }

  private retrySync(): void {
    if (this.stopping || this.syncRetry) return;
    this.syncFailures++;
    const delay = backoffDelay(Math.max(1, this.syncFailures), TRANSIENT_BACKOFF.initialMs, this.config.retryMaxMs);
    this.syncRetry = setTimeout(() => {
      this.syncRetry = undefined;
      this.scheduleSync();
    }, delay);
  }

  /** Brings the followed set and the consumer's subscription in line with the specs. */
  private async sync(): Promise<void> {
    if (this.stopping) return;
    const wanted = new Map<string, ReplicationSpec>();
    for (const [, spec] of this.replications.entries()) {
      if (spec.followerCluster !== this.config.followerCluster) continue;
      const topic = changeTopic(spec.leaderCluster, spec.leaderIndex);
      // One follower index per leader index is not stopped; stopped ones of the same topic (an index a rebuild
      // replaced, an earlier follower) give way to it.
      const other = wanted.get(topic);
      if (other && other.state !== 'stopped' && spec.state === 'stopped') continue;
      wanted.set(topic, spec);
    }
    for (const [topic, f] of this.followed) {
      const spec = wanted.get(topic);
      if (spec && spec.followerIndex === f.spec.followerIndex && spec.createdAt === f.spec.createdAt) {
        // The same replication, paused, resumed or updated: keep its applier, counters and checkpoints.
        if (spec.updatedAt !== f.spec.updatedAt) {
          const wasFailed = f.applier.failed;
          f.spec = spec;
          f.applier.updateSpec(spec);
          // A failed index had its partitions paused; an operator's new word gives them another chance.
          const shards = this.deps.metadata.get(topic)?.shards ?? 0;
          if (wasFailed && shards > 0)
            this.consumer?.resume(
              topic,
              Array.from({ length: shards }, (_, i) => i),
            );
          await this.writeStatus(this.statusOf(f));
        }
        continue;
      }
      this.followed.delete(topic);
      this.bulkDurations.forget((l) => l.follower_index === f.spec.followerIndex);
      await f.reconciler.stop();
      // The final word of this applier: its counters, as stopped.
      await this.writeStatus({ ...this.statusOf(f), state: 'stopped' });
    }
    for (const [topic, spec] of wanted) {
      if (this.followed.has(topic)) continue;
      const backlog = async () => {
        const [high, committed] = await Promise.all([
          this.kafka.offsets(RECONCILE_TOPIC),
          this.kafka.groupOffsets(reconcileGroup(spec.leaderCluster), RECONCILE_TOPIC),
        ]);
        return groupLag(high, committed).reduce((n, l) => n + (l.behind ?? 0), 0);
      };
      const ledger = new Ledger(this.deps.es, spec.followerIndex, this.config.gcDeletes, spec.createdAt);
      const reconciler = new Reconciler(
        {
          ledger,
          producer: this.deps.producer,
          logger: this.logger,
          pageSize: this.config.reconcilePageSize,
          minIntervalMs: this.config.reconcileMinIntervalMs,
          passTimeoutMs: this.config.reconcilePassTimeoutMs,
          backlog,
          bisect: this.config.reconcileBisect,
        },
        spec,
      );
      // The position request this follower index last applied, as its status row says: a restarted applier does
      // not apply it again.
      const position = this.status.get(applierStatusKey(spec.followerCluster, spec.followerIndex))?.position;
      this.followed.set(topic, {
        spec,
        applier: new IndexApplier(this.applierDeps, spec, topic, reconciler, ledger),
        reconciler,
        ledger,
        ...(position ? { position } : {}),
      });
    }
    const pending = [...this.followed.values()].flatMap((f) => {
      const request = pendingPosition(f.spec, f.position);
      return request ? [{ f, request }] : [];
    });
    const active = [...this.followed.entries()]
      .filter(([, f]) => f.spec.state === 'active')
      .map(([t]) => t)
      .sort();
    const key = active.join(',');
    const unapplied: string[] = [];
    if (key !== this.subscribed || pending.length > 0) {
      // Disconnecting lets the batches in flight finish and commit; the group is then empty (when this applier is
      // its only member), which is what setting its offsets needs.
      this.consumerRestarts += this.consumer?.restarts ?? 0;
      await this.consumer?.disconnect();
      this.consumer = undefined;
      this.subscribed = '';
      for (const { f, request } of pending) {
        if (!(await this.applyPosition(f, request))) unapplied.push(f.spec.followerIndex);
      }
      await this.consume(active);
    }
    // After the consumer: nothing of this applier writes a stopped replication's ledger any more.
    const retired = await this.dropRetiredLedgers();
    // Tried again with backoff (the failed sync is); meanwhile every replication consumes, from where it was.
    if (unapplied.length > 0) throw new KccrError('KAFKA_UNAVAILABLE', `position requests of ${unapplied.join(', ')} are not applied yet`);
    if (!retired) throw new KccrError('ES_UNAVAILABLE', 'the ledgers of stopped replications are not dropped yet');
  }

  /**
   * Drops the ledger of every replication of this follower cluster that is stopped (by an operator, by a rebuild
   * that replaced its index, or by a failed bootstrap): its follower index is an ordinary index now, and nothing
   * reads the ledger again (a replication started again into that index builds a new one from its documents).
   * Called once the consumer no longer reads the stopped topics, so no write of this applier can bring a dropped
   * ledger back; an applier started later drops those stopped meanwhile. One request per batch of names (an absent
   * one is no error). Returns false when the follower refused or did not answer: the sync is tried again.
   */
  private async dropRetiredLedgers(): Promise<boolean> {
    const due = this.replications
      .entries()
      .map(([, s]) => s)
      .filter((s) => s.followerCluster === this.config.followerCluster && s.state === 'stopped' && !this.retiredLedgers.has(retiredKey(s)));
    if (due.length === 0) return true;
    for (const f of this.followed.values()) if (f.spec.state === 'stopped') await f.reconciler.stop();
    const dropped: string[] = [];
    try {
      const byLedger = new Map(due.map((s) => [ledgerIndexName(s.followerIndex), s]));
      for (const batch of batchesOf([...byLedger.keys()], DROP_URL_BYTES)) {
        // Those present, with whose they are: one request for the batch.
        const path = `/${batch.map(encodeURIComponent).join(',')}/_mapping`;
        const r = await this.deps.es.request<LedgerMappings>('GET', path, {
          query: { ignore_unavailable: 'true', expand_wildcards: 'open,closed,hidden' },
          ignore: [404],
        });
        const present = r.status === 200 ? Object.entries(r.body) : [];
        const drop = present.filter(([name, m]) => ledgerRetires(m.mappings?._meta, byLedger.get(name)?.createdAt ?? Number.NaN)).map(([name]) => name);
        await this.deps.es.deleteIndices(drop);
        dropped.push(...drop);
      }
    } catch (e) {
      this.logger.warn({ ledgers: due.length, err: errorMessage(e) }, 'could not drop the ledgers of stopped replications; trying again');
      return false;
    }
    for (const s of due) this.retiredLedgers.add(retiredKey(s));
    if (dropped.length > 0) this.logger.info({ ledgers: dropped }, 'dropped the ledgers of stopped replications');
    return true;
  }

  private async consume(active: readonly string[]): Promise<void> {
    const key = active.join(',');
    if (active.length === 0) {
      this.subscribed = key;
      return;
    }
    for (const topic of active) await this.waitForTopic(topic);
    const consumer = this.kafka.consumer(this.groupId, { maxBytesPerPartition: this.config.maxBytesPerPartition });
    this.consumer = consumer;
    await consumer.subscribe([...active], true);
    await consumer.run(
      async (batch, control) => {
        const f = this.followed.get(batch.topic);
        if (!f || f.spec.state !== 'active' || f.applier.failed) return;
        const applier = f.applier;
        try {
          await applier.handleBatch(batch, control);
        } catch (e) {
          // One follower index never stops the others: what is not resolved is fetched again after a backoff
          // (transient), or this partition is paused with the reason in its status and probed again later.
          if (failureKind(e) !== 'permanent') {
            // The partition pauses (the consumer fetches the others meanwhile) and is read again from what is committed.
            const delay = applier.retryDelay(batch.partition, e);
            this.logger.warn(
              { topic: batch.topic, partition: batch.partition, err: errorMessage(e), retryInMs: delay },
              'batch failed; the partition waits and is read again',
            );
            consumer.pause(batch.topic, [batch.partition]);
            this.later(delay, () => {
              if (this.consumer === consumer && f.applier === applier && !applier.failed) consumer.resume(batch.topic, [batch.partition]);
            });
            return;
          }
          this.logger.error(
            { topic: batch.topic, partition: batch.partition, err: errorMessage(e), probeInMs: this.config.failedProbeMs },
            'replication of this index failed; probing again later',
          );
          applier.fail(errorMessage(e));
          consumer.pause(batch.topic, [batch.partition]);
          this.later(this.config.failedProbeMs, () => {
            if (this.consumer !== consumer || f.applier !== applier || !applier.failed) return;
            applier.clearFailure();
            consumer.resume(batch.topic, [batch.partition]);
          });
        }
      },
      { partitionsConsumedConcurrently: this.config.concurrency },
    );
    this.subscribed = key;
    this.logger.info({ topics: active }, 'consuming');
  }

  /** Runs `fn` after `ms` unless the service stops first. */
  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.splice(this.timers.indexOf(timer), 1);
      if (!this.stopping) fn();
    }, ms);
    this.timers.push(timer);
  }

  /**
   * Sets the group's offsets of one topic where the request says, with the consumer stopped. The applied request is
   * written to the status row before consuming again, so that a restart does not apply it twice (a crash between the
   * offsets and the status row applies it once more, which a replay makes harmless). Returns false when it could not
   * be applied now (the reason goes to the status row).
   */
  private async applyPosition(f: Followed, request: PositionRequest): Promise<boolean> {
    const topic = f.applier.topic;
    const key = applierStatusKey(f.spec.followerCluster, f.spec.followerIndex);
    const log = this.logger.child({ followerIndex: f.spec.followerIndex, topic, requestId: request.requestId, to: describeTarget(request.to) });
    const deadline = Date.now() + GROUP_EMPTY_WAIT_MS;
    for (let attempt = 1; ; attempt++) {
      // Another applier of this follower cluster (same group) may have applied it meanwhile.
      const reported = this.status.get(key)?.position;
      if (reported?.requestId === request.requestId) {
        f.position = reported;
        f.positionProblem = undefined;
        return true;
      }
      try {
        let offsets: { partition: number; offset: string }[] = [];
        // A topic the extractor has not created yet holds nothing to skip or replay.
        if ((await this.kafka.partitionCount(topic)) !== undefined) {
          offsets = await resolveTarget(this.kafka, topic, request.to);
          await this.kafka.setGroupOffsets(this.groupId, topic, offsets);
        }
        // A fresh applier: counters and checkpoints start again with the replay, and a follower index deleted by
        // hand is created again from the leader's metadata.
        f.applier = new IndexApplier(this.applierDeps, f.spec, topic, f.reconciler, f.ledger);
        f.position = { requestId: request.requestId, appliedAt: Date.now(), offsets };
        f.positionProblem = undefined;
        await this.writeStatus(this.statusOf(f));
        log.info({ offsets }, 'moved the position in the topic');
        return true;
      } catch (e) {
        f.positionProblem = `the position request ${request.requestId} (to ${describeTarget(request.to)}) is not applied yet: ${errorMessage(e)}`;
        if (!isRetriable(e) || Date.now() >= deadline || this.stopping) {
          log.warn({ err: errorMessage(e) }, 'could not move the position in the topic; trying again later');
          await this.writeStatus(this.statusOf(f)).catch(() => undefined);
          return false;
        }
        log.info({ err: errorMessage(e), attempt }, 'waiting to move the position in the topic');
        await abortableSleep(backoffDelay(attempt, 250, 5000));
      }
    }
  }

  /** The index applier's status with what this service adds: the last position request applied. */
  private statusOf(f: Followed): ApplierStatus {
    const s = f.applier.status();
    const unreachable = s.state === 'syncing' && f.spec.state === 'active' ? this.followerUnreachable(Date.now()) : undefined;
    return {
      ...s,
      ...(unreachable ? { state: 'retrying' as const, reason: `the follower cannot be reached: ${unreachable.reason}`, retrying: unreachable } : {}),
      ...(f.position ? { position: f.position } : {}),
      ...(f.positionProblem && !s.reason ? { reason: f.positionProblem } : {}),
      restarts: this.consumerRestarts + (this.consumer?.restarts ?? 0),
      reportIntervalMs: this.config.statusIntervalMs,
    };
  }

  /** The extractor creates the topic; a follower started first waits for it rather than failing. */
  private async waitForTopic(topic: string): Promise<void> {
    for (let i = 0; (await this.kafka.partitionCount(topic)) === undefined; i++) {
      if (this.stopping) return;
      if (i % 10 === 0) this.logger.info({ topic }, 'waiting for the extractor to create the topic');
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  private periodicReconcile(): void {
    for (const [topic, f] of this.followed) {
      if (f.spec.state !== 'active') continue;
      const shards = this.deps.metadata.get(topic)?.shards ?? 0;
      for (let s = 0; s < shards; s++) f.reconciler.request(s, 'periodic');
    }
  }

  private async writeStatus(s: ApplierStatus): Promise<void> {
    await this.status.put(applierStatusKey(s.followerCluster, s.followerIndex), s);
  }

  /**
   * Whether the follower answers, asked every report interval (one HEAD of a followed index), so that a follower
   * down while nothing is being written shows as RETRYING too, not as the last good state. Only transient failures
   * count: a refusal is an answer.
   */
  private probeFollower(): void {
    if (this.probeSince !== undefined) return;
    const active = [...this.followed.values()].find((f) => f.spec.state === 'active')?.spec;
    const target = active ? targetIndex(active) : undefined;
    if (target === undefined) return this.followerReach.succeeded();
    this.probeSince = Date.now();
    this.deps.es
      .request('HEAD', `/${encodeURIComponent(target)}`, { ignore: [404] })
      .then(
        () => this.followerReach.succeeded(),
        (e: unknown) => (failureKind(e) === 'transient' ? void this.followerReach.failed(e) : this.followerReach.succeeded()),
      )
      .finally(() => (this.probeSince = undefined));
  }

  /** The follower's last probe failure, or a probe unanswered for 3 report intervals (at least 3 s). */
  private followerUnreachable(now: number): RetryingView | undefined {
    const failed = this.followerReach.view();
    if (failed) return failed;
    if (this.probeSince === undefined || now - this.probeSince <= silentAfterMs(this.config.statusIntervalMs)) return undefined;
    return { reason: `no answer for ${Math.round((now - this.probeSince) / 1000)} s`, since: this.probeSince, attempts: 0 };
  }

  /** Every report interval, a row per followed index (a heartbeat: the control service shows STALE when rows age). */
  private async publishStatus(): Promise<void> {
    this.probeFollower();
    if (this.statusInFlight) return;
    this.statusInFlight = true;
    try {
      for (const [, f] of this.followed) {
        await this.writeStatus(this.statusOf(f)).catch((e: unknown) => this.logger.warn({ err: errorMessage(e) }, 'status not written'));
      }
    } finally {
      this.statusInFlight = false;
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    if (this.syncRetry) clearTimeout(this.syncRetry);
    await this.syncing.catch(() => undefined);
    // Disconnecting lets the batch in flight finish and commit.
    await this.consumer?.disconnect();
    await Promise.all([...this.followed.values()].map((f) => f.reconciler.stop()));
    await this.publishStatus();
    await this.deps.producer.disconnect();
    await Promise.all([this.replications.close(), this.status.close(), this.deps.metadata.close()]);
    await this.kafka.close();
    await this.deps.es.close();
    await this.metrics?.close();
  }
}

if (isEntryPoint(import.meta.url)) {
  void runService('applier', () => new ApplierService(readApplierConfig()));
}
