/**
 * The only module that imports the Elasticsearch client. It speaks the REST API kccr needs, in kccr's terms,
 * and turns every failure into a KccrError: retriable (429, 5xx, timeouts, connection refused) or not
 * (authentication, authorization, bad requests), with the cluster's own reason in the message.
 */
import { Readable } from 'node:stream';
import { Client, ClusterConnectionPool, errors } from '@elastic/elasticsearch';
import type { EsConnection } from '../config.js';
import { KccrError } from '../errors.js';
import { reasonOf, responseError, statusError } from './cluster-errors.js';
import type { ClusterTransport, EsResponse, RequestOptions } from './cluster-transport.js';
import { definedQuery } from './cluster-transport.js';
import type { EngineInfo } from './opensearch.js';
import { HttpTransport } from './opensearch.js';

export { MAX_REASON_CHARS, reasonOf } from './cluster-errors.js';
export type { EsResponse, RequestOptions } from './cluster-transport.js';
export type { EngineInfo, EngineKind } from './opensearch.js';

export interface ShardStats {
  readonly shard: number;
  readonly globalCheckpoint: number;
  readonly localCheckpoint: number;
  readonly maxSeqNo: number;
  readonly historyUuid: string;
  readonly docs: number;
  readonly deleteTotal: number;
  readonly indexTotal: number;
  /** Per started copy of the shard (by node id), refreshes of its search view (external) completed since the copy started. */
  readonly refreshTotals: Readonly<Record<string, number>>;
  /** The primary's term: a promoted replica (the primary's node failed or restarted) brings a higher one. */
  readonly primaryTerm: number;
  /** The node id holding the primary. */
  readonly primaryNode: string;
}

export interface IndexMeta {
  readonly name: string;
  readonly uuid: string;
  readonly shards: number;
  readonly settings: Record<string, unknown>;
  readonly mappings: Record<string, unknown>;
  readonly aliases: Record<string, unknown>;
}

export interface BulkItemResult {
  readonly action: 'index' | 'delete' | 'create' | 'update';
  readonly id: string;
  readonly status: number;
  readonly error?: { readonly type: string; readonly reason: string };
}

/** Elasticsearch through its official client (product check, node pool). */
class ElasticClientTransport implements ClusterTransport {
  private readonly client: Client;

