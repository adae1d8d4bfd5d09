/**
 * `npm run bench -- fan-in`: the central applier's rate with two sources against its rate with one. Needs the plain
 * stack with two leader clusters (`KCCR_LEADER_CLUSTERS=2 npm run stack:up`).
 *
 * Each round drains KCCR_BENCH_DOCS (100,000) documents of ~1 KB through the one applier of the central cluster:
 *   - one source: all of them in one 3-shard index on leader 1;
 *   - two sources: half in a 3-shard index on leader 1, half in one on leader 2 (its own extractor), same ids.
 * The applier is stopped while the leaders take the documents and the extractors publish them all; then it is
 * started and timed until the follower indices hold every document (per index counts after a refresh). Rate =
 * documents / time from the applier's start. Rounds alternate which mode goes first (KCCR_BENCH_ROUNDS, 2); the
 * table gives each round, the medians, and the ratio two/one of the medians.
 */
import { ElasticsearchAdapter } from '../services/shared/adapters/elasticsearch.js';
import { extractorStatusKey } from '../services/shared/replication.js';
import type { ExtractorStatus } from '../services/shared/replication.js';
import { dropOrphanLedgers } from '../test/support/cleanup.js';
import { startHarness } from '../test/support/replication.js';
import type { Harness } from '../test/support/replication.js';
import { startService } from '../test/support/services.js';
import type { ServiceProcess } from '../test/support/services.js';
import { esConnection, leaderClusters, loadStack, uniqueName, waitFor } from '../test/support/stack.js';
import { bodies } from './catchup.js';
import { cpuSeconds, defaultServiceEnv, envNumber, table, writeResults } from './lib.js';

const DOCS = envNumber('KCCR_BENCH_DOCS', 100_000);
const ROUNDS = envNumber('KCCR_BENCH_ROUNDS', 2);

interface Source {
  readonly cluster: string;
  readonly es: ElasticsearchAdapter;
  readonly docs: number;
}

interface Drain {
  readonly mode: 'one' | 'two';
  readonly round: number;
  readonly seconds: number;
  readonly docsPerSecond: number;
  readonly applierCpuSeconds: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function load(es: ElasticsearchAdapter, index: string, docs: number): Promise<void> {
  await es.createIndex(index, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } });
  for (const body of bodies(index, docs)) {
    const items = await es.bulk(body);
    const failed = items.filter((i) => i.status >= 300);
    if (failed.length) throw new Error(`loading ${index}: ${failed.length} documents refused, first: ${JSON.stringify(failed[0])}`);
  }
}

async function drain(
  h: Harness,
  mode: Drain['mode'],
  round: number,
  sources: readonly Source[],
  made: { es: ElasticsearchAdapter; index: string }[],
): Promise<Drain> {
  if (h.applier.pid) await h.applier.stop();
  const pairs = sources.map((s) => ({ ...s, leaderIndex: uniqueName('bench-fi'), followerIndex: uniqueName(`bench-fi-${s.cluster.slice(0, 3)}`) }));
  for (const p of pairs) {
    await load(p.es, p.leaderIndex, p.docs);
    made.push({ es: p.es, index: p.leaderIndex }, { es: h.follower, index: p.followerIndex });
    await h.store.start({
      followerCluster: h.names.followerCluster,
      followerIndex: p.followerIndex,
      leaderCluster: p.cluster,
      leaderIndex: p.leaderIndex,
      requestedBy: 'bench',
    });
  }
  // Every document published before the applier starts: its rate alone is measured.
  for (const p of pairs) {
    const stats = await p.es.shardStats(p.leaderIndex);
    await waitFor(
      `the extractor of ${p.cluster} to publish ${p.leaderIndex}`,
      async () => {
        const s = h.status.get(extractorStatusKey(p.cluster, p.leaderIndex)) as ExtractorStatus | undefined;
        return !!s && stats.every((l) => (s.shards.find((x) => x.shard === l.shard)?.cursor ?? -1) >= l.globalCheckpoint);
      },
      1_800_000,
      500,
    );
  }
  const t0 = Date.now();
  h.applier.start();
  const pid = h.applier.pid!;
  await waitFor(
    `${DOCS} documents on the central cluster`,
    async () => {
      let total = 0;
      for (const p of pairs) {
        if (!(await h.follower.indexExists(p.followerIndex))) return false;
        await h.follower.refresh(p.followerIndex);
        total += (await h.follower.shardStats(p.followerIndex)).reduce((n, s) => n + s.docs, 0);
      }
      return total >= DOCS;
    },
    1_800_000,
    250,
  );
  const seconds = (Date.now() - t0) / 1000;
  const result: Drain = { mode, round, seconds, docsPerSecond: DOCS / seconds, applierCpuSeconds: cpuSeconds(pid) };
  console.log(`fan-in: ${JSON.stringify(result)}`);
  for (const p of pairs) await h.store.setState(h.names.followerCluster, p.followerIndex, 'stopped', 'bench');
  return result;
}

