import { errorMessage, isRetriable } from './errors.js';

/** How a retry backs off: exponential from `initialMs`, capped at `maxMs`, with jitter. */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * The backoff of every transient failure kccr retries (Kafka, the registry, the clusters): the first retry within a
 * second, then doubling up to 30 s, so that a peer back after an outage is used again within 30 s.
 */
export const TRANSIENT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };

/** How often a failure only an operator can fix (refused credentials) is probed again. */
export const OPERATOR_PROBE_MS = 60_000;

export interface RetryOptions {
  /** Attempts in all, the first included; Infinity retries until `signal` aborts. */
  readonly attempts: number;
  readonly initialMs: number;
  readonly maxMs: number;
  readonly signal?: AbortSignal;
  /** Decides which failures are worth another try; by default the catalogue's kind (transient). */
  readonly retriable?: (e: unknown) => boolean;
  readonly onRetry?: (e: unknown, attempt: number, delayMs: number) => void;
}

/** The delay before attempt n+1: exponential, capped, with full jitter so that many partitions do not retry in step. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The one retry helper. Programming errors and non-transient failures are thrown at once. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const retriable = opts.retriable ?? isRetriable;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!retriable(e) || attempt >= opts.attempts || opts.signal?.aborted) throw e;
      const delay = backoffDelay(attempt, opts.initialMs, opts.maxMs);
      opts.onRetry?.(e, attempt, delay);
      await abortableSleep(delay, opts.signal);
    }
  }
}

/** What a status row says of a failure being retried: since when, how many attempts, the latest reason. */
export interface RetryingView {
  readonly reason: string;
  readonly since: number;
  readonly attempts: number;
}

/**
 * Tracks one task's run of failures for its status: the first failure starts it, a success ends it. Status rows
 * carry `view()` so that the control service can say RETRYING, with what and since when.
 */
export class RetryTracker {
  private run?: { reason: string; since: number; attempts: number };

  /** Records a failed attempt; returns the attempt number (1 for the first failure of a run). */
  failed(e: unknown, now = Date.now()): number {
    const reason = errorMessage(e);
    if (!this.run) this.run = { reason, since: now, attempts: 0 };
    this.run.attempts++;
    this.run.reason = reason;
    return this.run.attempts;
  }

  succeeded(): void {
    this.run = undefined;
  }

  get attempts(): number {
    return this.run?.attempts ?? 0;
  }

  view(): RetryingView | undefined {
    return this.run ? { ...this.run } : undefined;
  }
}

/** Resolves after `ms`, or early when the signal aborts (never rejects). */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
