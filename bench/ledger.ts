/**
 * `npm run bench -- ledger`: what the delete ledger costs the follower's Elasticsearch per document.
 *
 * KCCR_BENCH_DOCS (200,000) documents of ~1 KB written into an empty 3-shard index as the applier writes them
 * (`_bulk` of 1,000 with external versions, three partitions in parallel), once alone and once with the ledger
 * entry of each document written first (the applier's Ledger, its own index and bulk), alternated for
 * KCCR_BENCH_ROUNDS (3) rounds. Per run: wall seconds and the follower's CPU seconds; the ratio with / without
 * is taken per round, and the medians are printed.
 */
import { bulkBody } from '../services/applier/bulk.js';
import type { PendingWrite } from '../services/applier/bulk.js';
import { entryOf, Ledger } from '../services/applier/ledger.js';
import { ElasticsearchAdapter } from '../services/shared/adapters/elasticsearch.js';
import type { ChangeEnvelope } from '../services/shared/envelope.js';
import { esConnection, loadStack, uniqueName } from '../test/support/stack.js';
import { cpuSeconds, documentOfAbout1KB, envNumber, median, pidOfStackPart, seededRandom, table, writeResults } from './lib.js';

const DOCS = envNumber('KCCR_BENCH_DOCS', 200_000);
const ROUNDS = envNumber('KCCR_BENCH_ROUNDS', 3);
const BATCH = 1000;
const PARTITIONS = 3;

/** The writes of one partition's batch, as the applier holds them (an envelope per document). */
function batch(partition: number, from: number, random: () => number): PendingWrite[] {
  const writes: PendingWrite[] = [];
  for (let i = from; i < Math.min(DOCS, from + BATCH); i++) {
    const envelope = {
      op: 'INDEX',
      id: `d${i}`,
      routing: null,
      version: i + 1,
      source: Buffer.from(JSON.stringify(documentOfAbout1KB(i, random))),
      origin: { shard: partition, seqNo: i },
    } as unknown as ChangeEnvelope;
    writes.push({ envelope, offset: String(i) });
  }
  return writes;
}

async function run(es: ElasticsearchAdapter, withLedger: boolean, followerPid: number): Promise<{ seconds: number; cpu: number }> {
  const index = uniqueName('bench-ledger');
  await es.createIndex(index, { settings: { index: { number_of_shards: PARTITIONS, number_of_replicas: 0 } } });
  const ledger = new Ledger(es, index, '24h', Date.now());
  if (withLedger) await ledger.ensure(true, new Map());
  const random = seededRandom(7);
  const c0 = cpuSeconds(followerPid);
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: PARTITIONS }, async (_, p) => {
      for (let from = p * BATCH; from < DOCS; from += PARTITIONS * BATCH) {
        const writes = batch(p, from, random);
        if (withLedger) await ledger.write(writes.map((w) => entryOf(w.envelope)));
        const items = await es.bulk(bulkBody(index, writes));
        if (items.some((it) => it.status >= 300)) throw new Error(`a write was refused: ${JSON.stringify(items.find((it) => it.status >= 300))}`);
      }
    }),
  );
  const result = { seconds: (Date.now() - t0) / 1000, cpu: cpuSeconds(followerPid) - c0 };
  await Promise.all([es.deleteIndex(index), es.deleteIndex(ledger.index)]);
  return result;
}

export async function benchLedger(): Promise<void> {
  const stack = loadStack('plain');
  const es = new ElasticsearchAdapter(esConnection(stack, 'follower'));
  const followerPid = pidOfStackPart('elasticsearch-follower');
  const rows: (string | number)[][] = [];
  const alone: { seconds: number; cpu: number }[] = [];
  const ledgered: { seconds: number; cpu: number }[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const a = await run(es, false, followerPid);
      const l = await run(es, true, followerPid);
      alone.push(a);
      ledgered.push(l);
      rows.push([round, a.seconds, a.cpu, l.seconds, l.cpu, l.cpu / a.cpu]);
    }
  } finally {
    await es.close();
  }
  const ratios = rows.map((r) => Number(r[5]));
  rows.push([
    'median',
    median(alone.map((x) => x.seconds)),
    median(alone.map((x) => x.cpu)),
    median(ledgered.map((x) => x.seconds)),
    median(ledgered.map((x) => x.cpu)),
    median(ratios),
  ]);
  const md = [
    `${DOCS} documents of ~1 KB into a 3-shard follower index, bulks of ${BATCH} with external versions, ${PARTITIONS} partitions in parallel; ${ROUNDS} rounds alternated.`,
    '',
    table(['round', 'documents alone: s', 'follower CPU s', 'with the ledger: s', 'follower CPU s', 'CPU ratio'], rows),
  ].join('\n');
  console.log(md);
  console.log(`results: ${writeResults('ledger', { docs: DOCS, rounds: ROUNDS, alone, ledgered, ratios }, md)}`);
}
