/**
 * Delete reconciliation, follower side. Deletes leave no trace in search, so the two sides compare counts: the
 * follower's ledger (ledger.ts) per leader `_seq_no` range against the leader's live documents in the same ranges
 * (bisect.ts). A pass asks the leader side, through Kafka, for the counts of a shard's ranges up to the checkpoint
 * the follower has applied; the extractor counts and answers with a CHECKPOINT carrying them, in the shard's
 * partition, after everything the counts cover. The applier counts its ledger when it reaches that record (nothing
 * after it is applied yet), splits the ranges that differ and asks again, and lists only narrow ones: their ids go
 * to the leader side, which answers with a DELETE for each it no longer has. Each side keeps its own credentials.
 *
 * Passes are asked for when a checkpoint shows the leader shard's delete count moved, and run periodically.
 * Requests for a shard whose pass is running coalesce into one more pass after it.
 */
import { randomBytes } from 'node:crypto';
import type { KafkaProducer } from '../shared/adapters/kafka.js';
import type { RangeCounts } from '../shared/envelope.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { ReconcileRequest, ReplicationSpec } from '../shared/replication.js';
import { RECONCILE_TOPIC } from '../shared/replication.js';
import { DEFAULT_BISECT, nextStep, splitRange } from './bisect.js';
import type { BisectOptions, SeqRange } from './bisect.js';
import type { Ledger } from './ledger.js';

export interface ReconcilerDeps {
  readonly producer: KafkaProducer;
  readonly ledger: Ledger;
  readonly logger: Logger;
  /** Ids per request the leader side checks. */
  readonly pageSize: number;
  /** Least time between two passes of one shard: bounds the cost while deletes keep coming. */
  readonly minIntervalMs: number;
  /**
   * A pass that has had no answer from the leader side for this long is given up (the extractor down or restarted,
   * say: it does not keep requests), and asked for again.
   */
  readonly passTimeoutMs: number;
  /**
   * Requests the leader side has not checked yet (its group's lag on the request topic). A pass starts only
   * when that is 0: the extractor checks at a bounded rate, and passes asked for faster than it checks would
   * pile up and delay every delete behind them.
   */
  readonly backlog: () => Promise<number>;
  readonly bisect?: BisectOptions;
}

export interface ReconcileStats {
  passes: number;
  /** Passes given up for want of the leader side's counts. */
  abandoned: number;
  /** Ranges counted on both sides. */
  rangesCounted: number;
  idsSent: number;
  lastPassMs: number | null;
  lastPassAt: number | null;
}

/** The ranges one request asks the leader to count, at most. */
const MAX_RANGES_PER_REQUEST = 256;
const BACKLOG_POLL_MS = 500;

interface Pass {
  readonly id: string;
  readonly shard: number;
  /** Counts asked for and not answered yet. */
  waiting: number;
  /** Listings of ranges running. */
  listing: number;
  sent: number;
  /** When the pass last sent a request or got an answer. */
  progressAt: number;
  readonly finished: () => void;
}

export class Reconciler {
  private readonly running = new Map<number, Promise<void>>();
  private readonly again = new Set<number>();
  private readonly lastEnd = new Map<number, number>();
  private readonly delayed = new Map<number, NodeJS.Timeout>();
  private readonly passes = new Map<number, Pass>();
  /** Per shard, the leader _seq_no ranges the follower should hold: from the bootstrap's start to the checkpoint applied. */
  private span: (shard: number) => SeqRange | undefined = () => undefined;
  private stopped = false;
  readonly stats: ReconcileStats = { passes: 0, abandoned: 0, rangesCounted: 0, idsSent: 0, lastPassMs: null, lastPassAt: null };

  constructor(
    private readonly deps: ReconcilerDeps,
    private readonly spec: ReplicationSpec,
  ) {}

  /** The applier tells how far each shard is applied. */
  follow(span: (shard: number) => SeqRange | undefined): void {
    this.span = span;
  }

