/**
 * A compacted Kafka topic read as a key -> JSON table. kccr keeps its control state this way (replications,
 * extractor cursors, status): Kafka is the only thing the leader side and the follower side must both reach,
 * so each side keeps its own cluster credentials.
 *
 * Every process reads the whole topic from the start (it is compacted, so small) and then follows it;
 * `ready()` resolves once what was in the topic when it opened has been read.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { KafkaAdapter, KafkaConsumer, KafkaProducer } from './adapters/kafka.js';
import { errorMessage, KccrError } from './errors.js';
import { retry } from './retry.js';
import type { Logger } from './logger.js';

export const CONTROL_TOPICS = {
  replications: 'kccr._replications',
  cursors: 'kccr._cursors',
  status: 'kccr._status',
  /** Registered clusters (control service): endpoints and references to credentials, never secrets. */
  clusters: 'kccr._clusters',
  /** The latest metadata of every extracted leader index, keyed by topic: the applier creates follower indices from it. */
  metadata: 'kccr._metadata',
  /** Auto-follow rules (control service), keyed `<follower cluster>/<leader cluster>/<rule name>`. */
  autofollow: 'kccr._autofollow',
} as const;

/** How every control table is created: compacted, rows compactable at once, segments rolled hourly. */
export const TABLE_TOPIC_CONFIGS: Readonly<Record<string, string>> = { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0', 'segment.ms': '3600000' };

/**
 * Checks a row read from the table and returns it typed, or throws saying what is wrong (rows.ts): a row that does
 * not pass is refused, as if absent, and reported.
 */
export type RowParser<T> = (key: string, value: unknown) => T;

/** A row the parser refused: what was wrong, and where it is in the topic. */
export interface RefusedRow {
  readonly key: string;
  readonly reason: string;
  readonly offset: string;
  readonly at: number;
}

/** At most this many refused rows are kept for reports (the newest); the log has them all. */
const MAX_REFUSED = 100;

export class CompactedTable<T> extends EventEmitter<{ change: [key: string, value: T | undefined] }> {
  private readonly rows = new Map<string, T>();
  private readonly refusedRows = new Map<string, RefusedRow>();
  private consumer?: KafkaConsumer;
  private producer?: KafkaProducer;
  private readyPromise?: Promise<void>;

  constructor(
    private readonly kafka: KafkaAdapter,
    readonly topic: string,
    private readonly logger?: Logger,
    private readonly parse?: RowParser<T>,
  ) {
    super();
  }

  /** The rows refused since this reader opened, by key (a later valid row of the key clears it). */
  refused(): RefusedRow[] {
    return [...this.refusedRows.values()];
  }

  /** Creates the topic when missing, starts following it and resolves once the existing rows are loaded. */
  async open(): Promise<void> {
    if (this.readyPromise) return this.readyPromise;
    this.readyPromise = this.load();
    return this.readyPromise;
  }

  private async load(): Promise<void> {
    // A Kafka just restarted may not host the topic's partition for a moment: a few quick tries before giving up
    // (a service's start is retried with backoff above this).
    const high = await retry(
      async () => {
        await this.kafka.ensureTopic(this.topic, 1, { ...TABLE_TOPIC_CONFIGS });
        return BigInt((await this.kafka.offsets(this.topic))[0]?.high ?? '0');
      },
      { attempts: 8, initialMs: 250, maxMs: 4000 },
    );
    // A group of its own per reader: every reader sees every row; nothing is ever committed.
    this.consumer = this.kafka.consumer(`kccr-table-${this.topic}-${randomBytes(6).toString('hex')}`, { maxBytesPerPartition: 4 * 1024 * 1024 });
    await this.consumer.subscribe([this.topic], true);
    let caughtUp: () => void = () => undefined;
    const loaded = new Promise<void>((resolve) => (caughtUp = resolve));
    if (high === 0n) caughtUp();
    await this.consumer.run(async (batch, control) => {
      for (const m of batch.messages) {
        control.resolve(m.offset);
        // Before anything that skips a row: a refused or keyless last row must not keep open() waiting. (The rows
        // of this batch are all handled before whoever awaits open() runs.)
        if (BigInt(m.offset) + 1n >= high) caughtUp();
        const key = m.key?.toString('utf8');
        if (key === undefined) continue;
        let value: T | undefined;
        if (m.value !== null && m.value.length > 0) {
          try {
            const json: unknown = JSON.parse(m.value.toString('utf8'));
            value = this.parse ? this.parse(key, json) : (json as T);
          } catch (e) {
            this.refuse(key, m.offset, e instanceof SyntaxError ? 'not JSON' : errorMessage(e));
            continue;
          }
        }
        this.refusedRows.delete(key);
        if (value === undefined) this.rows.delete(key);
        else this.rows.set(key, value);
        this.emit('change', key, value);
      }
    });
    await loaded;
  }

  /**
   * A row that does not pass is never acted on: the key reads as absent (a valid row it replaces is gone too — its
   * writer meant to change it, and what it wrote cannot be trusted), and the refusal is logged and kept for reports.
   */
  private refuse(key: string, offset: string, reason: string): void {
    this.logger?.error(
      { topic: this.topic, key, offset, reason },
      'refused a row of a control table: it is not acted on; write it again through the control API',
    );
    this.refusedRows.delete(key);
    this.refusedRows.set(key, { key, reason, offset, at: Date.now() });
    if (this.refusedRows.size > MAX_REFUSED) this.refusedRows.delete(this.refusedRows.keys().next().value!);
    if (this.rows.delete(key)) this.emit('change', key, undefined);
  }

  get(key: string): T | undefined {
    return this.rows.get(key);
  }

  entries(): [string, T][] {
    return [...this.rows.entries()];
  }

  /** Writes a row; resolves once Kafka has it (other readers see it shortly after). */
  async put(key: string, value: T): Promise<void> {
    await this.send(key, Buffer.from(JSON.stringify(value)));
  }

  async delete(key: string): Promise<void> {
    await this.send(key, null);
  }

  /** Writes and waits until this reader has seen its own write, so that a following `get` returns it. */
  async putAndSee(key: string, value: T, timeoutMs = 10_000): Promise<void> {
    const seen = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('change', onChange);
        reject(new KccrError('KAFKA_UNAVAILABLE', `row ${key} written to ${this.topic} was not read back within ${timeoutMs} ms`));
      }, timeoutMs);
      const onChange = (k: string, v: T | undefined) => {
        if (k === key && JSON.stringify(v) === JSON.stringify(value)) {
          clearTimeout(timer);
          this.off('change', onChange);
          resolve();
        }
      };
      this.on('change', onChange);
    });
    // If the write fails, the read-back wait must not be left to reject with nobody listening.
    seen.catch(() => undefined);
    await this.put(key, value);
    await seen;
  }

  private async send(key: string, value: Buffer | null): Promise<void> {
    if (!this.producer) this.producer = this.kafka.producer();
    await this.producer.send(this.topic, [{ key, value, partition: 0 }]);
  }

  async close(): Promise<void> {
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
    this.consumer = undefined;
    this.producer = undefined;
    this.readyPromise = undefined;
  }
}
