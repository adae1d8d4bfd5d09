/**
 * The one error catalogue: every failure kccr reports has a stable code, an HTTP status for the control API,
 * and a `retriable` flag that decides whether the caller backs off and tries again or gives up on that item.
 */
export const ERROR_CATALOGUE = {
  CONFIG_INVALID: { status: 500, retriable: false },
  BAD_REQUEST: { status: 400, retriable: false },
  NOT_FOUND: { status: 404, retriable: false },
  CONFLICT: { status: 409, retriable: false },
  UNAUTHENTICATED: { status: 401, retriable: false },
  FORBIDDEN: { status: 403, retriable: false },
  TOO_MANY_FAILED_LOGINS: { status: 429, retriable: true },
  ES_UNAUTHENTICATED: { status: 502, retriable: false },
  ES_FORBIDDEN: { status: 502, retriable: false },
  ES_NOT_FOUND: { status: 404, retriable: false },
  ES_REJECTED: { status: 502, retriable: false },
  ES_UNAVAILABLE: { status: 503, retriable: true },
  KAFKA_UNAVAILABLE: { status: 503, retriable: true },
  KAFKA_REJECTED: { status: 502, retriable: false },
  REGISTRY_UNAVAILABLE: { status: 503, retriable: true },
  SCHEMA_INCOMPATIBLE: { status: 409, retriable: false },
  ENVELOPE_INVALID: { status: 422, retriable: false },
  HISTORY_CHANGED: { status: 409, retriable: false },
  INTERNAL: { status: 500, retriable: false },
} as const satisfies Record<string, { status: number; retriable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class KccrError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly status: number;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KccrError';
    this.code = code;
    this.retriable = ERROR_CATALOGUE[code].retriable;
    this.status = ERROR_CATALOGUE[code].status;
    this.details = details;
  }

  toJSON() {
    return { code: this.code, message: this.message, retriable: this.retriable, ...(Object.keys(this.details).length ? { details: this.details } : {}) };
  }
}

export function isRetriable(e: unknown): boolean {
  return e instanceof KccrError && e.retriable;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
