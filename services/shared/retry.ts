import { isRetriable } from './errors.js';

export interface RetryOptions {
  /** Attempts in all, the first included; Infinity retries until `signal` aborts. */
  readonly attempts: number;
  readonly initialMs: number;
  readonly maxMs: number;
  readonly signal?: AbortSignal;
  /** Decides which failures are worth another try; by default the catalogue's `retriable` flag. */
  readonly retriable?: (e: unknown) => boolean;
  readonly onRetry?: (e: unknown, attempt: number, delayMs: number) => void;
}

/** The delay before attempt n+1: exponential, capped, with full jitter so that many partitions do not retry in step. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The one retry helper. Programming errors and non-retriable failures are thrown at once. */
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
