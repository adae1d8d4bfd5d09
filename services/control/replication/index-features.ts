/**
 * Index features that decide whether a leader index can be replicated exactly, checked when a replication starts
 * (docs/design/index-features.md). kccr copies documents from `_source`, so what the leader keeps of it is what the follower
 * can get: nothing (disabled: refused), a part (includes/excludes: refused unless accepted), or a source rebuilt from
 * the indexed fields (synthetic: accepted, the follower gets the same mapping). Pure: the leader's mappings and
 * settings are arguments.
 */
import type { IndexMeta } from '../../shared/adapters/elasticsearch.js';
import { leaderSource, vectorFields } from '../../shared/leader-source.js';
import type { LeaderSource } from '../../shared/leader-source.js';
import type { PartialSource, ReplicationSpec } from '../../shared/replication.js';

export type { LeaderSource, SourceMode } from '../../shared/leader-source.js';
export { vectorFields } from '../../shared/leader-source.js';

/** What a start may accept knowingly. */
export interface Acceptance {
  /** accept_partial_source: replicate a leader index that keeps only part of _source; the follower holds that part. */
  readonly partialSource?: boolean;
}

/** What the leader cluster says of an index beyond its mappings and settings. */
export interface LeaderFacts {
  /**
   * `index.mapping.exclude_source_vectors` in effect (set or by default: Elasticsearch 9.2's default for new indices):
   * the values of vector fields are kept out of `_source` and out of what a search returns of it.
   */
  readonly excludeSourceVectors?: boolean;
}

/** The vector fields a leader index keeps out of _source; none unless the leader says it does. */
function vectorsLeftOut(meta: Pick<IndexMeta, 'mappings'>, facts: LeaderFacts): string[] {
  return facts.excludeSourceVectors ? vectorFields(meta.mappings) : [];
}

/** How to accept a partial source, in each of the places a start comes from. */
const ACCEPT_PARTIAL =
  'start it with "accept_partial_source": true (kccr start --accept-partial-source; in an auto-follow rule, "accept_partial_source": true or kccr autofollow add --accept-partial-source)';

function describePartial(p: PartialSource): string {
  const list = (fields: readonly string[]) => fields.map((f) => JSON.stringify(f)).join(', ');
  return [p.includes.length ? `includes: ${list(p.includes)}` : '', p.excludes.length ? `excludes: ${list(p.excludes)}` : ''].filter(Boolean).join('; ');
}

function partialOf(source: LeaderSource): PartialSource | undefined {
  return source.includes.length || source.excludes.length ? { includes: source.includes, excludes: source.excludes } : undefined;
}

/**
 * A name that resolves to another index: an alias of it (the follower index gets the leader index's aliases), or a
 * data stream, which an auto-follow rule follows (autofollow/groups.ts): one replication per backing index.
 */
function aliasOrDataStream(requested: string, meta: Pick<IndexMeta, 'name' | 'aliases'>): string {
  const concrete = `leader_index ${JSON.stringify(meta.name)}`;
  if (requested in meta.aliases) {
    return `leader index ${requested} is an alias (it resolves to ${meta.name}); replicate the concrete index (${concrete}): the follower index gets the leader index's aliases`;
  }
  return (
    `leader index ${requested} is a data stream (its write index now is ${meta.name}); its backing indices roll over, so one replication cannot follow it: ` +
    `add an auto-follow rule whose pattern matches ${JSON.stringify(requested)} (POST /_plugins/_replication/_autofollow, or kccr autofollow add <name> --pattern '${requested}'), ` +
    `which replicates each backing index as it appears, retires those the leader deletes, and keeps ${requested} readable on the follower as an alias over them`
  );
}

/**
 * Why a leader index cannot be replicated exactly, refused at the start rather than discovered later; undefined
 * when it can (or the caller accepted what it would lose). Without `_source`, or with parts of it left out, the
 * follower would hold less than the leader indexed. An alias or a data stream name stands for other indices (and a
 * data stream rolls over to new ones): the concrete index is what a replication follows.
 */
export function unreplicable(
  requested: string,
  meta: Pick<IndexMeta, 'name' | 'mappings' | 'settings' | 'aliases'>,
  accept: Acceptance = {},
  facts: LeaderFacts = {},
): string | undefined {
  if (meta.name !== requested) return aliasOrDataStream(requested, meta);
  const source = leaderSource(meta);
  if (source.mode === 'disabled') {
    return `leader index ${requested} has _source disabled; kccr copies documents from _source and cannot replicate it: index the data into a leader index that keeps _source (stored or synthetic) and replicate that one`;
  }
  const partial = partialOf(source);
  if (partial && !accept.partialSource) {
    return `leader index ${requested} keeps only part of _source (_source ${describePartial(partial)}); kccr copies documents from _source, so the follower would hold less than the leader indexed. To replicate it knowingly (the follower then holds what the leader's _source keeps), ${ACCEPT_PARTIAL}`;
  }
  const vectors = vectorsLeftOut(meta, facts);
  if (vectors.length && !accept.partialSource) {
    return (
      `leader index ${requested} keeps the values of its vector fields (${vectors.map((f) => JSON.stringify(f)).join(', ')}) out of _source ` +
      `(index.mapping.exclude_source_vectors, Elasticsearch's default for indices made by 9.2 and later); kccr copies documents from _source, so the follower would get them without their vectors. ` +
      `To replicate them whole, index into a leader index made with "index.mapping.exclude_source_vectors": false (reindex into it) and replicate that one; to replicate this one without the vectors knowingly, ${ACCEPT_PARTIAL}`
    );
  }
  return undefined;
}

/** What the spec of an accepted start records of the leader's source: the follower's documents are not all the leader indexed, as indexed. */
export function sourceRecord(
  meta: Pick<IndexMeta, 'mappings' | 'settings'>,
  facts: LeaderFacts = {},
): Pick<ReplicationSpec, 'partialSource' | 'syntheticSource'> {
  const source = leaderSource(meta);
  const vectors = vectorsLeftOut(meta, facts);
  const partial = partialOf(source) ?? (vectors.length ? { includes: [], excludes: [] } : undefined);
  // Vector fields the leader keeps out of _source are what the follower does not get: listed as excluded.
  const withVectors = partial && vectors.length ? { includes: partial.includes, excludes: [...new Set([...partial.excludes, ...vectors])] } : partial;
  return { ...(withVectors ? { partialSource: withVectors } : {}), ...(source.mode === 'synthetic' ? { syntheticSource: true } : {}) };
}

/** What a start tells its caller about the follower's documents, when they are not the leader's as indexed. */
export function sourceNotes(spec: Pick<ReplicationSpec, 'leaderIndex' | 'partialSource' | 'syntheticSource'>): string[] {
  const notes: string[] = [];
  if (spec.partialSource) {
    notes.push(
      `partial _source accepted: the follower holds what leader index ${spec.leaderIndex}'s _source keeps (${describePartial(spec.partialSource)}); fields it leaves out are neither in the follower's documents nor searchable there`,
    );
  }
  if (spec.syntheticSource) {
    notes.push(
      `leader index ${spec.leaderIndex} has synthetic _source: the follower gets the same mapping and the documents as the leader rebuilds them; the values are kept, while key order, array order and duplicates, and number and date formatting are as the leader's synthetic _source gives them, not as they were indexed`,
    );
  }
  return notes;
}
