/**
 * The extractor service: one per leader cluster. Follows the replication specs, runs an IndexExtractor for every
 * leader index that some follower replicates, and answers the follower side's delete-reconciliation requests.
 */
import { isEntryPoint } from '../shared/entry.js';
import { ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import { KafkaAdapter } from '../shared/adapters/kafka.js';
import { SchemaRegistryAdapter } from '../shared/adapters/registry.js';
import type { IndexMetadata } from '../shared/envelope.js';
import { errorMessage, isRetriable } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import type { BootstrapCheckpoints, ExtractorCursor, ExtractorStatus, ReconcileRequest, ReplicationSpec } from '../shared/replication.js';
import { parseReconcileRequest, RECONCILE_TOPIC, RECONCILE_TOPIC_CONFIGS, reconcileGroup } from '../shared/replication.js';
import { abortableSleep, backoffDelay, retry, TRANSIENT_BACKOFF } from '../shared/retry.js';
import { runService } from '../shared/service.js';
import { CompactedTable, CONTROL_TOPICS } from '../shared/table.js';
import { parseReplicationSpec } from '../shared/rows.js';
import { readExtractorConfig } from './config.js';
import type { ExtractorConfig } from './config.js';
import { IndexExtractor } from './index-extractor.js';
import { startMetricsServer } from '../shared/metrics/server.js';
import type { MetricsServer } from '../shared/metrics/server.js';
import { extractorMetrics } from '../shared/metrics/service-metrics.js';
import type { ExtractorDeps } from './index-extractor.js';

export class ExtractorService {
  private readonly extractors = new Map<string, { extractor: IndexExtractor; since: number }>();
  private readonly deps: ExtractorDeps;
  private readonly replications: CompactedTable<ReplicationSpec>;
  private readonly reconcileConsumer;
  private stopping = false;
  private metrics?: MetricsServer;

  constructor(readonly config: ExtractorConfig) {
    const logger = createLogger('extractor').child({ leaderCluster: config.leaderCluster });
    const kafka = new KafkaAdapter({ ...config.kafka, clientId: `kccr-extractor-${config.leaderCluster}` }, logger);
    this.deps = {
      config,
      es: new ElasticsearchAdapter(config.leader),
      kafka,
      producer: kafka.producer({ compression: config.compression }),
      registry: new SchemaRegistryAdapter(config.registry),
      cursors: new CompactedTable<ExtractorCursor | { digest: string; indexUuid: string }>(kafka, CONTROL_TOPICS.cursors, logger),
      status: new CompactedTable<ExtractorStatus>(kafka, CONTROL_TOPICS.status, logger),
      metadata: new CompactedTable<IndexMetadata>(kafka, CONTROL_TOPICS.metadata, logger),
      logger,
    };
    this.replications = new CompactedTable<ReplicationSpec>(kafka, CONTROL_TOPICS.replications, logger, parseReplicationSpec);
    this.reconcileConsumer = kafka.consumer(reconcileGroup(config.leaderCluster));
  }

  async start(): Promise<void> {
    const { kafka, cursors, status, logger } = this.deps;
    await Promise.all([cursors.open(), status.open(), this.deps.metadata.open(), this.replications.open()]);
    await kafka.ensureTopic(RECONCILE_TOPIC, 1, { ...RECONCILE_TOPIC_CONFIGS });
    this.replications.on('change', () => this.sync());
    this.sync();
    await this.reconcileConsumer.subscribe([RECONCILE_TOPIC], false);
    await this.reconcileConsumer.run(async (batch, control) => {
      for (const m of batch.messages) {
        if (!control.isActive()) return;
        await this.handleReconcile(m.value);
        await control.commit(String(BigInt(m.offset) + 1n));
        await control.heartbeat();
      }
    });
    this.metrics = await startMetricsServer(
      this.config.metrics,
      'extractor',
      () =>
        extractorMetrics(
          [...this.extractors.values()].flatMap((e) => (e.extractor.reported ? [e.extractor.reported] : [])),
          Date.now(),
        ),
      logger,
    );
    logger.info({ leader: this.config.leader.url }, 'extractor started');
  }

  /** Indices to extract: those of this leader cluster that some replication does not have stopped. */
  private wanted(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [, spec] of this.replications.entries()) {
      if (spec.leaderCluster !== this.config.leaderCluster || spec.state === 'stopped') continue;
      out.set(spec.leaderIndex, Math.max(out.get(spec.leaderIndex) ?? 0, spec.updatedAt));
    }
    return out;
  }

  /**
   * Where a leader index without cursors starts: after the bootstrap checkpoints when every replication of it has
   * them (snapshot or `none` bootstraps; the earliest per shard serves all), else from the first operation (scan).
   */
  private specsOf(leaderIndex: string): ReplicationSpec[] {
    return this.replications
      .entries()
      .map(([, s]) => s)
      .filter((s) => s.leaderCluster === this.config.leaderCluster && s.leaderIndex === leaderIndex && s.state !== 'stopped');
  }

  private bootstrapStart(leaderIndex: string): BootstrapCheckpoints | undefined {
    const specs = this.specsOf(leaderIndex);
    if (specs.length === 0 || specs.some((s) => !s.bootstrapCheckpoints)) return undefined;
    const [first, ...rest] = specs.map((s) => s.bootstrapCheckpoints!);
    if (rest.some((c) => c.indexUuid !== first!.indexUuid)) return undefined;
    return {
      ...first!,
      shards: first!.shards.map((sh) => ({
        ...sh,
        globalCheckpoint: Math.min(sh.globalCheckpoint, ...rest.map((c) => c.shards.find((x) => x.shard === sh.shard)?.globalCheckpoint ?? -1)),
      })),
    };
  }

  private sync(): void {
    if (this.stopping) return;
    const wanted = this.wanted();
    for (const [index, entry] of this.extractors) {
      // A failed extractor is tried again when its replication is started anew (a newer spec).
      const restart = entry.extractor.failed && (wanted.get(index) ?? 0) > entry.since;
      if (!wanted.has(index) || restart) {
        this.extractors.delete(index);
        void entry.extractor.stop();
      }
    }
    for (const [index] of wanted) {
      if (this.extractors.has(index)) continue;
      const extractor = this.createExtractor(index);
      this.extractors.set(index, { extractor, since: Date.now() });
      this.supervise(index, extractor);
    }
  }

  private createExtractor(index: string): IndexExtractor {
    return new IndexExtractor(
      this.deps,
      index,
      () => this.bootstrapStart(index),
      (time) => this.specsOf(index).every((s) => s.createdAt > time),
      () => this.specsOf(index).some((s) => !s.bootstrapCheckpoints),
    );
  }

  /**
   * No silent death: an index's loop ends only when it is stopped. If it ends any other way (a defect), the index
   * is extracted again by a new IndexExtractor after a backoff; the restart is logged and counted in its status.
   */
  private supervise(index: string, extractor: IndexExtractor): void {
    extractor.start();
    const ended = (e?: unknown) => {
      if (this.stopping || this.extractors.get(index)?.extractor !== extractor) return;
      const restarts = extractor.restarts + 1;
      const delay = backoffDelay(Math.min(restarts, 8), TRANSIENT_BACKOFF.initialMs, TRANSIENT_BACKOFF.maxMs);
      this.deps.logger.error(
        { index, restarts, err: e === undefined ? 'ended' : errorMessage(e), restartInMs: delay },
        'extraction of this index ended unexpectedly; starting it again',
      );
      this.extractors.delete(index);
      setTimeout(() => {
        if (this.stopping || this.extractors.has(index) || !this.wanted().has(index)) return;
        const next = this.createExtractor(index);
        next.restarts = restarts;
        this.extractors.set(index, { extractor: next, since: Date.now() });
        this.supervise(index, next);
      }, delay);
    };
    extractor.running?.then(
      () => ended(),
      (e: unknown) => ended(e),
    );
  }

  private async handleReconcile(value: Buffer | null): Promise<void> {
    if (!value) return;
    let req: ReconcileRequest;
    try {
      req = parseReconcileRequest(value);
    } catch (e) {
      this.deps.logger.warn({ err: errorMessage(e) }, 'ignoring a reconcile request');
      return;
    }
    if (req.leaderCluster !== this.config.leaderCluster) return;
    const extractor = this.extractors.get(req.leaderIndex)?.extractor;
    if (!extractor || extractor.failed) return;
    const started = Date.now();
    try {
      // A few tries only: the follower side asks again (the next pass covers whatever this one could not check).
      await retry(() => extractor.reconcile(req), { attempts: 5, initialMs: 500, maxMs: 5000, retriable: (e) => isRetriable(e) && !this.stopping });
    } catch (e) {
      this.deps.logger.warn({ index: req.leaderIndex, shard: req.shard, err: errorMessage(e) }, 'reconcile request dropped; the next pass covers it');
      return;
    }
    // Bounded cost on the leader: at most reconcileIdsPerSecond realtime gets.
    const minMs = ((req.ids?.length ?? 0) / this.config.reconcileIdsPerSecond) * 1000;
    const spent = Date.now() - started;
    if (spent < minMs) await abortableSleep(minMs - spent);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.reconcileConsumer.disconnect();
    await Promise.all([...this.extractors.values()].map((e) => e.extractor.stop()));
    this.extractors.clear();
    await this.deps.producer.disconnect();
    await Promise.all([this.deps.cursors.close(), this.deps.status.close(), this.deps.metadata.close(), this.replications.close()]);
    await this.deps.kafka.close();
    await this.deps.es.close();
    await this.metrics?.close();
  }
}

if (isEntryPoint(import.meta.url)) {
  void runService('extractor', () => new ExtractorService(readExtractorConfig()));
}
