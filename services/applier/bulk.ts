/**
 * The applier's pure core: envelopes into _bulk lines, and _bulk item results into outcomes.
 *
 * Every write is `version_type=external` with the envelope's version (leader _seq_no + 1, or Gr + 1 for a
 * reconciled delete): the follower keeps whatever is newest, so replays, duplicates and reordering across
 * restarts are harmless. Never `update` actions: external versions do not apply to them.
 */
import type { BulkItemResult } from '../shared/adapters/elasticsearch.js';
import type { ChangeEnvelope } from '../shared/envelope.js';
import { KccrError } from '../shared/errors.js';

export interface PendingWrite {
  readonly envelope: ChangeEnvelope;
  readonly offset: string;
}

export type Outcome = 'applied' | 'skipped' | 'dead-letter' | 'retry';

function action(index: string, w: PendingWrite): string {
  const e = w.envelope;
  const meta = {
    _index: index,
    _id: e.id,
    version: e.version,
    version_type: 'external',
    ...(e.routing !== null ? { routing: e.routing } : {}),
  };
  return JSON.stringify(e.op === 'DELETE' ? { delete: meta } : { index: meta });
}

/** A _bulk line must be one line: a pretty-printed source (raw newlines) is written with its own request. */
export function fitsBulk(w: PendingWrite): boolean {
  const s = w.envelope.source;
  return s === null || (s.indexOf(0x0a) === -1 && s.indexOf(0x0d) === -1);
}

const NEWLINE = Buffer.from('\n');

/**
 * The NDJSON body for these writes, in order, as its parts; sources are copied as the leader's bytes, unchanged.
 * Built as bytes: the sources never become JavaScript strings (no decode, no re-encode, off the JavaScript heap).
 */
export function bulkParts(index: string, writes: readonly PendingWrite[]): Buffer[] {
  const parts: Buffer[] = [];
  for (const w of writes) {
    parts.push(Buffer.from(`${action(index, w)}\n`, 'utf8'));
    if (w.envelope.op !== 'DELETE') parts.push(w.envelope.source!, NEWLINE);
  }
  return parts;
}

/** The NDJSON body for these writes as one buffer. */
export function bulkBody(index: string, writes: readonly PendingWrite[]): Buffer {
  return Buffer.concat(bulkParts(index, writes));
}

/**
 * What a bulk item's result means for the write it stands for.
 * - 200/201: applied. A delete of a document the follower does not have (404) is applied too: the tombstone
 *   with its version is what keeps an older replayed index from bringing it back.
 * - 409 version conflict: the follower already holds something newer; skip it and count it.
 * - 429, 5xx, and authorization failures (fixable by an operator, not by the document): retry later.
 * - anything else (mapping conflict, parse error): the document itself cannot be written: dead letter.
 */
export function classify(result: Pick<BulkItemResult, 'action' | 'status' | 'error'>): Outcome {
  const { status } = result;
  if (status === 200 || status === 201) return 'applied';
  if (status === 404 && result.action === 'delete' && (!result.error || result.error.type === 'not_found')) return 'applied';
  if (status === 409) return 'skipped';
  if (status === 429 || status >= 500 || status === 401 || status === 403) return 'retry';
  if (result.error?.type === 'index_not_found_exception' || result.error?.type === 'index_closed_exception' || result.error?.type === 'cluster_block_exception')
    return 'retry';
  return 'dead-letter';
}

/**
 * Why a write the follower refused for now is waited on: refused credentials or privileges for the document
 * (401, or 403 with a security exception) are an operator's to fix and probed again every minute; anything else
 * (429, 5xx, a block: a write-blocked index also answers 403) lifts by itself and is retried with backoff.
 */
export function refusal(r: { status: number; error?: { type: string; reason: string } }, ledger?: { index: string; of: string }): KccrError {
  const why = ` (${r.status}${r.error ? ` ${r.error.type}: ${r.error.reason}` : ''})`;
  const target = ledger ? ` to ${ledger.index}, the ledger of ${ledger.of}` : '';
  const grant = ledger ? `${ledger.index} (the pattern .kccr-ledger-*) as on the follower index` : 'the follower index';
  if (r.status === 401)
    return new KccrError('ES_UNAUTHENTICATED', `the follower refused the credentials for a write${target}${why}; fix the applier's user or password`);
  if (r.status === 403 && r.error?.type === 'security_exception')
    return new KccrError('ES_FORBIDDEN', `the follower denied a write${target}${why}; grant the applier's user write privileges on ${grant}`);
  return new KccrError('ES_UNAVAILABLE', `the follower refused a write${target} for now${why}`, ledger ? { index: ledger.index } : undefined);
}

/** Filters leader settings down to what a new follower index should take, with the follower's own on top. */
export function followerSettings(leader: Record<string, unknown>, overrides: Record<string, unknown> | undefined, gcDeletes: string): Record<string, unknown> {
  const { number_of_shards, ...rest } = leader;
  const flatOverrides = Object.fromEntries(Object.entries(overrides ?? {}).map(([k, v]) => [k.replace(/^index\./, ''), v]));
  if ('number_of_shards' in flatOverrides) delete flatOverrides.number_of_shards;
  // Same shard count as the leader: partition = shard, and documents keep their shard (verification per shard).
  return { ...rest, ...flatOverrides, number_of_shards, gc_deletes: gcDeletes };
}
