/**
 * Delete reconciliation, follower side. Deletes leave no trace in search, so the follower lists the ids of a shard
 * (page by page) and asks the leader side, through Kafka, which of them are gone; the extractor answers with
 * DELETE envelopes in the shard's partition. Each side keeps its own credentials.
 *
 * Passes are asked for when a checkpoint shows the leader shard's delete count moved, and run periodically.
 * Requests for a shard whose pass is running coalesce into one more pass after it.
 */
import { randomBytes } from 'node:crypto';
import type { ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import type { KafkaProducer } from '../shared/adapters/kafka.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { parseSearchResponse } from '../shared/raw-hits.js';
import type { ReconcileRequest, ReplicationSpec } from '../shared/replication.js';
import { RECONCILE_TOPIC } from '../shared/replication.js';

export interface ReconcilerDeps {
  readonly es: ElasticsearchAdapter;
  readonly producer: KafkaProducer;
  readonly logger: Logger;
  readonly pageSize: number;
  /** Least time between two passes of one shard: bounds the cost while deletes keep coming. */
  readonly minIntervalMs: number;
  /**
   * Requests the leader side has not checked yet (its group's lag on the request topic). A pass starts only
   * when that is 0: the extractor checks at a bounded rate, and passes asked for faster than it checks would
   * pile up and delay every delete behind them.
   */
  readonly backlog: () => Promise<number>;
}

export interface ReconcileStats {
  passes: number;
  idsSent: number;
  lastPassMs: number | null;
  lastPassAt: number | null;
}

const BACKLOG_POLL_MS = 500;

export class Reconciler {
  private readonly running = new Map<number, Promise<void>>();
  private readonly again = new Set<number>();
  private readonly lastEnd = new Map<number, number>();
  private readonly delayed = new Map<number, NodeJS.Timeout>();
  private stopped = false;
  readonly stats: ReconcileStats = { passes: 0, idsSent: 0, lastPassMs: null, lastPassAt: null };

  constructor(
    private readonly deps: ReconcilerDeps,
    private readonly spec: ReplicationSpec,
  ) {}

  request(shard: number, why: string): void {
    if (this.stopped || this.delayed.has(shard)) return;
    if (this.running.has(shard)) {
      this.again.add(shard);
      return;
    }
    const wait = (this.lastEnd.get(shard) ?? 0) + this.deps.minIntervalMs - Date.now();
    if (wait > 0) {
      this.delayed.set(
        shard,
        setTimeout(() => {
          this.delayed.delete(shard);
          this.request(shard, why);
        }, wait),
      );
      return;
    }
    const run = this.pass(shard, why)
      .catch((e: unknown) => this.deps.logger.warn({ followerIndex: this.spec.followerIndex, shard, err: errorMessage(e) }, 'reconciliation pass failed; the next one covers it'))
      .finally(() => {
        this.running.delete(shard);
        this.lastEnd.set(shard, Date.now());
        if (this.again.delete(shard)) this.request(shard, 'asked again during a pass');
      });
    this.running.set(shard, run);
  }

  private async pass(shard: number, why: string): Promise<void> {
    const { es, producer, pageSize } = this.deps;
    const index = this.spec.followerIndex;
    const started = Date.now();
    const passId = randomBytes(6).toString('hex');
    for (let waited = 0; !this.stopped; waited += BACKLOG_POLL_MS) {
      const pending = await this.deps.backlog().catch((e: unknown) => {
        this.deps.logger.debug({ err: errorMessage(e) }, 'cannot read the reconciliation backlog; the pass goes ahead');
        return 0;
      });
      if (pending === 0) break;
      if (waited % 30_000 === 0) this.deps.logger.debug({ followerIndex: index, shard, pending, waitedMs: waited }, 'reconciliation pass waits for the leader side to check earlier requests');
      await new Promise((r) => setTimeout(r, BACKLOG_POLL_MS));
    }
    if (this.stopped) return;
    // Documents written to the follower but not yet refreshed would be left out of this pass.
    await es.refresh(index).catch(() => undefined);
    let after: number | undefined;
    let sent = 0;
    for (;;) {
      if (this.stopped) return;
      const body = { size: pageSize, _source: false, sort: [{ _seq_no: 'asc' }], track_total_hits: false, ...(after !== undefined ? { search_after: [after] } : {}) };
      const { hits } = parseSearchResponse(await es.searchRaw(index, body, { preference: `_shards:${shard}` }));
      if (hits.length === 0) break;
      const req: ReconcileRequest = {
        leaderCluster: this.spec.leaderCluster,
        leaderIndex: this.spec.leaderIndex,
        shard,
        passId,
        ids: hits.map((h) => ({ id: h.id, routing: h.routing })),
        requestedAt: Date.now(),
      };
      await producer.send(RECONCILE_TOPIC, [{ key: `${this.spec.leaderCluster}/${this.spec.leaderIndex}/${shard}`, value: Buffer.from(JSON.stringify(req)), partition: 0 }]);
      sent += hits.length;
      const last = hits[hits.length - 1]!;
      after = Number(last.sort?.[0] ?? last.seqNo);
      if (hits.length < pageSize) break;
    }
    this.stats.passes++;
    this.stats.idsSent += sent;
    this.stats.lastPassMs = Date.now() - started;
    this.stats.lastPassAt = Date.now();
    this.deps.logger.debug({ followerIndex: index, shard, why, ids: sent, ms: this.stats.lastPassMs }, 'reconciliation pass sent');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.delayed.values()) clearTimeout(t);
    this.delayed.clear();
    await Promise.all(this.running.values());
  }
}
