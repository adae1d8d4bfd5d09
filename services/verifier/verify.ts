/**
 * The verifier's core: compares a leader index with its follower shard by shard, streaming, so indices of
 * millions of documents are checked without holding them. Leader shard N matches follower shard N because the
 * follower has the same number of shards and keeps each document's `_id` and `_routing`.
 *
 * Per shard, two passes, each paging one shard with `preference=_shards:N`, sorted on `_seq_no` with
 * `search_after` (a point in time cannot be combined with `preference`; `_seq_no` is unique within a shard, and
 * a document that changes meanwhile only moves to a higher `_seq_no`, so no unchanged document is skipped):
 *   A. leader -> follower: each leader page is looked up on the follower with a realtime mget; a document not
 *      there is `missing`, one whose `_source` bytes or `_routing` differ is `different`.
 *   B. follower -> leader: each follower page (ids only) is looked up on the leader; a document the leader does
 *      not have is `extra`.
 * A suspect is looked at once more, realtime on both sides, before it is reported, so that a document written
 * between the page read and the mget is not a false difference. Verify is meant for indices whose writes stopped.
 *
 * The leader is only searched and read (never refreshed). The follower is refreshed once at the start, so that
 * pass B and its document counts see every document the applier wrote.
 */
import { createHash } from 'node:crypto';
import type { ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import { KccrError } from '../shared/errors.js';
import { parseMgetResponse, parseSearchResponse } from '../shared/raw-hits.js';
import type { RawHit } from '../shared/raw-hits.js';
import { retry } from '../shared/retry.js';
import { leaderIdOf, originQuery, sourceWriter } from '../shared/merge.js';
import type { MergeSpec, SourceName } from '../shared/merge.js';

export type VerifyCluster = Pick<ElasticsearchAdapter, 'url' | 'request' | 'searchRaw' | 'mgetRaw' | 'shardStats' | 'refresh'>;

export type DifferenceKind = 'missing' | 'extra' | 'different';

export interface Difference {
  readonly shard: number;
  readonly id: string;
  /** The leader's routing for `missing` and `different`, the follower's for `extra`. */
  readonly routing: string | null;
  readonly kind: DifferenceKind;
  readonly detail: string;
}

export interface ShardResult {
  readonly shard: number;
  /** Documents per primary shard from index stats, as each cluster reports them (the leader is not refreshed). */
  readonly leaderCount: number;
  readonly followerCount: number;
  /** Documents read by pass A (leader) and pass B (follower). */
  readonly leaderScanned: number;
  readonly followerScanned: number;
  readonly missing: number;
  readonly extra: number;
  readonly different: number;
}

export interface VerifyResult {
  readonly leaderIndex: string;
  readonly followerIndex: string;
  /** No document missing, extra or different. Counts alone do not decide (see ShardResult). */
  readonly identical: boolean;
  readonly differences: number;
  readonly shards: readonly ShardResult[];
}

export interface VerifyOptions {
  readonly leaderIndex: string;
  readonly followerIndex: string;
  /** Documents per page and per mget (1 to 10000). */
  readonly batchSize?: number;
  /** Shards verified at once. */
  readonly concurrency?: number;
  /** Refresh the follower index first (default true); the leader is never refreshed. */
  readonly refreshFollower?: boolean;
  /** Called for each confirmed difference as it is found; differences are never accumulated. */
  readonly onDifference?: (d: Difference) => void;
  /**
   * The follower index is a merged index (followerIndex = merge.into) and the leader index this source of it: its
   * part of the merged index (documents with this provenance) is compared, ids mapped back, provenance set aside.
   */
  readonly merged?: { readonly merge: Pick<MergeSpec, 'idTemplate' | 'originField'>; readonly source: SourceName };
}

interface Side {
  readonly es: VerifyCluster;
  readonly index: string;
  readonly role: 'leader' | 'follower';
}

type Tally = { -readonly [K in 'leaderScanned' | 'followerScanned' | DifferenceKind]: number };
type Report = (d: Difference) => void;

// Transient failures (429, 5xx, timeouts) during a long scan are retried; the first contact is not, so that an
// unreachable cluster is reported at once.
const RETRY = { attempts: 5, initialMs: 200, maxMs: 5_000 } as const;

export async function verifyIndex(leader: VerifyCluster, follower: VerifyCluster, opts: VerifyOptions): Promise<VerifyResult> {
  const L: Side = { es: leader, index: opts.leaderIndex, role: 'leader' };
  const F: Side = { es: follower, index: opts.followerIndex, role: 'follower' };
  const batch = opts.batchSize ?? 1000;
  if (!Number.isInteger(batch) || batch < 1 || batch > 10_000)
    throw new KccrError('BAD_REQUEST', `batch size must be a whole number from 1 to 10000, received ${batch}`);
  const [leaderShards, followerShards] = await Promise.all([shardCount(L), shardCount(F)]);
  if (opts.merged) return verifyMergedSource(L, F, leaderShards, followerShards, batch, opts, opts.merged);
  if (leaderShards !== followerShards) {
    throw new KccrError(
      'BAD_REQUEST',
      `the leader index ${JSON.stringify(L.index)} has ${leaderShards} shards and the follower index ${JSON.stringify(F.index)} has ${followerShards}: ` +
        'verify compares leader shard N with follower shard N, so both must have the same number of shards',
      { leaderShards, followerShards },
    );
  }
  if (opts.refreshFollower ?? true) await F.es.refresh(F.index);

  const tallies: Tally[] = Array.from({ length: leaderShards }, () => ({ leaderScanned: 0, followerScanned: 0, missing: 0, extra: 0, different: 0 }));
  const report: Report = (d) => {
    tallies[d.shard]![d.kind]++;
    opts.onDifference?.(d);
  };
  await eachLimit(tallies.keys(), opts.concurrency ?? 2, async (shard) => {
    await leaderToFollower(L, F, shard, batch, tallies[shard]!, report);
    await followerToLeader(L, F, shard, batch, tallies[shard]!, report);
  });

  const [leaderStats, followerStats] = await Promise.all([leader.shardStats(L.index), follower.shardStats(F.index)]);
  const countOf = (stats: Awaited<ReturnType<VerifyCluster['shardStats']>>, shard: number) => stats.find((s) => s.shard === shard)?.docs ?? 0;
  const shards = tallies.map((t, shard) => ({ shard, leaderCount: countOf(leaderStats, shard), followerCount: countOf(followerStats, shard), ...t }));
  const differences = shards.reduce((n, s) => n + s.missing + s.extra + s.different, 0);
  return { leaderIndex: L.index, followerIndex: F.index, identical: differences === 0, differences, shards };
}

/**
 * A source of a merged index. Its documents are spread over the merged index's shards by their namespaced ids, so
 * the passes do not pair shards: pass A pages each leader shard and looks up the namespaced ids (with the leader's
 * routing), expecting the leader's `_source` with the provenance in front, byte for byte; pass B pages each shard of
 * the merged index, only this source's documents (by provenance), and looks their leader ids up on the leader.
 * Shard k of the result holds pass A of leader shard k and pass B of merged shard k.
 */
async function verifyMergedSource(
  L: Side,
  F: Side,
  leaderShards: number,
  followerShards: number,
  batch: number,
  opts: VerifyOptions,
  merged: NonNullable<VerifyOptions['merged']>,
): Promise<VerifyResult> {
  const { merge, source } = merged;
  if (opts.refreshFollower ?? true) await F.es.refresh(F.index);
  const n = Math.max(leaderShards, followerShards);
  const tallies: Tally[] = Array.from({ length: n }, () => ({ leaderScanned: 0, followerScanned: 0, missing: 0, extra: 0, different: 0 }));
  const report: Report = (d) => {
    tallies[d.shard]![d.kind]++;
    opts.onDifference?.(d);
  };
  const writer = sourceWriter(merge, source);
  const toFollower = (hits: readonly RawHit[]) => hits.map((h) => ({ id: writer.id(h.id), routing: h.routing }));
  const expected = (doc: RawHit): RawHit => ({ ...doc, source: doc.source && writer.source(doc.source) });
  await eachLimit(
    Array.from({ length: leaderShards }, (_, i) => i),
    opts.concurrency ?? 2,
    async (shard) => {
      for await (const hits of shardPages(L, shard, batch, true)) {
        tallies[shard]!.leaderScanned += hits.length;
        const copies = await mget(F, toFollower(hits), true);
        const suspects = hits.filter((hit, i) => judge(expected(hit), copies[i]!) !== null);
        if (suspects.length === 0) continue;
        const [now, copiesNow] = await Promise.all([mget(L, suspects, true), mget(F, toFollower(suspects), true)]);
        now.forEach((doc, i) => {
          if (!doc.found) return;
          const verdict = judge(expected(doc), copiesNow[i]!);
          if (verdict) report({ shard, id: doc.id, routing: doc.routing, ...verdict });
        });
      }
    },
  );
  const query = originQuery(merge.originField, source);
  await eachLimit(
    Array.from({ length: followerShards }, (_, i) => i),
    opts.concurrency ?? 2,
    async (shard) => {
      for await (const hits of shardPages(F, shard, batch, false, query)) {
        tallies[shard]!.followerScanned += hits.length;
        const back = hits.map((h) => ({ hit: h, id: leaderIdOf(merge.idTemplate, source, h.id) }));
        for (const b of back) {
          if (b.id === undefined)
            report({ shard, id: b.hit.id, routing: b.hit.routing, kind: 'extra', detail: `has this source's provenance but an _id outside its template` });
        }
        const mine = back.filter((b): b is { hit: RawHit; id: string } => b.id !== undefined);
        const originals = await mget(
          L,
          mine.map((b) => ({ id: b.id, routing: b.hit.routing })),
          false,
        );
        const suspects = mine.filter((_, i) => !originals[i]!.found);
        if (suspects.length === 0) continue;
        const [copiesNow, now] = await Promise.all([
          mget(
            F,
            suspects.map((s) => s.hit),
            false,
          ),
          mget(
            L,
            suspects.map((s) => ({ id: s.id, routing: s.hit.routing })),
            false,
          ),
        ]);
        copiesNow.forEach((copy, i) => {
          if (copy.found && !now[i]!.found) {
            report({
              shard,
              id: suspects[i]!.id,
              routing: suspects[i]!.hit.routing,
              kind: 'extra',
              detail: `on the follower as ${copy.id} (seq_no ${copy.seqNo}), not on the leader`,
            });
          }
        });
      }
    },
  );
  const leaderStats = await L.es.shardStats(L.index);
  const shards = tallies.map((t, shard) => ({
    shard,
    leaderCount: leaderStats.find((s) => s.shard === shard)?.docs ?? 0,
    followerCount: t.followerScanned,
    ...t,
  }));
  const differences = shards.reduce((k, s) => k + s.missing + s.extra + s.different, 0);
  return { leaderIndex: L.index, followerIndex: F.index, identical: differences === 0, differences, shards };
}

/** Pass A: every leader document must be on the follower, with the same `_source` bytes and `_routing`. */
async function leaderToFollower(L: Side, F: Side, shard: number, batch: number, tally: Tally, report: Report): Promise<void> {
  for await (const hits of shardPages(L, shard, batch, true)) {
    tally.leaderScanned += hits.length;
    const copies = await mget(F, hits, true);
    const suspects = hits.filter((hit, i) => judge(hit, copies[i]!) !== null);
    if (suspects.length === 0) continue;
    const [now, copiesNow] = await Promise.all([mget(L, suspects, true), mget(F, suspects, true)]);
    now.forEach((doc, i) => {
      // Deleted on the leader meanwhile: pass B judges whatever the follower still holds.
      if (!doc.found) return;
      const verdict = judge(doc, copiesNow[i]!);
      if (verdict) report({ shard, id: doc.id, routing: doc.routing, ...verdict });
    });
  }
}

/** Pass B: the follower must hold nothing the leader does not. Only ids are read, on both sides. */
async function followerToLeader(L: Side, F: Side, shard: number, batch: number, tally: Tally, report: Report): Promise<void> {
  for await (const hits of shardPages(F, shard, batch, false)) {
    tally.followerScanned += hits.length;
    const originals = await mget(L, hits, false);
    const suspects = hits.filter((_, i) => !originals[i]!.found);
    if (suspects.length === 0) continue;
    const [copiesNow, now] = await Promise.all([mget(F, suspects, false), mget(L, suspects, false)]);
    copiesNow.forEach((copy, i) => {
      if (copy.found && !now[i]!.found) {
        report({ shard, id: copy.id, routing: suspects[i]!.routing, kind: 'extra', detail: `on the follower (seq_no ${copy.seqNo}), not on the leader` });
      }
    });
  }
}

/** Why the follower's copy does not match a leader document that exists, or null when it matches. */
export function judge(leaderDoc: RawHit, copy: RawHit): { kind: 'missing' | 'different'; detail: string } | null {
  if (!copy.found) return { kind: 'missing', detail: `on the leader (seq_no ${leaderDoc.seqNo}), not on the follower` };
  if (copy.routing !== leaderDoc.routing)
    return { kind: 'different', detail: `_routing differs: leader ${JSON.stringify(leaderDoc.routing)}, follower ${JSON.stringify(copy.routing)}` };
  const a = leaderDoc.source;
  const b = copy.source;
  if (a === b || (a !== null && b !== null && a.equals(b))) return null;
  return { kind: 'different', detail: `_source differs: leader ${describe(a)}, follower ${describe(b)}` };
}

function describe(source: Buffer | null): string {
  if (source === null) return 'no _source';
  return `${source.length} bytes sha256 ${createHash('sha256').update(source).digest('hex').slice(0, 16)}`;
}

/** One shard's live documents, page by page in `_seq_no` order. A partial page (timeout, failed shard) is an error. */
async function* shardPages(side: Side, shard: number, batch: number, withSource: boolean, query?: unknown): AsyncGenerator<RawHit[]> {
  let after: readonly unknown[] | null = null;
  for (;;) {
    const body = {
      size: batch,
      // unmapped_type: an index that never held a document has no mapping yet, and the sort would fail.
      sort: [{ _seq_no: { order: 'asc', unmapped_type: 'long' } }],
      seq_no_primary_term: true,
      _source: withSource,
      track_total_hits: false,
      ...(query ? { query } : {}),
      ...(after ? { search_after: after } : {}),
    };
    const hits = await retry(async () => {
      const page = parseSearchResponse(await side.es.searchRaw(side.index, body, { preference: `_shards:${shard}`, allow_partial_search_results: false }));
      // `_shards:N` beyond the index's shards searches nothing and says so only here.
      if (page.timedOut || page.shards?.total !== 1 || page.shards.failed > 0) {
        throw new KccrError(
          'ES_UNAVAILABLE',
          `the search of shard ${shard} of the ${side.role} index ${side.index} on ${side.es.url} was incomplete (${JSON.stringify({ timedOut: page.timedOut, shards: page.shards })})`,
        );
      }
      return page.hits;
    }, RETRY);
    if (hits.length > 0) yield hits;
    if (hits.length < batch) return;
    after = hits.at(-1)?.sort ?? null;
    if (!after) throw new KccrError('INTERNAL', `a hit of shard ${shard} of ${side.index} came without sort values`);
  }
}

/** Realtime multi-get (sees unrefreshed documents), answers in request order. */
async function mget(side: Side, docs: readonly { id: string; routing: string | null }[], withSource: boolean): Promise<RawHit[]> {
  const found = await retry(async () => parseMgetResponse(await side.es.mgetRaw(side.index, docs, withSource ? undefined : { _source: false })), RETRY);
  if (found.length !== docs.length || found.some((d, i) => d.id !== docs[i]!.id)) {
    throw new KccrError('INTERNAL', `mget on the ${side.role} index ${side.index} answered ${found.length} documents for ${docs.length}, or out of order`);
  }
  return found;
}

/** The number of shards of the one index `side.index` names (an alias or pattern naming several is refused). */
async function shardCount(side: Side): Promise<number> {
  type Settings = Record<string, { settings?: { index?: { number_of_shards?: string } } }>;
  const r = await side.es.request<Settings>('GET', `/${encodeURIComponent(side.index)}/_settings/index.number_of_shards`, { ignore: [404] });
  if (r.status === 404) {
    throw new KccrError('ES_NOT_FOUND', `the ${side.role} index ${JSON.stringify(side.index)} does not exist on ${side.es.url}`, {
      role: side.role,
      index: side.index,
      url: side.es.url,
    });
  }
  const names = Object.keys(r.body);
  if (names.length !== 1) {
    throw new KccrError(
      'BAD_REQUEST',
      `the ${side.role} index name ${JSON.stringify(side.index)} matches ${names.length} indices on ${side.es.url} (${names.slice(0, 5).join(', ') || 'none'}): name exactly one index`,
      {
        role: side.role,
        index: side.index,
      },
    );
  }
  const shards = Number(r.body[names[0]!]?.settings?.index?.number_of_shards);
  if (!Number.isInteger(shards) || shards < 1) throw new KccrError('INTERNAL', `${side.es.url} did not report the number of shards of ${names[0]}`);
  return shards;
}

/** Runs `fn` over the items, at most `limit` at once; after a failure no new item starts. */
async function eachLimit<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let failed = false;
  const worker = async () => {
    for (let next = iterator.next(); !next.done && !failed; next = iterator.next()) {
      try {
        await fn(next.value);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
}
