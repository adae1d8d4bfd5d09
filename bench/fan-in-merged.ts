/**
 * `npm run bench -- fan-in-merged`: the central applier's drain rate with one source, with two sources merged into one
 * index (docs/design/fan-in.md), and with the same two sources per source, on a stack with two leader clusters
 * (KCCR_LEADER_CLUSTERS=2), and merged into an index of 4 shards made beforehand (a merged index otherwise takes
 * the shard count of its first source: this tells what that costs).
 *
 * Per case, leader indices of 2 shards take KCCR_BENCH_DOCS (20,000) documents of ~1 KB each (the same ids and bytes
 * in both leaders) while the applier is stopped; their replications are started (bootstrap scan) and once the
 * extractors have published them the applier is started and timed from its first document applied to the last
 * (document counts polled every 250 ms), and from its start. The cases run KCCR_BENCH_ROUNDS (3) times, interleaved;
 * the table gives medians. The services run with their own defaults.
 */
import { mergedSourceName, DEFAULT_ID_TEMPLATE, DEFAULT_ORIGIN_FIELD, originMapping } from '../services/shared/merge.js';
import type { ExtractorStatus, ReplicationSpec } from '../services/shared/replication.js';
import { extractorStatusKey } from '../services/shared/replication.js';
import { changeTopic } from '../services/shared/topics.js';
import { dropOrphanLedgers } from '../test/support/cleanup.js';
import { startHarness } from '../test/support/replication.js';
import { startService } from '../test/support/services.js';
import type { ServiceProcess } from '../test/support/services.js';
import { ElasticsearchAdapter } from '../services/shared/adapters/elasticsearch.js';
import { esConnection, leaderClusters, loadStack, uniqueName, waitFor } from '../test/support/stack.js';
import { bulkAll } from './catchup.js';
import { defaultServiceEnv, envNumber, median, table, writeResults } from './lib.js';

const DOCS = envNumber('KCCR_BENCH_DOCS', 20_000);
/** Each case runs this many times, the cases interleaved (the first round also warms the stack up); medians reported. */
const ROUNDS = envNumber('KCCR_BENCH_ROUNDS', 3);

interface Case {
  readonly name: string;
  readonly sources: 1 | 2;
  readonly merged: boolean;
  /** The merged index made beforehand with this many shards (else it takes the first source's 2). */
  readonly mergedShards?: number;
}

const CASES: readonly Case[] = [
  { name: '1 source', sources: 1, merged: false },
  { name: '2 sources, merged into one index', sources: 2, merged: true },
  { name: '2 sources, per source', sources: 2, merged: false },
  { name: '2 sources, merged into one index of 4 shards', sources: 2, merged: true, mergedShards: 4 },
];

interface Result {
  readonly name: string;
  readonly documents: number;
  readonly secondsFromStart: number;
  readonly secondsFromFirst: number;
  readonly docsPerSecond: number;
}

