/**
 * The ledger of a follower index: per document the applier applied, which leader shard it came from and the leader
 * `_seq_no` of the version written, in a small hidden index beside the follower (`.kccr-ledger-<follower>`). The
 * follower index itself stays exactly the leader's (same `_source`, same mappings). Delete reconciliation counts
 * the ledger per `_seq_no` range and compares with the leader's counts (bisect.ts); only narrow ranges are listed.
 *
 * Each entry is written before the document, with the document's external version, so replays and duplicates leave
 * it as they leave the document; a DELETE removes it with the same version. Entries are kept for every record
 * applied, including documents the follower refused (dead-lettered): the ledger follows the leader's documents, so
 * a refused document never hides a deleted one from the counts.
 */
import { createHash } from 'node:crypto';
import type { ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import type { ChangeEnvelope } from '../shared/envelope.js';
import { KccrError } from '../shared/errors.js';
import type { SeqRange } from './bisect.js';
import { classify, refusal } from './bulk.js';

const PREFIX = '.kccr-ledger-';
const MAX_INDEX_NAME_BYTES = 255;
const MAX_ID_BYTES = 512;
const BACKFILL_PAGE = 5000;

/** The ledger index of a follower index (a digest of the name when the name is too long to carry). */
export function ledgerIndexName(followerIndex: string): string {
  const name = `${PREFIX}${followerIndex}`;
  return Buffer.byteLength(name) <= MAX_INDEX_NAME_BYTES ? name : `${PREFIX}${createHash('sha256').update(followerIndex).digest('hex')}`;
}

/** One entry per document and shard (a custom routing lets an _id live in several shards). */
export function ledgerId(shard: number, id: string): string {
  const plain = `${shard}:${id}`;
  return Buffer.byteLength(plain) <= MAX_ID_BYTES ? plain : `${shard}#${createHash('sha256').update(id).digest('hex')}`;
}

export interface LedgerEntry {
  readonly shard: number;
  readonly seqNo: number;
  readonly id: string;
  readonly routing: string | null;
  readonly version: number;
  readonly deleted: boolean;
}

export function entryOf(e: ChangeEnvelope): LedgerEntry {
  return { shard: e.origin.shard, seqNo: e.origin.seqNo, id: e.id, routing: e.routing, version: e.version, deleted: e.op === 'DELETE' };
}

/** The _bulk body writing these entries, each with its document's external version. */
export function ledgerBulk(ledger: string, entries: readonly LedgerEntry[]): string {
  const lines: string[] = [];
  for (const x of entries) {
    const meta = { _index: ledger, _id: ledgerId(x.shard, x.id), version: x.version, version_type: 'external' };
    if (x.deleted) lines.push(JSON.stringify({ delete: meta }));
    else lines.push(JSON.stringify({ index: meta }), JSON.stringify({ s: x.shard, q: x.seqNo, i: x.id, r: x.routing }));
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

function rangeQuery(shard: number, r: SeqRange): unknown {
  return { bool: { filter: [{ term: { s: shard } }, { range: { q: { gte: r.from, lte: r.to } } }] } };
}

/** What a ledger's mapping says of it: whose it is, and whether it holds every document of its follower index. */
export interface LedgerMeta {
  readonly kccr?: string;
  readonly follower?: string;
  readonly complete?: boolean;
  /** The `createdAt` of the replication that uses it (absent in ledgers of earlier versions). */
  readonly replication?: number;
}

export interface LedgerMappings {
  readonly [index: string]: { mappings?: { _meta?: LedgerMeta } };
}

/**
 * Whether a stopped replication's ledger may be dropped: it is that replication's, or of no known one. A ledger
 * a later replication of the same follower index claimed (started again soon after the stop, perhaps by another
 * applier of the cluster that read the change first) is that replication's now, and stays.
 */
export function ledgerRetires(meta: LedgerMeta | undefined, stoppedCreatedAt: number): boolean {
  return meta?.replication === undefined || meta.replication === stoppedCreatedAt;
}

/**
 * How the leader _seq_no of a document found in the follower is told, for a ledger built from an existing
 * follower index: a document kccr wrote has version = leader _seq_no + 1, above the bootstrap checkpoint; one a
 * snapshot restore brought has its leader internal version (at most its _seq_no + 1, so at or below the checkpoint
 * + 1) and keeps the leader's _seq_no.
 */
export function leaderSeqOf(version: number, followerSeqNo: number, snapshotCheckpoint: number | undefined): number {
  return snapshotCheckpoint !== undefined && version - 1 <= snapshotCheckpoint ? followerSeqNo : version - 1;
}

export class Ledger {
  readonly index: string;

  /**
   * @param replication the `createdAt` of the replication using it, recorded in the ledger's mapping, so that the
   *   drop of a stopped replication's ledger never takes one a later replication of the same index uses.
   */
  constructor(
    private readonly es: ElasticsearchAdapter,
    readonly followerIndex: string,
    private readonly gcDeletes: string,
    private readonly replication: number,
  ) {
    this.index = ledgerIndexName(followerIndex);
  }

  private meta(complete: boolean): LedgerMeta {
    return { kccr: 'ledger', follower: this.followerIndex, complete, replication: this.replication };
  }

  private async create(complete: boolean): Promise<void> {
    try {
      await this.es.createIndex(this.index, {
        // Refreshed only when counted: no periodic refresh work on the follower for it.
        settings: { index: { number_of_shards: 1, auto_expand_replicas: '0-1', hidden: true, refresh_interval: '-1', gc_deletes: this.gcDeletes } },
        mappings: {
          dynamic: 'strict',
          _meta: this.meta(complete),
          properties: {
            s: { type: 'integer' },
            q: { type: 'long' },
            i: { type: 'keyword', index: false, doc_values: false },
            r: { type: 'keyword', index: false, doc_values: false },
          },
        },
      });
    } catch (e) {
      if (!(e instanceof KccrError && /resource_already_exists_exception/.test(e.message))) throw e;
    }
  }

  /**
   * Makes the ledger ready before the first write. A follower index just created gets a new, empty ledger (one left
   * from an earlier follower index of that name is dropped). A follower index that exists without a complete ledger
   * (restored by a snapshot bootstrap, or replicated by an earlier kccr) gets one built from its documents, once.
   */
  async ensure(followerCreated: boolean, snapshotCheckpoints: ReadonlyMap<number, number>, emptyWhenMissing = false): Promise<{ built: number } | undefined> {
    if (followerCreated) {
      await this.es.deleteIndex(this.index);
      await this.create(true);
      return undefined;
    }
    const r = await this.es.request<LedgerMappings>('GET', `/${encodeURIComponent(this.index)}/_mapping`, { ignore: [404] });
    const meta = r.status === 200 ? Object.values(r.body)[0]?.mappings?._meta : undefined;
    if (meta?.complete === true) {
      // A complete ledger of an earlier replication of this index (started again where it stopped): claimed.
      if (meta.replication !== this.replication) await this.putMeta(true);
      return undefined;
    }
    if (r.status === 404 && emptyWhenMissing) {
      await this.create(true);
      return undefined;
    }
    if (r.status === 404) await this.create(false);
    const built = await this.backfill(snapshotCheckpoints);
    await this.putMeta(true);
    return { built };
  }

  private async putMeta(complete: boolean): Promise<void> {
    await this.es.request('PUT', `/${encodeURIComponent(this.index)}/_mapping`, { body: { _meta: this.meta(complete) } });
  }

  private async backfill(snapshotCheckpoints: ReadonlyMap<number, number>): Promise<number> {
    type Hit = { _id: string; _routing?: string; _seq_no: number; _version: number; sort: number[] };
    const shards = Number(
      (
        await this.es.request<Record<string, { settings: { index: { number_of_shards: string } } }>>(
          'GET',
          `/${encodeURIComponent(this.followerIndex)}/_settings/index.number_of_shards`,
        )
      ).body[this.followerIndex]?.settings.index.number_of_shards ?? 1,
    );
    await this.es.refresh(this.followerIndex);
    let built = 0;
    for (let shard = 0; shard < shards; shard++) {
      let after: number[] | undefined;
      for (;;) {
        const page = await this.es.search<{ hits: { hits: Hit[] } }>(
          this.followerIndex,
          {
            size: BACKFILL_PAGE,
            _source: false,
            version: true,
            seq_no_primary_term: true,
            sort: [{ _seq_no: 'asc' }],
            track_total_hits: false,
            ...(after ? { search_after: after } : {}),
          },
          { preference: `_shards:${shard}` },
        );
        const hits = page.hits.hits;
        if (hits.length === 0) break;
        const cp = snapshotCheckpoints.get(shard);
        await this.write(
          hits.map((h) => {
            const seqNo = leaderSeqOf(h._version, h._seq_no, cp);
            return { shard, seqNo, id: h._id, routing: h._routing ?? null, version: seqNo + 1, deleted: false };
          }),
        );
        built += hits.length;
        after = hits[hits.length - 1]!.sort;
        if (hits.length < BACKFILL_PAGE) break;
      }
    }
    return built;
  }

  /** Writes entries; an entry the follower refuses for now is an error (the writes are read again). */
  async write(entries: readonly LedgerEntry[]): Promise<void> {
    const body = ledgerBulk(this.index, entries);
    if (!body) return;
    const results = await this.es.bulk(body);
    // Refused privileges are the operator's to fix (status FAILED, probed again); anything else passes by itself.
    const refused = results.find((r) => !['applied', 'skipped'].includes(classify(r)));
    if (refused) throw refusal(refused, { index: this.index, of: this.followerIndex });
  }

  /** The entries of one shard per range, after a refresh: what the follower holds as of now. */
  async counts(shard: number, ranges: readonly SeqRange[]): Promise<number[]> {
    await this.es.refresh(this.index);
    return this.es.counts(
      this.index,
      ranges.map((r) => rangeQuery(shard, r)),
    );
  }

  /** The documents of one shard whose leader _seq_no is in the range, page by page. */
  async *list(shard: number, range: SeqRange, pageSize: number): AsyncGenerator<{ id: string; routing: string | null }[]> {
    type Hit = { _source: { i: string; r: string | null }; sort: number[] };
    let after: number[] | undefined;
    for (;;) {
      const page = await this.es.search<{ hits: { hits: Hit[] } }>(this.index, {
        size: pageSize,
        query: rangeQuery(shard, range),
        _source: ['i', 'r'],
        sort: [{ q: 'asc' }],
        track_total_hits: false,
        ...(after ? { search_after: after } : {}),
      });
      const hits = page.hits.hits;
      if (hits.length === 0) return;
      yield hits.map((h) => ({ id: h._source.i, routing: h._source.r ?? null }));
      if (hits.length < pageSize) return;
      after = hits[hits.length - 1]!.sort;
    }
  }
}
