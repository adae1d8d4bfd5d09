/**
 * `npm run bench -- large`: how long a large document takes from the leader to the follower, and what the services'
 * memory does meanwhile (the compiled services, their 128 MiB heap ceiling, default settings).
 *
 * A 2-shard leader index (the large field kept in _source only) is replicated. Then:
 *   - 90 MB: KCCR_BENCH_ROUNDS (3) times, one document of 90 MB is written to the leader and timed from the leader's
 *     acknowledgement until a realtime GET on the follower returns its new version; against it, the same bytes written
 *     straight to the follower (`direct`, the follower's own cost for such a document), measured in the same round;
 *   - 50 MB: KCCR_BENCH_DOCS_50 (6) documents of 50 MB written back to back (both shards), timed until the follower
 *     holds the last one.
 * Resident memory of the extractor and the applier is sampled every 100 ms: peak and at rest, per phase.
 */
import { randomBytes } from 'node:crypto';
import type { ElasticsearchAdapter } from '../services/shared/adapters/elasticsearch.js';
import { startHarness, startReplication } from '../test/support/replication.js';
import { loadStack, uniqueName, waitFor } from '../test/support/stack.js';
import { closeBenchHarness, defaultServiceEnv, envNumber, median, rssSampler, table, writeResults } from './lib.js';

const MB = 1024 * 1024;
const ROUNDS = envNumber('KCCR_BENCH_ROUNDS', 3);
const DOCS_50 = envNumber('KCCR_BENCH_DOCS_50', 6);

function document(bytes: number, n: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      n,
      blob: randomBytes(Math.ceil((bytes * 3) / 4))
        .toString('base64')
        .slice(0, bytes),
    }),
  );
}

async function put(es: ElasticsearchAdapter, index: string, id: string, body: Buffer): Promise<number> {
  const t0 = Date.now();
  await es.request('PUT', `/${index}/_doc/${id}`, { rawBody: body });
  return Date.now() - t0;
}

/** Polls the follower (realtime GET of the small field only) until the document shows `n`; returns when. */
async function arrived(es: ElasticsearchAdapter, index: string, id: string, n: number, timeoutMs = 600_000): Promise<number> {
  await waitFor(
    `${id} with n=${n} on the follower`,
    async () => {
      const r = await es
        .request<{ found?: boolean; _source?: { n?: number } }>('GET', `/${index}/_doc/${id}`, { query: { _source_includes: 'n' }, ignore: [404] })
        .catch(() => undefined);
      return r?.body._source?.n === n;
    },
    timeoutMs,
    50,
  );
  return Date.now();
}

export async function benchLarge(): Promise<void> {
  const stack = loadStack('plain');
  const h = await startHarness(stack, 'bench-large', { env: defaultServiceEnv() });
  const leaderIndex = uniqueName('bench-large');
  const followerIndex = uniqueName('bench-large-f');
  const directIndex = uniqueName('bench-large-direct');
  const mappings = { properties: { blob: { type: 'text', index: false } } };
  await h.leader.createIndex(leaderIndex, { settings: { index: { number_of_shards: 2, number_of_replicas: 0 } }, mappings });
  await h.follower.createIndex(directIndex, { settings: { index: { number_of_shards: 2, number_of_replicas: 0 } }, mappings });
  await startReplication(h, leaderIndex, followerIndex);
  await put(h.leader, leaderIndex, 'warm', document(1024, 0));
  await arrived(h.follower, followerIndex, 'warm', 0, 120_000);
  await new Promise((r) => setTimeout(r, 3000));
  const pids = { extractor: h.extractor.pid, applier: h.applier.pid };

  const rounds: { round: number; leaderMs: number; replicationMs: number; directMs: number }[] = [];
  const rss90 = rssSampler(pids, 100);
  for (let round = 1; round <= ROUNDS; round++) {
    const doc = document(90 * MB, round);
    const leaderMs = await put(h.leader, leaderIndex, 'doc90', doc);
    const acked = Date.now();
    const replicationMs = (await arrived(h.follower, followerIndex, 'doc90', round)) - acked;
    const directMs = await put(h.follower, directIndex, 'doc90', doc);
    rounds.push({ round, leaderMs, replicationMs, directMs });
    console.log(`90 MB round ${round}: leader ${leaderMs} ms, replication ${replicationMs} ms, direct write ${directMs} ms`);
  }
  const mem90 = rss90.stop();

  const rss50 = rssSampler(pids, 100);
  const t0 = Date.now();
  for (let i = 0; i < DOCS_50; i++) await put(h.leader, leaderIndex, `doc50-${i}`, document(50 * MB, 1000 + i));
  const written50 = Date.now() - t0;
  await arrived(h.follower, followerIndex, `doc50-${DOCS_50 - 1}`, 1000 + DOCS_50 - 1);
  const all50 = Date.now() - t0;
  const mem50 = rss50.stop();
  await closeBenchHarness(h, [leaderIndex], [followerIndex]);
  await h.follower.deleteIndex(directIndex).catch(() => undefined);

  const med = (k: 'leaderMs' | 'replicationMs' | 'directMs') => median(rounds.map((r) => r[k]));
  const summary = [
    '# Large documents',
    '',
    `${new Date().toISOString()}: a 2-shard index, the compiled services at their defaults (chunks of 512 KiB, 128 MiB heap ceiling).`,
    '',
    '## 90 MB document, leader acknowledgement to the follower (realtime GET)',
    '',
    table(
      ['round', 'leader write ms', 'replication ms', 'direct write to the follower ms', 'replication / direct'],
      [
        ...rounds.map((r) => [r.round, r.leaderMs, r.replicationMs, r.directMs, r.replicationMs / r.directMs]),
        ['median', med('leaderMs'), med('replicationMs'), med('directMs'), med('replicationMs') / med('directMs')],
      ],
    ),
    '',
    `## ${DOCS_50} documents of 50 MB back to back`,
    '',
    `Written to the leader in ${(written50 / 1000).toFixed(1)} s; the last on the follower ${(all50 / 1000).toFixed(1)} s after the first write began (${((DOCS_50 * 50) / (all50 / 1000)).toFixed(1)} MB/s end to end).`,
    '',
    '## Resident memory (MiB)',
    '',
    table(
      ['service', 'at rest', 'peak, 90 MB phase', 'peak, 50 MB phase'],
      Object.keys(pids).map((name) => [name, mem90.first[name] ?? 0, mem90.peak[name] ?? 0, mem50.peak[name] ?? 0]),
    ),
    '',
  ].join('\n');
  console.log(`\n${summary}`);
  const dir = writeResults('large', { rounds, written50Ms: written50, all50Ms: all50, docs50: DOCS_50, rss: { phase90: mem90, phase50: mem50 } }, summary);
  console.log(`results: ${dir}`);
}
