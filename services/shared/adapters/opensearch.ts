/**
 * OpenSearch's side of the cluster adapter: plain HTTP (node:http/https), because the Elasticsearch client refuses
 * any answer without `x-elastic-product: Elasticsearch` (ProductNotSupportedError), which OpenSearch never sends. The
 * REST calls kccr makes are the same on both engines (docs/design/compatibility.md), so only the wire differs.
 *
 * Why not `@opensearch-project/opensearch`: kccr uses nothing of a client but one request with its raw answer (the
 * exact `_source` bytes), streamed ndjson bodies, TLS with a CA, basic or API-key authentication and a timeout:
 * about a hundred lines over node's HTTP, against a second client's dependency tree, its own error classes to map
 * and its own retry and node-pool behaviour to switch off.
 *
 * The engine of a cluster is what it says it is (`GET /`: `version.distribution`), read once per adapter.
 */
import http from 'node:http';
import https from 'node:https';
import type { EsConnection } from '../config.js';
import { KccrError } from '../errors.js';
import { responseError } from './cluster-errors.js';
import type { ClusterTransport, EsResponse, RequestOptions } from './cluster-transport.js';
import { definedQuery } from './cluster-transport.js';

export type EngineKind = 'elasticsearch' | 'opensearch';

export interface EngineInfo {
  readonly kind: EngineKind;
  /** The version it reports (`version.number`), '' when it reports none. */
  readonly version: string;
}

/**
 * The engine from a cluster's answer to `GET /`. Elasticsearch (7.14 and later) sends `x-elastic-product:
 * Elasticsearch` on every answer, whatever its status: its integ-test distribution has no `GET /` at all (405, the
 * rest-root module is not in it), the header still tells. OpenSearch never sends it and says
 * `version.distribution: "opensearch"` (1.x to 3.x). A refusal without the header (401, 403, ...) is an error; any
 * other answer is taken as Elasticsearch, whose client then checks the product header itself.
 */
export function engineOf(answer: { status: number; headers: Readonly<Record<string, unknown>>; body: unknown }): EngineInfo | { refused: true } {
  const version = (answer.body as { version?: { distribution?: unknown; number?: unknown } } | undefined)?.version;
  const number = answer.status === 200 && typeof version?.number === 'string' ? version.number : '';
  if (answer.headers['x-elastic-product'] === 'Elasticsearch') return { kind: 'elasticsearch', version: number };
  if (answer.status === 200 && version?.distribution === 'opensearch') return { kind: 'opensearch', version: number };
  if (answer.status >= 400) return { refused: true };
  return { kind: 'elasticsearch', version: number };
}

export interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A cluster over plain HTTP: requests go round its nodes (a comma-separated URL), each one tried once. */
export class HttpTransport implements ClusterTransport {
  private readonly nodes: URL[];
  private readonly agent: http.Agent;
  private readonly authorization: string | undefined;
  private readonly timeoutMs: number;
  private next = 0;

  constructor(
    conn: EsConnection,
    private readonly url: string,
    opts: { requestTimeoutMs?: number } = {},
  ) {
    this.nodes = conn.url
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean)
      .map((u) => new URL(u));
    const tls = this.nodes[0]?.protocol === 'https:';
    this.agent = tls
      ? new https.Agent({ keepAlive: true, ...(conn.ca ? { ca: conn.ca, rejectUnauthorized: true } : {}) })
      : new http.Agent({ keepAlive: true });
    this.authorization = conn.apiKey
      ? `ApiKey ${conn.apiKey}`
      : conn.username
        ? `Basic ${Buffer.from(`${conn.username}:${conn.password ?? ''}`).toString('base64')}`
        : undefined;
    this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<EsResponse<T>> {
    const [body, contentType] =
      opts.ndjson !== undefined
        ? [opts.ndjson, 'application/x-ndjson']
        : opts.rawBody !== undefined
          ? [opts.rawBody, 'application/json']
          : opts.body !== undefined
            ? [JSON.stringify(opts.body), 'application/json']
            : [undefined, undefined];
    const a = await this.send(method, path, opts.query, body, contentType, opts.timeoutMs, opts.signal);
    if (a.status >= 400 && !opts.ignore?.includes(a.status)) throw responseError(a.status, a.body, `${method} ${path}`, this.url);
    return { status: a.status, body: parseBody(a) as T };
  }

  /** The cluster's engine, from `GET /` asked of each node in turn until one answers. */
  async engine(timeoutMs: number): Promise<EngineInfo> {
    for (let i = 1; ; i++) {
      let a: Answer;
      try {
        a = await this.send('GET', '/', undefined, undefined, undefined, timeoutMs, undefined);
      } catch (e) {
        if (i >= this.nodes.length) throw e;
        continue;
      }
      const engine = engineOf({ ...a, body: parseBody(a) });
      if ('refused' in engine) throw responseError(a.status, a.body, 'GET /', this.url);
      return engine;
    }
  }

  async raw(method: string, path: string, body: unknown, query?: RequestOptions['query'], signal?: AbortSignal): Promise<Buffer> {
    const a = await this.send(method, path, query, body === undefined ? undefined : JSON.stringify(body), 'application/json', undefined, signal);
    if (a.status >= 400) throw responseError(a.status, a.body, `${method} ${path}`, this.url);
    return a.body;
  }

  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }

  private send(
    method: string,
    path: string,
    query: RequestOptions['query'],
    body: string | Buffer | readonly Buffer[] | undefined,
    contentType: string | undefined,
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Answer> {
    const node = this.nodes[this.next++ % this.nodes.length]!;
    const what = `${method} ${path}`;
    const target = new URL(node.href);
    target.pathname = `${node.pathname.replace(/\/$/, '')}${path}`;
    for (const [k, v] of Object.entries(definedQuery(query) ?? {})) target.searchParams.set(k, v);
    // No Accept header: with `Accept: application/json` OpenSearch answers `_cat` in JSON, where the Elasticsearch
    // client's callers get text.
    const headers: http.OutgoingHttpHeaders = {};
    if (contentType) headers['content-type'] = contentType;
    if (this.authorization) headers.authorization = this.authorization;
    const lib = target.protocol === 'https:' ? https : http;
    return new Promise<Answer>((resolve, reject) => {
      const req = lib.request(target, { method, headers, agent: this.agent, timeout: timeoutMs ?? this.timeoutMs, ...(signal ? { signal } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (e) => reject(this.failure(e, what, signal)));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`timed out after ${timeoutMs ?? this.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (e) => reject(this.failure(e, what, signal)));
      if (Array.isArray(body)) {
        for (const part of body as readonly Buffer[]) req.write(part);
        req.end();
      } else req.end(body as string | Buffer | undefined);
    });
  }

  private failure(e: Error, what: string, signal: AbortSignal | undefined): KccrError {
    if (signal?.aborted || e.name === 'AbortError')
      return new KccrError('ES_UNAVAILABLE', `${what} on ${this.url} was aborted`, { url: this.url, request: what }, { cause: e });
    return new KccrError('ES_UNAVAILABLE', `cannot reach ${this.url} for ${what}: ${e.message}`, { url: this.url, request: what }, { cause: e });
  }
}

function parseBody(a: Answer): unknown {
  if (a.body.length === 0) return undefined;
  const text = a.body.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
