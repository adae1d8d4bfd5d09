/**
 * `kccr verify` against the real plain stack: a leader index and a follower index written alike are identical;
 * a deleted, an added and a reformatted document on the follower are reported as missing, extra and different,
 * by the core and by the command (exit codes, printed lines, JSON).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { parseSearchResponse } from '../../services/shared/raw-hits.js';
import { runVerify } from '../../services/verifier/main.js';
import type { CliOutput } from '../../services/verifier/main.js';
import { verifyIndex } from '../../services/verifier/verify.js';
import type { Difference } from '../../services/verifier/verify.js';
import { esConnection, loadStack, uniqueName } from '../support/stack.js';

const stack = loadStack('plain');
const leader = new ElasticsearchAdapter(esConnection(stack, 'leader'));
const follower = new ElasticsearchAdapter(esConnection(stack, 'follower'));
const env = { KCCR_LEADER_URL: stack.clusters.leader.url, KCCR_FOLLOWER_URL: stack.clusters.follower.url };

// `raw` is not indexed, so it may hold integers beyond a long; its bytes must still come back unchanged. `ratio` is
// mapped: dynamically, its first values (0 and 0.25, on different shards of one bulk) make OpenSearch 2.19 refuse one
// of the two ("mapper [ratio] cannot be changed from type [float] to [long]"), where Elasticsearch 8 takes float.
const INDEX_BODY = {
  settings: { number_of_shards: 3, number_of_replicas: 0 },
  mappings: { properties: { raw: { type: 'object', enabled: false }, ratio: { type: 'float' } } },
};
const PRETTY_SOURCE = '{\n  "title": "pretty \\"quoted\\" ü",\n  "price": 1.0,\n  "raw": {\n    "big": 12345678901234567890\n  }\n}';
const DOCS = Array.from({ length: 30 }, (_, i) => ({
  id: `doc-${i}`,
  routing: i % 3 === 0 ? `tenant-${i % 7}` : null,
  source: { n: i, ratio: i / 4, text: `value ${i}` },
}));

function bulkBody(index: string): string {
  return DOCS.map(
    (d) => `${JSON.stringify({ index: { _index: index, _id: d.id, ...(d.routing ? { routing: d.routing } : {}) } })}\n${JSON.stringify(d.source)}\n`,
  ).join('');
}

async function writeAlike(es: ElasticsearchAdapter, index: string, refresh: boolean): Promise<void> {
  await es.createIndex(index, INDEX_BODY);
  const items = await es.bulk(bulkBody(index), refresh ? { refresh: 'true' } : undefined);
  expect(items.filter((i) => i.status !== 201)).toEqual([]);
  await es.request('PUT', `/${index}/_doc/pretty`, { rawBody: PRETTY_SOURCE, query: { routing: 'tenant-x', ...(refresh ? { refresh: 'true' } : {}) } });
}

function capture(): CliOutput & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, log: (l) => lines.push(...l.split('\n')), error: (l) => errors.push(...l.split('\n')) };
}

describe('kccr verify', () => {
  const leaderIndex = uniqueName('verify-leader');
  const followerIndex = uniqueName('verify-follower');

  beforeAll(async () => {
    // The leader is refreshed by the test (the verifier never refreshes it); the follower is left unrefreshed.
    await writeAlike(leader, leaderIndex, true);
    await writeAlike(follower, followerIndex, false);
  });

  afterAll(async () => {
    await leader.deleteIndex(leaderIndex);
    await follower.deleteIndex(followerIndex);
    await Promise.all([leader.close(), follower.close()]);
  });

  it('reads the pretty-printed source back byte for byte', async () => {
    const raw = await leader.searchRaw(leaderIndex, { query: { ids: { values: ['pretty'] } } });
    const hit = parseSearchResponse(raw).hits[0];
    expect(hit?.routing).toBe('tenant-x');
    expect(hit?.source?.toString('utf8')).toBe(PRETTY_SOURCE);
  });

  it('finds two indices written alike identical, shard by shard, across several pages', async () => {
    const differences: Difference[] = [];
    const result = await verifyIndex(leader, follower, { leaderIndex, followerIndex, batchSize: 4, onDifference: (d) => differences.push(d) });
    expect(differences).toEqual([]);
    expect(result.identical).toBe(true);
    expect(result.shards.map((s) => s.shard)).toEqual([0, 1, 2]);
    expect(result.shards.reduce((n, s) => n + s.leaderScanned, 0)).toBe(DOCS.length + 1);
    expect(result.shards.reduce((n, s) => n + s.followerScanned, 0)).toBe(DOCS.length + 1);
    for (const s of result.shards) {
      expect(s.leaderCount).toBe(s.followerCount);
      expect(s.leaderScanned).toBe(s.leaderCount);
    }

    const out = capture();
    expect(await runVerify(['--leader-index', leaderIndex, '--follower-index', followerIndex], env, out)).toBe(0);
    expect(out.lines.at(-1)).toBe('verdict: identical');
    expect(out.lines).toContainEqual(expect.stringMatching(/^shard\s+leader docs\s+follower docs\s+missing\s+extra\s+different$/));
  });

  describe('after the follower drifted', () => {
    beforeAll(async () => {
      const deleted = DOCS[3]!;
      await follower.request('DELETE', `/${followerIndex}/_doc/${deleted.id}`, { query: { routing: deleted.routing ?? undefined } });
      await follower.request('PUT', `/${followerIndex}/_doc/stray`, { body: { n: -1 }, query: { routing: 'tenant-y' } });
      // The same JSON value, written the way JSON.stringify would: only a byte-level comparison sees it.
      await follower.request('PUT', `/${followerIndex}/_doc/pretty`, { body: JSON.parse(PRETTY_SOURCE) as unknown, query: { routing: 'tenant-x' } });
    });

    it('reports exactly one missing, one extra and one different document', async () => {
      const differences: Difference[] = [];
      const result = await verifyIndex(leader, follower, { leaderIndex, followerIndex, batchSize: 4, onDifference: (d) => differences.push(d) });
      expect(result.identical).toBe(false);
      expect(result.differences).toBe(3);
      const byKind = Object.fromEntries(differences.map((d) => [d.kind, d]));
      expect(differences).toHaveLength(3);
      expect(byKind.missing).toMatchObject({ id: 'doc-3', routing: DOCS[3]!.routing });
      expect(byKind.extra).toMatchObject({ id: 'stray', routing: 'tenant-y' });
      expect(byKind.different).toMatchObject({ id: 'pretty', routing: 'tenant-x' });
      expect(byKind.different?.detail).toMatch(/^_source differs: leader \d+ bytes sha256 [0-9a-f]{16}, follower \d+ bytes sha256 [0-9a-f]{16}$/);
      const totals = result.shards.reduce((t, s) => ({ missing: t.missing + s.missing, extra: t.extra + s.extra, different: t.different + s.different }), {
        missing: 0,
        extra: 0,
        different: 0,
      });
      expect(totals).toEqual({ missing: 1, extra: 1, different: 1 });
      for (const d of differences) expect(result.shards[d.shard]?.[d.kind]).toBe(1);
    });

    it('prints each difference and a verdict, caps what it prints, and exits 1', async () => {
      const out = capture();
      expect(await runVerify(['--leader-index', leaderIndex, '--follower-index', followerIndex, '--batch', '5', '--max-print', '2'], env, out)).toBe(1);
      const printed = out.lines.filter((l) => /^(missing|extra|different)\s+shard=\d id=/.test(l));
      expect(printed).toHaveLength(2);
      expect(out.lines).toContain('... and 1 more differences not printed (--max-print 2)');
      expect(out.lines.at(-1)).toBe('verdict: 3 differences');

      const all = capture();
      expect(await runVerify(['--leader-index', leaderIndex, '--follower-index', followerIndex], env, all)).toBe(1);
      expect(all.lines).toContainEqual(expect.stringMatching(/^missing\s+shard=\d id=doc-3 routing=tenant-3 {2}on the leader/));
      expect(all.lines).toContainEqual(expect.stringMatching(/^extra\s+shard=\d id=stray routing=tenant-y {2}on the follower/));
      expect(all.lines).toContainEqual(expect.stringMatching(/^different\s+shard=\d id=pretty routing=tenant-x {2}_source differs/));
    });

    it('prints one JSON document with --json', async () => {
      const out = capture();
      expect(await runVerify(['--leader-index', leaderIndex, '--follower-index', followerIndex, '--json'], env, out)).toBe(1);
      const doc = JSON.parse(out.lines.join('\n')) as { identical: boolean; differences: number; verdict: string; printed: Difference[]; shards: unknown[] };
      expect(doc).toMatchObject({ identical: false, differences: 3, verdict: '3 differences' });
      expect(doc.printed.map((d) => `${d.kind}:${d.id}`).sort()).toEqual(['different:pretty', 'extra:stray', 'missing:doc-3']);
      expect(doc.shards).toHaveLength(3);
    });
  });

  it('exits 2 with what to do for a follower index that does not exist, and for bad usage', async () => {
    const out = capture();
    const missing = uniqueName('verify-absent');
    expect(await runVerify(['--leader-index', leaderIndex, '--follower-index', missing], env, out)).toBe(2);
    expect(out.errors.join('\n')).toContain(
      `the follower index "${missing}" does not exist on ${stack.clusters.follower.url}. Check --follower-index, and KCCR_FOLLOWER_URL`,
    );

    const usage = capture();
    expect(await runVerify(['--follower-index', followerIndex, '--batch', 'lots'], env, usage)).toBe(2);
    const text = usage.errors.join('\n');
    expect(text).toContain('--leader-index: expected the leader index name, but it is not given');
    expect(text).toContain('--batch: expected a whole number from 1 to 10000, received "lots"');

    const unknown = capture();
    expect(await runVerify(['--leader-index', 'a', '--follower-index', 'b', '--colour'], env, unknown)).toBe(2);
    expect(unknown.errors.join('\n')).toMatch(/--colour.*\n.*kccr verify --help/s);
  });

  it('exits 3 when a cluster cannot be reached', async () => {
    const out = capture();
    const code = await runVerify(['--leader-index', leaderIndex, '--follower-index', followerIndex], { ...env, KCCR_FOLLOWER_URL: 'http://127.0.0.1:1' }, out);
    expect(code).toBe(3);
    expect(out.errors.join('\n')).toMatch(/cannot reach http:\/\/127\.0\.0\.1:1.*Check that the cluster is up and that KCCR_FOLLOWER_URL points at it/s);
  });
});