export async function benchFanInMerged(): Promise<void> {
  const stack = loadStack('plain');
  const leaders = leaderClusters(stack);
  if (leaders.length < 2) throw new Error('the fan-in bench needs a stack with 2 leader clusters (KCCR_LEADER_CLUSTERS=2)');
  const env = defaultServiceEnv();
  const h = await startHarness(stack, 'bench-fan-in', { env });
  const west = uniqueName('lc2');
  const leader2 = new ElasticsearchAdapter(esConnection(stack, leaders[1]!));
  const extractor2 = startService(
    stack,
    'extractor',
    { leaderCluster: west, followerCluster: h.names.followerCluster, leaderStackCluster: 'leader2', env },
    `bench-fan-in-${west}`,
  );
  const made: { cluster: string; index: string }[] = [];
  const followers: string[] = [];
  const results: Result[] = [];
  let applier: ServiceProcess | undefined;
  try {
    await h.applier.stop();
    for (const c of Array.from({ length: ROUNDS }, () => CASES).flat()) {
      const index = uniqueName('bench-fi');
      const sources = [
        { cluster: h.names.leaderCluster, es: h.leader },
        { cluster: west, es: leader2 },
      ].slice(0, c.sources);
      for (const s of sources) {
        await s.es.createIndex(index, { settings: { index: { number_of_shards: 2, number_of_replicas: 0, refresh_interval: '1s' } } });
        const load = await bulkAll(s.es, index, 2, DOCS);
        if (load.rejected > 0) throw new Error(`${load.rejected} documents refused by leader ${s.cluster}`);
        made.push({ cluster: s.cluster, index });
      }
      const into = `${index}-all`;
      // As the first source would create it, with the provenance mapping, but with more shards.
      if (c.mergedShards)
        await h.follower.createIndex(into, {
          settings: { index: { number_of_shards: c.mergedShards, number_of_replicas: 0 } },
          mappings: originMapping(DEFAULT_ORIGIN_FIELD),
        });
      for (const s of sources) {
        const followerIndex = c.merged ? mergedSourceName(into, { leaderCluster: s.cluster, leaderIndex: index }) : `${s.cluster}-${index}`;
        await h.store.start({
          followerCluster: h.names.followerCluster,
          followerIndex,
          leaderCluster: s.cluster,
          leaderIndex: index,
          requestedBy: 'bench',
          ...(c.merged ? { merge: { into, idTemplate: DEFAULT_ID_TEMPLATE, originField: DEFAULT_ORIGIN_FIELD } } : {}),
        });
        followers.push(c.merged ? into : followerIndex);
      }
      const targets = c.merged ? [into] : sources.map((s) => `${s.cluster}-${index}`);
      // Everything in the topics before the applier starts: what is timed is the applier alone.
      for (const s of sources) {
        await waitFor(
          `${s.cluster}:${index} scanned into its topic`,
          async () => {
            const st = h.status.get(extractorStatusKey(s.cluster, index)) as ExtractorStatus | undefined;
            return st?.bootstrap?.finishedAt != null && st.bootstrap.docs >= DOCS;
          },
          300_000,
          500,
        );
      }
      const total = DOCS * c.sources;
      const t0 = Date.now();
      applier = startService(stack, 'applier', { ...h.names, env }, `bench-fan-in-applier-${c.sources}${c.merged ? 'm' : ''}`);
      let first: number | undefined;
      await waitFor(
        `${total} documents applied`,
        async () => {
          let n = 0;
          for (const t of targets) {
            if (!(await h.follower.indexExists(t))) continue;
            n += (await h.follower.shardStats(t)).reduce((k, s) => k + s.indexTotal, 0);
          }
          if (n > 0 && first === undefined) first = Date.now();
          return n >= total;
        },
        600_000,
        250,
      );
      const done = Date.now();
      await applier.stop();
      applier = undefined;
      const r: Result = {
        name: c.name,
        documents: total,
        secondsFromStart: (done - t0) / 1000,
        secondsFromFirst: (done - (first ?? t0)) / 1000,
        docsPerSecond: total / ((done - (first ?? t0)) / 1000),
      };
      console.log(JSON.stringify(r));
      results.push(r);
      // The case's replications stop: the next case's applier reads only its own.
      for (const spec of h.store.list() as ReplicationSpec[])
        if (spec.followerCluster === h.names.followerCluster && spec.state !== 'stopped')
          await h.store.setState(spec.followerCluster, spec.followerIndex, 'stopped', 'bench');
    }
  } finally {
    await applier?.stop();
    await extractor2.stop();
    for (const m of made) {
      await (m.cluster === west ? leader2 : h.leader).deleteIndex(m.index).catch(() => undefined);
      await h.kafka.deleteTopics([changeTopic(m.cluster, m.index)]).catch(() => undefined);
    }
    for (const f of new Set(followers)) await h.follower.deleteIndex(f).catch(() => undefined);
    await dropOrphanLedgers(h.follower).catch(() => undefined);
    await h.close();
    await leader2.close();
  }
  const medianOf = (c: Case, k: (r: Result) => number) => median(results.filter((r) => r.name === c.name).map(k));
  const one = medianOf(CASES[0]!, (r) => r.docsPerSecond);
  const md = [
    `# fan-in: the central applier's drain rate, ${DOCS} documents of ~1 KB per source (2 shards each), median of ${ROUNDS}`,
    '',
    table(
      ['case', 'documents', 's from applier start', 's from first applied', 'docs/s', 'ratio to 1 source', 'docs/s each round'],
      CASES.map((c) => [
        c.name,
        DOCS * c.sources,
        medianOf(c, (r) => r.secondsFromStart),
        medianOf(c, (r) => r.secondsFromFirst),
        Math.round(medianOf(c, (r) => r.docsPerSecond)),
        medianOf(c, (r) => r.docsPerSecond) / one,
        results
          .filter((r) => r.name === c.name)
          .map((r) => Math.round(r.docsPerSecond))
          .join(', '),
      ]),
    ),
    '',
  ].join('\n');
  console.log(md);
  console.log(`written to ${writeResults('fan-in-merged', { docs: DOCS, results }, md)}`);
}