  constructor(
    conn: EsConnection,
    nodes: readonly string[],
    private readonly url: string,
    opts: { requestTimeoutMs?: number; maxRetries?: number },
  ) {
    this.client = new Client({
      // Round robin over the nodes that answer; a node that failed is pinged again later, and when none answers all
      // are tried (the default weighted pool can leave every node out for good after a rolling restart).
      ...(nodes.length > 1 ? { nodes: [...nodes], ConnectionPool: ClusterConnectionPool, resurrectStrategy: 'ping' as const } : { node: conn.url }),
      ...(conn.apiKey ? { auth: { apiKey: conn.apiKey } } : conn.username ? { auth: { username: conn.username, password: conn.password ?? '' } } : {}),
      ...(conn.ca ? { tls: { ca: conn.ca, rejectUnauthorized: true } } : {}),
      requestTimeout: opts.requestTimeoutMs ?? 30_000,
      // Retries are decided by kccr's own retry helper, where the partition can be paused meanwhile.
      maxRetries: opts.maxRetries ?? 0,
      compression: false,
    });
  }
  async request<T>(method: string, path: string, opts: RequestOptions): Promise<EsResponse<T>> {
    const querystring = definedQuery(opts.query);
    try {
      const res = await this.client.transport.request(
        {
          method,
          path,
          ...(querystring ? { querystring: querystring as Record<string, string> } : {}),
          ...(opts.ndjson !== undefined
            ? { bulkBody: Array.isArray(opts.ndjson) ? Readable.from(opts.ndjson) : (opts.ndjson as string | Buffer) }
            : opts.rawBody !== undefined
              ? { body: opts.rawBody }
              : opts.body !== undefined
                ? { body: opts.body as Record<string, unknown> }
                : {}),
        },
        {
          meta: true,
          // The client labels a string body text/plain, which Elasticsearch refuses (406).
          ...(opts.ndjson === undefined && opts.rawBody !== undefined ? { headers: { 'content-type': 'application/json' } } : {}),
          ...(opts.ignore ? { ignore: [...opts.ignore] } : {}),
          ...(opts.timeoutMs ? { requestTimeout: opts.timeoutMs } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
      );
      return { status: res.statusCode ?? 200, body: res.body as T };
    } catch (e) {
      throw toKccrError(e, `${method} ${path}`, this.url);
    }
  }

  async raw(method: string, path: string, body: unknown, query?: RequestOptions['query'], signal?: AbortSignal): Promise<Buffer> {
    const querystring = definedQuery(query);
    try {
      const res = await this.client.transport.request(
        { method, path, body: body as Record<string, unknown>, ...(querystring ? { querystring: querystring as Record<string, string> } : {}) },
        { meta: true, asStream: true, ...(signal ? { signal } : {}) },
      );
      const chunks: Buffer[] = [];
      for await (const chunk of res.body as AsyncIterable<Buffer>) chunks.push(chunk);
      const buf = Buffer.concat(chunks);
      const status = res.statusCode ?? 200;
      if (status >= 400) throw responseError(status, buf, `${method} ${path}`, this.url);
      return buf;
    } catch (e) {
      throw toKccrError(e, `${method} ${path}`, this.url);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** The lowest version among the cluster's nodes (`GET /_nodes`): what a cluster of mixed versions can at least read. */
async function nodesVersion(transport: ClusterTransport): Promise<string> {
  const r = await transport.request<{ nodes?: Record<string, { version?: string }> }>('GET', '/_nodes', { query: { filter_path: 'nodes.*.version' } });
  return lowestVersion(Object.values(r.body.nodes ?? {}).map((n) => n.version ?? ''));
}

/** The lowest of x.y.z versions ('' when none is one). */
export function lowestVersion(versions: readonly string[]): string {
  const parsed = versions.filter((v) => /^\d+\.\d+\.\d+/.test(v)).map((v) => ({ v, p: v.split(/[.-]/).slice(0, 3).map(Number) }));
  parsed.sort((a, b) => a.p[0]! - b.p[0]! || a.p[1]! - b.p[1]! || a.p[2]! - b.p[2]!);
  return parsed[0]?.v ?? '';
}

/**
 * kccr's cluster API, for Elasticsearch and OpenSearch alike: the engine is what the cluster says it is (`GET /`,
 * read at the first request and kept; a failed reading is tried again at the next), so that every service, the
 * verifier and the control service pick it the same way, with nothing to configure. Elasticsearch is spoken through
 * its official client, OpenSearch through plain HTTP (opensearch.ts).
 */
export class ElasticsearchAdapter {
  readonly url: string;
  private readonly nodes: string[];
  private picking: Promise<{ transport: ClusterTransport; engine: EngineInfo }> | undefined;
  /** When an Elasticsearch version not read yet (GET /_nodes failed) is asked for again. */
  private versionRetryAt = 0;

  constructor(
    private readonly conn: EsConnection,
    /** `versionRetryMs`: how long a version that could not be read waits before it is asked for again (10 s). */
    private readonly opts: { requestTimeoutMs?: number; maxRetries?: number; versionRetryMs?: number } = {},
  ) {
    // Several nodes, comma-separated: requests go round them, and a node that does not answer is left out for a while.
    this.nodes = conn.url
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean);
    this.url = this.nodes.length > 1 ? `${this.nodes[0]} (and ${this.nodes.length - 1} more nodes)` : conn.url;
  }

  /**
   * The cluster's engine and version. An Elasticsearch version that could not be read when the engine was (its nodes
   * info failed) is asked for again, at most every `versionRetryMs`, rather than left unknown for the adapter's life:
   * what depends on it (the snapshot bootstrap's version check) judges with it once it is known.
   */
  async engine(): Promise<EngineInfo> {
    const picked = await this.pick();
    if (picked.engine.kind === 'elasticsearch' && picked.engine.version === '' && Date.now() >= this.versionRetryAt) {
      this.versionRetryAt = Date.now() + (this.opts.versionRetryMs ?? 10_000);
      const version = await nodesVersion(picked.transport).catch(() => '');
      if (version) picked.engine = { ...picked.engine, version };
    }
    return picked.engine;
  }

  private async wire(): Promise<ClusterTransport> {
    return (await this.pick()).transport;
  }

  private pick(): Promise<{ transport: ClusterTransport; engine: EngineInfo }> {
    this.picking ??= (async () => {
      const http = new HttpTransport(this.conn, this.url, this.opts);
      try {
        const engine = await http.engine(this.opts.requestTimeoutMs ?? 30_000);
        if (engine.kind === 'opensearch') return { transport: http, engine };
        await http.close();
        const transport = new ElasticClientTransport(this.conn, this.nodes, this.url, this.opts);
        // Elasticsearch without `GET /` (its integ-test zip has no rest-root module) names no version there: the
        // nodes info does. Best effort: a version unknown leaves '' (what a snapshot bootstrap's check cannot judge).
        const version = engine.version || (await nodesVersion(transport).catch(() => ''));
        if (!version) this.versionRetryAt = Date.now() + (this.opts.versionRetryMs ?? 10_000);
        return { transport, engine: { ...engine, version } };
      } catch (e) {
        await http.close();
        this.picking = undefined;
        throw e;
      }
    })();
    return this.picking;
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<EsResponse<T>> {
    return (await this.wire()).request<T>(method, path, opts);
  }

  async indexExists(index: string): Promise<boolean> {
    const r = await this.request('HEAD', `/${encodeURIComponent(index)}`, { ignore: [404] });
    return r.status === 200;
  }

  async createIndex(index: string, body: { settings?: unknown; mappings?: unknown; aliases?: unknown } = {}): Promise<void> {
    await this.request('PUT', `/${encodeURIComponent(index)}`, { body });
  }

  async deleteIndex(index: string): Promise<void> {
    await this.request('DELETE', `/${encodeURIComponent(index)}`, { ignore: [404] });
  }

  /** Deletes these indices (concrete names, hidden ones too) in one request; those absent are no error. */
  async deleteIndices(indices: readonly string[]): Promise<void> {
    if (indices.length === 0) return;
    await this.request('DELETE', `/${indices.map(encodeURIComponent).join(',')}`, {
      query: { ignore_unavailable: 'true', expand_wildcards: 'open,closed,hidden' },
      ignore: [404],
    });
  }

  async indexMeta(index: string): Promise<IndexMeta> {
    const r = await this.request<
      Record<string, { settings: { index: Record<string, unknown> }; mappings: Record<string, unknown>; aliases: Record<string, unknown> }>
    >('GET', `/${encodeURIComponent(index)}`);
    const [name, meta] = Object.entries(r.body)[0] ?? [];
    if (!name || !meta) throw new KccrError('ES_NOT_FOUND', `index ${index} not found on ${this.url}`, { index });
    const s = meta.settings.index;
    return { name, uuid: String(s.uuid), shards: Number(s.number_of_shards), settings: s, mappings: meta.mappings, aliases: meta.aliases };
  }

  /** Per shard, the primary copy's checkpoints and history (`_stats?level=shards`). */
  async shardStats(index: string): Promise<ShardStats[]> {
    type Copy = {
      routing: { primary: boolean; node: string; state: string };
      seq_no?: { global_checkpoint: number; local_checkpoint: number; max_seq_no: number };
      commit?: { user_data: { history_uuid?: string } };
      retention_leases?: { primary_term?: number };
      docs: { count: number };
      indexing: { delete_total: number; index_total: number };
      refresh: { total: number; external_total?: number };
    };
    const r = await this.request<{ indices: Record<string, { shards: Record<string, Copy[]> }> }>(
      'GET',
      `/${encodeURIComponent(index)}/_stats/docs,indexing,refresh`,
      {
        query: { level: 'shards' },
      },
    );
    const entry = Object.values(r.body.indices)[0];
    if (!entry) throw new KccrError('ES_NOT_FOUND', `index ${index} not found on ${this.url}`, { index });
    const out: ShardStats[] = [];
    for (const [shard, copies] of Object.entries(entry.shards)) {
      // While a primary relocates, its target is listed as a primary too, initializing and without sequence numbers
      // yet: the copy that serves (started, or relocating away) is the one read.
      const primary = copies.find((c) => c.routing.primary && (c.routing.state === 'STARTED' || c.routing.state === 'RELOCATING') && c.seq_no && c.commit);
      if (!primary?.seq_no || !primary.commit) throw new KccrError('ES_UNAVAILABLE', `shard ${shard} of ${index} has no started primary`, { index, shard });
      out.push({
        shard: Number(shard),
        globalCheckpoint: primary.seq_no.global_checkpoint,
        localCheckpoint: primary.seq_no.local_checkpoint,
        maxSeqNo: primary.seq_no.max_seq_no,
        historyUuid: primary.commit.user_data.history_uuid ?? '',
        docs: primary.docs.count,
        deleteTotal: primary.indexing.delete_total,
        indexTotal: primary.indexing.index_total,
        // Refreshes of the searcher searches use (external): internal ones (realtime gets, flushes, recoveries) make
        // nothing visible to search.
        refreshTotals: Object.fromEntries(
          copies.filter((c) => c.routing.state === 'STARTED').map((c) => [c.routing.node, c.refresh.external_total ?? c.refresh.total]),
        ),
        primaryTerm: primary.retention_leases?.primary_term ?? 0,
        primaryNode: primary.routing.node,
      });
    }
    return out.sort((a, b) => a.shard - b.shard);
  }

  /**
   * Refreshes every active copy of the index. A copy that failed to refresh could serve searches that miss what it
   * holds: that is an error (retried), not a success.
   */
  async refresh(index: string): Promise<void> {
    const r = await this.request<{ _shards?: { failed?: number; failures?: unknown[] } }>('POST', `/${encodeURIComponent(index)}/_refresh`);
    const failed = r.body?._shards?.failed ?? 0;
    if (failed > 0)
      throw new KccrError(
        'ES_UNAVAILABLE',
        `refresh of ${index} on ${this.url} failed on ${failed} shard copies: ${JSON.stringify(r.body._shards?.failures ?? []).slice(0, 500)}`,
        { index },
      );
  }

  /**
   * A search whose response comes back as raw bytes, so that each hit's `_source` can be taken exactly as the
   * cluster stored it (see raw-hits.ts). `index` undefined searches a point in time (POST /_search).
   */
  async searchRaw(index: string | undefined, body: unknown, query?: RequestOptions['query'], signal?: AbortSignal): Promise<Buffer> {
    const path = index === undefined ? '/_search' : `/${encodeURIComponent(index)}/_search`;
    return this.raw('POST', path, body, query, signal);
  }

  /** Realtime multi-get (it sees documents before any refresh), raw bytes as for searchRaw. */
  async mgetRaw(index: string, docs: readonly { id: string; routing: string | null }[], query?: RequestOptions['query']): Promise<Buffer> {
    return this.raw(
      'POST',
      `/${encodeURIComponent(index)}/_mget`,
      { docs: docs.map((d) => ({ _id: d.id, ...(d.routing !== null ? { routing: d.routing } : {}) })) },
      query,
    );
  }

  private async raw(method: string, path: string, body: unknown, query?: RequestOptions['query'], signal?: AbortSignal): Promise<Buffer> {
    return (await this.wire()).raw(method, path, body, query, signal);
  }

  async search<T = unknown>(index: string, body: unknown, query?: RequestOptions['query']): Promise<T> {
    return (await this.request<T>('POST', `/${encodeURIComponent(index)}/_search`, { body, ...(query ? { query } : {}) })).body;
  }

  /**
   * Counts the documents matching each query (one _msearch, no document read: size 0). A query that fails on any
   * shard copy is an error, not a smaller count.
   */
  async counts(index: string, queries: readonly unknown[], preference?: string): Promise<number[]> {
    if (queries.length === 0) return [];
    const header = JSON.stringify({ index, ...(preference ? { preference } : {}) });
    const ndjson = queries.map((q) => `${header}\n${JSON.stringify({ size: 0, track_total_hits: true, query: q })}\n`).join('');
    type Answer = { error?: unknown; status?: number; timed_out?: boolean; _shards?: { failed?: number }; hits?: { total?: { value: number } } };
    const r = await this.request<{ responses: Answer[] }>('POST', '/_msearch', { ndjson });
    return r.body.responses.map((a) => {
      if (a.error || a.timed_out || (a._shards?.failed ?? 0) > 0 || a.hits?.total === undefined) {
        throw new KccrError(
          a.status === 400 ? 'ES_REJECTED' : 'ES_UNAVAILABLE',
          `count on ${index} failed: ${a.error ? reasonOf(a) : a.timed_out ? 'timed out' : 'shard failure'}`,
          { index },
        );
      }
      return a.hits.total.value;
    });
  }

  /** Sends one _bulk and returns every item's outcome; the caller decides per item (never trust `errors: false` alone). */
  async bulk(ndjson: string | Buffer | readonly Buffer[], query?: RequestOptions['query']): Promise<BulkItemResult[]> {
    const r = await this.request<{ items: Record<string, { _id: string; status: number; error?: { type: string; reason: string } }>[] }>('POST', '/_bulk', {
      ndjson,
      // Only what the outcome of each item needs: a smaller response to parse and hold.
      query: { filter_path: 'items.*._id,items.*.status,items.*.error.type,items.*.error.reason', ...query },
    });
    return r.body.items.map((item) => {
      const [action, result] = Object.entries(item)[0] as [BulkItemResult['action'], { _id: string; status: number; error?: { type: string; reason: string } }];
      return { action, id: result._id, status: result.status, ...(result.error ? { error: { type: result.error.type, reason: result.error.reason } } : {}) };
    });
  }

  async close(): Promise<void> {
    const picking = this.picking;
    this.picking = undefined;
    await (await picking?.catch(() => undefined))?.transport.close();
  }
}

export function toKccrError(e: unknown, what: string, url: string): KccrError {
  if (e instanceof KccrError) return e;
  if (e instanceof errors.ResponseError) {
    return statusError(e.meta.statusCode ?? 0, reasonOf(e.meta.body), what, url, e);
  }
  if (e instanceof errors.ConnectionError || e instanceof errors.TimeoutError || e instanceof errors.NoLivingConnectionsError) {
    return new KccrError('ES_UNAVAILABLE', `cannot reach ${url} for ${what}: ${e.message}`, { url, request: what }, { cause: e });
  }
  if (e instanceof errors.ProductNotSupportedError) {
    return new KccrError('ES_REJECTED', `${url} does not answer as Elasticsearch: ${e.message}`, { url }, { cause: e });
  }
  if (e instanceof errors.RequestAbortedError) {
    return new KccrError('ES_UNAVAILABLE', `${what} on ${url} was aborted`, { url, request: what }, { cause: e });
  }
  return new KccrError('INTERNAL', `${what} on ${url} failed: ${e instanceof Error ? e.message : String(e)}`, { url, request: what }, { cause: e });
}
