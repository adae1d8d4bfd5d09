/**
 * The cluster adapter against OpenSearch's answers, recorded from OpenSearch 2.19.4 (the local stack's integ-test zip,
 * fixtures/opensearch-2.19.4/): served by a local HTTP server as OpenSearch sends them (no `x-elastic-product`
 * header), so the engine detection, the plain HTTP transport and the parsing are what run against a real cluster.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSearchResponse } from '../raw-hits.js';
import { ElasticsearchAdapter, lowestVersion } from './elasticsearch.js';
import { engineOf } from './opensearch.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'opensearch-2.19.4');
const fixture = (name: string) => readFileSync(join(FIXTURES, name));

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Answers as the recorded OpenSearch did: path (without query) -> [status, fixture]. */
const ROUTES: Record<string, [number, string]> = {
  'GET /': [200, 'root.json'],
  'GET /f1/_stats/docs,indexing,refresh': [200, 'stats-shards.json'],
  'POST /f1/_search': [200, 'search-window.json'],
  'POST /_msearch': [200, 'msearch-counts.json'],
  'POST /_bulk': [200, 'bulk-external.json'],
  'POST /no-such-index/_search': [404, 'error-404.json'],
};

describe('the adapter on OpenSearch 2.19 (recorded answers)', () => {
  let server: http.Server;
  let es: ElasticsearchAdapter;
  const seen: Seen[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = (req.url ?? '/').split('?')[0]!;
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const route = ROUTES[`${req.method} ${path}`];
        if (!route) {
          res.writeHead(400, { 'content-type': 'application/json; charset=UTF-8' }).end('{"error":"no fixture","status":400}');
          return;
        }
        res.writeHead(route[0], { 'content-type': 'application/json; charset=UTF-8' }).end(fixture(route[1]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    es = new ElasticsearchAdapter({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, username: 'u', password: 'p' });
  });
  afterAll(async () => {
    await es.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('tells OpenSearch from Elasticsearch by GET /', async () => {
    const root = JSON.parse(fixture('root.json').toString('utf8')) as unknown;
    expect(engineOf({ status: 200, headers: {}, body: root })).toEqual({ kind: 'opensearch', version: '2.19.4' });
    // Elasticsearch says so in a header of every answer; its integ-test zip has no GET / (405) and still says it.
    const elastic = { 'x-elastic-product': 'Elasticsearch' };
    expect(engineOf({ status: 200, headers: elastic, body: { version: { number: '8.19.21', build_flavor: 'default' } } })).toEqual({
      kind: 'elasticsearch',
      version: '8.19.21',
    });
    expect(engineOf({ status: 405, headers: elastic, body: { error: 'Incorrect HTTP method for uri [/] and method [GET], allowed: [DELETE]' } })).toEqual({
      kind: 'elasticsearch',
      version: '',
    });
    // Neither: refused is an error, anything else is left to the Elasticsearch client's product check.
    expect(engineOf({ status: 401, headers: {}, body: { error: 'unauthorized' } })).toEqual({ refused: true });
    expect(engineOf({ status: 200, headers: {}, body: '<html>not a cluster</html>' })).toEqual({ kind: 'elasticsearch', version: '' });
    expect(await es.engine()).toEqual({ kind: 'opensearch', version: '2.19.4' });
  });

  it("reads a shard's checkpoints, history, primary term and refreshes from _stats", async () => {
    const [s] = await es.shardStats('f1');
    expect(s).toEqual({
      shard: 0,
      globalCheckpoint: 3,
      localCheckpoint: 3,
      maxSeqNo: 3,
      historyUuid: 'TqxGOMx0S6e3GPIPqVpb1w',
      docs: 1,
      deleteTotal: 1,
      indexTotal: 3,
      refreshTotals: { j9iX0zfaQNujMGmbSJVEhw: 3 },
      primaryTerm: 1,
      primaryNode: 'j9iX0zfaQNujMGmbSJVEhw',
    });
    const req = seen.find((r) => r.url.startsWith('/f1/_stats'))!;
    expect(req.url).toBe('/f1/_stats/docs,indexing,refresh?level=shards');
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    // No Accept: application/json, with which OpenSearch would answer _cat in JSON where callers expect text.
    expect(req.headers.accept).toBeUndefined();
  });

  it('takes a window of hits with their exact _source bytes, seq_no, primary term and routing', async () => {
    const page = parseSearchResponse(await es.searchRaw('f1', { size: 2 }, { preference: '_shards:0' }));
    expect(page.hits.map((h) => [h.id, h.seqNo, h.primaryTerm, h.routing, h.source?.toString('utf8'), h.sort])).toEqual([
      ['2', 3, 1, null, '{"value":"c"}', [3]],
      ['3', 4, 1, 'r1', '{"value":"d","n":[1,2]}', [4]],
    ]);
    expect(seen.find((r) => r.url.startsWith('/f1/_search'))!.url).toBe('/f1/_search?preference=_shards%3A0');
  });

  it('counts with _msearch, sent as ndjson', async () => {
    expect(await es.counts('f1', [{ ids: { values: ['2', '3'] } }, { match_all: {} }], '_shards:0')).toEqual([2, 2]);
    const req = seen.find((r) => r.url === '/_msearch')!;
    expect(req.headers['content-type']).toBe('application/x-ndjson');
    expect(req.body.split('\n')[0]).toBe('{"index":"f1","preference":"_shards:0"}');
  });

  it('gives every _bulk item its outcome: created, a version conflict, deleted, a mapping error', async () => {
    const items = await es.bulk([Buffer.from('{"index":{"_index":"f1","_id":"5"}}\n'), Buffer.from('{"v":1}\n')]);
    expect(items.map((i) => [i.action, i.id, i.status, i.error?.type])).toEqual([
      ['index', '5', 201, undefined],
      ['index', '5', 409, 'version_conflict_engine_exception'],
      ['delete', '5', 200, undefined],
      ['index', '6', 400, 'mapper_parsing_exception'],
    ]);
    const req = seen.find((r) => r.url.startsWith('/_bulk'))!;
    expect(req.body).toBe('{"index":{"_index":"f1","_id":"5"}}\n{"v":1}\n');
    expect(req.url).toContain('filter_path=items.*._id');
  });

  it("turns OpenSearch's error answer into kccr's error with its type and reason", async () => {
    const e = await es.searchRaw('no-such-index', { size: 1 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ES_NOT_FOUND', retriable: false });
    expect((e as Error).message).toMatch(/index_not_found_exception: no such index \[no-such-index\]/);
  });

  it('is unavailable (transient), not crashed, when nothing listens', async () => {
    const down = new ElasticsearchAdapter({ url: 'http://127.0.0.1:1' });
    const e = await down.indexExists('x').catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ES_UNAVAILABLE', retriable: true });
    expect((e as Error).message).toMatch(/cannot reach http:\/\/127\.0\.0\.1:1 for GET \/: .*ECONNREFUSED/);
    await down.close();
  });
});

describe('lowestVersion (an Elasticsearch version read from its nodes)', () => {
  it('takes the lowest x.y.z version, and none when no node names one', () => {
    expect(lowestVersion(['9.2.4', '8.19.21', '9.10.0'])).toBe('8.19.21');
    expect(lowestVersion(['8.19.21-SNAPSHOT', '', 'x'])).toBe('8.19.21-SNAPSHOT');
    expect(lowestVersion([])).toBe('');
  });
});

describe('an Elasticsearch version its nodes could not tell at first', () => {
  it("is asked for again later, not left unknown for the adapter's life", async () => {
    // Elasticsearch's integ-test zip: no GET / (405), the version in GET /_nodes, which fails the first time.
    let nodesCalls = 0;
    const elastic = { 'x-elastic-product': 'Elasticsearch', 'content-type': 'application/json' };
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      if (path === '/') return void res.writeHead(405, elastic).end('{"error":"Incorrect HTTP method for uri [/] and method [GET]","status":405}');
      if (path === '/_nodes') {
        nodesCalls++;
        if (nodesCalls === 1) return void res.writeHead(503, elastic).end('{"error":{"type":"unavailable"},"status":503}');
        return void res.writeHead(200, elastic).end('{"nodes":{"a":{"version":"8.19.21"},"b":{"version":"9.2.4"}}}');
      }
      res.writeHead(404, elastic).end('{"status":404}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const es = new ElasticsearchAdapter({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }, { maxRetries: 0, versionRetryMs: 200 });
    try {
      expect(await es.engine()).toEqual({ kind: 'elasticsearch', version: '' });
      // Within the retry interval, not asked again.
      expect(await es.engine()).toEqual({ kind: 'elasticsearch', version: '' });
      expect(nodesCalls).toBe(1);
      await new Promise((r) => setTimeout(r, 250));
      expect(await es.engine()).toEqual({ kind: 'elasticsearch', version: '8.19.21' });
      // Known now: kept, not asked again.
      await new Promise((r) => setTimeout(r, 250));
      expect(await es.engine()).toEqual({ kind: 'elasticsearch', version: '8.19.21' });
      expect(nodesCalls).toBe(2);
    } finally {
      await es.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
