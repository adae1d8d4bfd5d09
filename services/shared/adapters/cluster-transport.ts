/**
 * What an engine's adapter needs of the wire: one request with a parsed JSON answer, one with the answer's raw
 * bytes. Elasticsearch goes through its official client, OpenSearch through plain HTTP (opensearch.ts); the cluster
 * API kccr speaks (elasticsearch.ts) is written once over this contract.
 */
export interface RequestOptions {
  readonly query?: Record<string, string | number | boolean | undefined>;
  readonly body?: unknown;
  /** Newline-delimited JSON, for _bulk; given as parts, it is streamed (no copy into one buffer). */
  readonly ndjson?: string | Buffer | readonly Buffer[];
  /** A JSON body sent exactly as given (a document whose formatting must survive), instead of `body`. */
  readonly rawBody?: string | Buffer;
  /** Statuses that are answers, not errors (404 on an existence check, 409 on a version conflict). */
  readonly ignore?: readonly number[];
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface EsResponse<T> {
  readonly status: number;
  readonly body: T;
}

/** Every failure comes out as a KccrError (cluster-errors.ts decides which are transient). */
export interface ClusterTransport {
  request<T>(method: string, path: string, opts: RequestOptions): Promise<EsResponse<T>>;
  /** The answer's bytes as the cluster sent them; a status of 400 or more is an error. */
  raw(method: string, path: string, body: unknown, query?: RequestOptions['query'], signal?: AbortSignal): Promise<Buffer>;
  close(): Promise<void>;
}

/** A query string's values, those undefined left out. */
export function definedQuery(query: RequestOptions['query']): Record<string, string> | undefined {
  return query ? Object.fromEntries(Object.entries(query).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]]))) : undefined;
}