  private get opts(): BisectOptions {
    return this.deps.bisect ?? DEFAULT_BISECT;
  }

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
      .catch((e: unknown) =>
        this.deps.logger.warn({ followerIndex: this.spec.followerIndex, shard, err: errorMessage(e) }, 'reconciliation pass failed; the next one covers it'),
      )
      .finally(() => {
        this.passes.delete(shard);
        this.running.delete(shard);
        this.lastEnd.set(shard, Date.now());
        if (this.again.delete(shard)) this.request(shard, 'asked again during a pass');
      });
    this.running.set(shard, run);
  }

  private async pass(shard: number, why: string): Promise<void> {
    const index = this.spec.followerIndex;
    const started = Date.now();
    for (let waited = 0; !this.stopped; waited += BACKLOG_POLL_MS) {
      const pending = await this.deps.backlog().catch((e: unknown) => {
        this.deps.logger.debug({ err: errorMessage(e) }, 'cannot read the reconciliation backlog; the pass goes ahead');
        return 0;
      });
      if (pending === 0) break;
      if (waited % 30_000 === 0)
        this.deps.logger.debug(
          { followerIndex: index, shard, pending, waitedMs: waited },
          'reconciliation pass waits for the leader side to check earlier requests',
        );
      await new Promise((r) => setTimeout(r, BACKLOG_POLL_MS));
    }
    const span = this.span(shard);
    if (this.stopped || !span || span.to < span.from) return;
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const pass: Pass = { id: randomBytes(6).toString('hex'), shard, waiting: 0, listing: 0, sent: 0, progressAt: Date.now(), finished };
    this.passes.set(shard, pass);
    // A small shard is listed whole: cheaper than the round trips of counting, and no wait for the partition.
    const [held] = await this.deps.ledger.counts(shard, [span]);
    if (held! <= this.opts.listBelowDocs) {
      pass.listing++;
      await this.listRange(pass, span);
      pass.listing--;
      this.settle(pass);
    } else {
      await this.askCounts(pass, splitRange(span, this.opts.fanout));
    }
    let over = false;
    void done.then(() => (over = true));
    while (!over && !this.stopped) {
      const silent = Date.now() - pass.progressAt;
      if (silent >= this.deps.passTimeoutMs) {
        this.stats.abandoned++;
        this.again.add(shard);
        this.deps.logger.warn(
          { followerIndex: index, shard, waitingFor: pass.waiting },
          `reconciliation pass had no answer from the leader side for ${this.deps.passTimeoutMs} ms; asking again`,
        );
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise((r) => (timer = setTimeout(r, this.deps.passTimeoutMs - silent)))]);
      clearTimeout(timer);
    }
    if (this.stopped) return;
    this.stats.passes++;
    this.stats.idsSent += pass.sent;
    this.stats.lastPassMs = Date.now() - started;
    this.stats.lastPassAt = Date.now();
    this.deps.logger.debug({ followerIndex: index, shard, why, ids: pass.sent, ms: this.stats.lastPassMs }, 'reconciliation pass done');
  }

  private async askCounts(pass: Pass, ranges: readonly SeqRange[]): Promise<void> {
    for (let i = 0; i < ranges.length; i += MAX_RANGES_PER_REQUEST) {
      pass.waiting++;
      await this.send({ ...this.header(pass), ranges: ranges.slice(i, i + MAX_RANGES_PER_REQUEST) });
      pass.progressAt = Date.now();
    }
  }

  private header(pass: Pass): Omit<ReconcileRequest, 'ids' | 'ranges'> {
    return { leaderCluster: this.spec.leaderCluster, leaderIndex: this.spec.leaderIndex, shard: pass.shard, passId: pass.id, requestedAt: Date.now() };
  }

  private async send(req: ReconcileRequest): Promise<void> {
    await this.deps.producer.send(RECONCILE_TOPIC, [
      { key: `${req.leaderCluster}/${req.leaderIndex}/${req.shard}`, value: Buffer.from(JSON.stringify(req)), partition: 0 },
    ]);
  }

  /**
   * The leader's counts, read in the shard's partition: everything before them is applied and nothing after, so the
   * ledger is counted now (the partition waits for it). Ranges that differ are split and asked for again, or listed.
   */
  async onLeaderCounts(shard: number, counts: RangeCounts): Promise<void> {
    const pass = this.passes.get(shard);
    if (!pass || pass.id !== counts.passId || this.stopped) return;
    pass.progressAt = Date.now();
    const follower = await this.deps.ledger.counts(shard, counts.ranges);
    this.stats.rangesCounted += counts.ranges.length;
    const step = nextStep(
      counts.ranges.map((r, i) => ({ from: r.from, to: r.to, leader: r.count, follower: follower[i]! })),
      this.opts,
    );
    pass.waiting--;
    await this.askCounts(pass, step.split);
    for (const r of step.list) {
      pass.listing++;
      void this.listRange(pass, r).finally(() => {
        pass.listing--;
        this.settle(pass);
      });
    }
    this.settle(pass);
  }

  private settle(pass: Pass): void {
    if (pass.waiting === 0 && pass.listing === 0) pass.finished();
  }

  /** Sends the ids of a narrow range for the leader side to check. */
  private async listRange(pass: Pass, range: SeqRange): Promise<void> {
    try {
      for await (const ids of this.deps.ledger.list(pass.shard, range, this.deps.pageSize)) {
        if (this.stopped) return;
        await this.send({ ...this.header(pass), ids });
        pass.sent += ids.length;
      }
    } catch (e) {
      this.deps.logger.warn(
        { followerIndex: this.spec.followerIndex, shard: pass.shard, range, err: errorMessage(e) },
        'reconciliation could not list a range; the next pass covers it',
      );
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.delayed.values()) clearTimeout(t);
    this.delayed.clear();
    for (const p of this.passes.values()) p.finished();
    await Promise.all(this.running.values());
  }
}
