/**
 * The one error catalogue: every failure kccr reports has a stable code, an HTTP status for the control API, and a
 * kind that decides what a caller does about it:
 *
 * - transient: a retry can fix it (a peer restarting, down, hung or overloaded; a schema the registry does not know
 *   yet). Retried with capped backoff, forever; the index's status says RETRYING meanwhile.
 * - credentials: refused credentials or permissions. Only an operator fixes it, but without restarting kccr: the
 *   index shows FAILED with the reason and is probed again every minute, so a fixed credential resumes it.
 * - permanent: no retry can fix it (a leader index with a new history, a document the follower's mapping refuses,
 *   a bad request). The item goes to the dead-letter topic, or the index shows FAILED until an operator acts.
 *
 * `retriable` is `kind === 'transient'`.
 */
export type FailureKind = 'transient' | 'credentials' | 'permanent';

export const ERROR_CATALOGUE = {
  CONFIG_INVALID: { status: 500, kind: 'permanent' },
  BAD_REQUEST: { status: 400, kind: 'permanent' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, kind: 'permanent' },
  NOT_FOUND: { status: 404, kind: 'permanent' },
  CONFLICT: { status: 409, kind: 'permanent' },
  UNAUTHENTICATED: { status: 401, kind: 'permanent' },
  FORBIDDEN: { status: 403, kind: 'permanent' },
  TOO_MANY_FAILED_LOGINS: { status: 429, kind: 'transient' },
  ES_UNAUTHENTICATED: { status: 502, kind: 'credentials' },
  ES_FORBIDDEN: { status: 502, kind: 'credentials' },
  ES_NOT_FOUND: { status: 404, kind: 'permanent' },
  ES_REJECTED: { status: 502, kind: 'permanent' },
  ES_UNAVAILABLE: { status: 503, kind: 'transient' },
  KAFKA_UNAVAILABLE: { status: 503, kind: 'transient' },
  KAFKA_UNAUTHORIZED: { status: 502, kind: 'credentials' },
  KAFKA_REJECTED: { status: 502, kind: 'permanent' },
  REGISTRY_UNAVAILABLE: { status: 503, kind: 'transient' },
  REGISTRY_UNAUTHORIZED: { status: 502, kind: 'credentials' },
  SCHEMA_UNKNOWN: { status: 503, kind: 'transient' },
  SCHEMA_INCOMPATIBLE: { status: 409, kind: 'permanent' },
  ENVELOPE_INVALID: { status: 422, kind: 'permanent' },
  HISTORY_CHANGED: { status: 409, kind: 'permanent' },
  MERGE_MAPPING_CONFLICT: { status: 409, kind: 'permanent' },
  INTERNAL: { status: 500, kind: 'permanent' },
} as const satisfies Record<string, { status: number; kind: FailureKind }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class KccrError extends Error {
  readonly code: ErrorCode;
  readonly kind: FailureKind;
  readonly retriable: boolean;
  readonly status: number;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KccrError';
    this.code = code;
    this.kind = ERROR_CATALOGUE[code].kind;
    this.retriable = this.kind === 'transient';
    this.status = ERROR_CATALOGUE[code].status;
    this.details = details;
  }

  toJSON() {
    return { code: this.code, message: this.message, retriable: this.retriable, ...(Object.keys(this.details).length ? { details: this.details } : {}) };
  }
}

/**
 * The one decision of what a failure is. The adapters turn every Kafka, registry and Elasticsearch failure into a
 * KccrError with its code; anything else reaching here is a programming error (permanent: retrying it repeats it).
 */
export function failureKind(e: unknown): FailureKind {
  return e instanceof KccrError ? e.kind : 'permanent';
}

export function isRetriable(e: unknown): boolean {
  return failureKind(e) === 'transient';
}

/** Any failure as a KccrError (a programming error becomes INTERNAL, its message kept). */
export function asKccrError(e: unknown): KccrError {
  return e instanceof KccrError ? e : new KccrError('INTERNAL', errorMessage(e), {}, { cause: e });
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