export async function benchFanIn(): Promise<void> {
  const stack = loadStack('plain');
  const leaders = leaderClusters(stack);
  if (leaders.length < 2) throw new Error(`the fan-in bench needs two leader clusters; this stack has ${leaders.length}: start it with KCCR_LEADER_CLUSTERS=2`);
  const env = defaultServiceEnv();
  let h: Harness | undefined;
  let west: ServiceProcess | undefined;
  const leader2 = new ElasticsearchAdapter(esConnection(stack, leaders[1]!));
  const made: { es: ElasticsearchAdapter; index: string }[] = [];
  const results: Drain[] = [];
  try {
    h = await startHarness(stack, 'bench-fan-in', { env });
    const westName = uniqueName('lc2');
    west = startService(
      stack,
      'extractor',
      { leaderCluster: westName, followerCluster: h.names.followerCluster, leaderStackCluster: leaders[1]!, env },
      'bench-fan-in-west',
    );
    const one: Source[] = [{ cluster: h.names.leaderCluster, es: h.leader, docs: DOCS }];
    const two: Source[] = [
      { cluster: h.names.leaderCluster, es: h.leader, docs: DOCS / 2 },
      { cluster: westName, es: leader2, docs: DOCS / 2 },
    ];
    for (let round = 1; round <= ROUNDS; round++) {
      const order: Drain['mode'][] = round % 2 ? ['one', 'two'] : ['two', 'one'];
      for (const mode of order) results.push(await drain(h, mode, round, mode === 'one' ? one : two, made));
    }
  } finally {
    await west?.stop();
    await h?.close();
    for (const m of made) await m.es.deleteIndex(m.index).catch(() => undefined);
    if (h) await dropOrphanLedgers(h.follower).catch(() => undefined);
    await leader2.close();
  }
  const rate = (mode: Drain['mode']) => median(results.filter((r) => r.mode === mode).map((r) => r.docsPerSecond));
  const cpu = (mode: Drain['mode']) => median(results.filter((r) => r.mode === mode).map((r) => (r.applierCpuSeconds / DOCS) * 1000));
  const rows = results.map((r) => [r.round, r.mode, r.seconds, Math.round(r.docsPerSecond), (r.applierCpuSeconds / DOCS) * 1000]);
  const summary = [
    `Central applier, ${DOCS} documents of ~1 KB, ${ROUNDS} rounds (one source: one 3-shard index; two sources: half each on two leader clusters)`,
    '',
    table(['round', 'sources', 'drain s', 'docs/s', 'applier CPU s / 1000 docs'], rows),
    '',
    table(
      ['', 'one source', 'two sources', 'two / one'],
      [
        ['docs/s (median)', Math.round(rate('one')), Math.round(rate('two')), rate('two') / rate('one')],
        ['applier CPU s / 1000 docs (median)', cpu('one'), cpu('two'), cpu('two') / cpu('one')],
      ],
    ),
  ].join('\n');
  console.log(`\n${summary}`);
  const dir = writeResults('fan-in', { docs: DOCS, rounds: ROUNDS, results }, summary);
  console.log(`results: ${dir}`);
}
