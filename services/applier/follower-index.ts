/**
 * Creating and keeping the follower index like the leader's: settings at creation, mappings and aliases kept in
 * step with the leader's METADATA records (which come before any document that needs them). Settings and mapping
 * parameters the follower does not know are left out and reported (translate.ts); a field type it does not know
 * fails the replication with the reason.
 */
import type { ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import type { IndexMetadata } from '../shared/envelope.js';
import { errorMessage, failureKind, KccrError } from '../shared/errors.js';
import { vectorFields } from '../shared/leader-source.js';
import { mappingConflicts, originMapping } from '../shared/merge.js';
import type { MergeSpec } from '../shared/merge.js';
import { followerSettings } from './bulk.js';
import { describeLeftOut, inexpressible, leaveOut, readRefusal, withoutLeftOut } from './translate.js';
import type { LeftOut } from './translate.js';

/** What creating and keeping the follower index asks of the follower cluster. */
export type FollowerIndexCluster = Pick<ElasticsearchAdapter, 'indexExists' | 'createIndex' | 'request'> & Partial<Pick<ElasticsearchAdapter, 'engine'>>;

/** A leader's index has few settings and parameters: more refusals than this are not a translation any more. */
const MAX_LEFT_OUT = 50;

async function followerName(es: Partial<Pick<ElasticsearchAdapter, 'engine'>>): Promise<string> {
  const e = await es.engine?.().catch(() => undefined);
  return e ? `${e.kind} ${e.version}` : 'its version';
}

/**
 * Runs `attempt` with the leader's settings and mappings, leaving out, one by one, what the follower says it does not
 * know (recorded in `leftOut`, which also holds what earlier calls left out).
 */
async function translating<T>(
  es: Partial<Pick<ElasticsearchAdapter, 'engine'>>,
  meta: { settings: Record<string, unknown>; mappings: Record<string, unknown> },
  leftOut: LeftOut[],
  attempt: (m: { settings: Record<string, unknown>; mappings: Record<string, unknown> }) => Promise<T>,
): Promise<T> {
  let current = withoutLeftOut(meta, leftOut);
  for (;;) {
    try {
      return await attempt(current);
    } catch (e) {
      if (!(e instanceof KccrError) || e.kind !== 'permanent') throw e;
      const refusal = readRefusal(errorMessage(e));
      if (!refusal) throw e;
      if (refusal.kind === 'type') throw new KccrError('ES_REJECTED', inexpressible(refusal, await followerName(es)), {}, { cause: e });
      const next = leftOut.length < MAX_LEFT_OUT ? leaveOut(current, refusal) : undefined;
      if (!next) throw e;
      leftOut.push(next.item);
      current = { settings: next.settings, mappings: next.mappings };
    }
  }
}

/** Creates the follower index when missing; returns false when it already existed. */
export async function ensureFollowerIndex(
  es: FollowerIndexCluster,
  index: string,
  meta: IndexMetadata,
  overrides: Record<string, unknown> | undefined,
  gcDeletes: string,
  leftOut: LeftOut[] = [],
): Promise<boolean> {
  if (await es.indexExists(index)) return false;
  const settings = keepVectorsInSource(followerSettings(meta.settings, overrides, gcDeletes), meta.mappings, await es.engine?.().catch(() => undefined));
  try {
    // A write index is set after, with the flag moved off the index that had it (aliasActions): created with it, the
    // index would be refused while an earlier generation still holds it.
    await translating(es, { settings, mappings: meta.mappings }, leftOut, (m) =>
      es.createIndex(index, { settings: { index: m.settings }, mappings: m.mappings, aliases: withoutWriteFlags(meta.aliases) }),
    );
  } catch (e) {
    if (e instanceof KccrError && /resource_already_exists_exception/.test(e.message)) return false;
    throw e;
  }
  await applyAliases(es, index, meta.aliases, true);
  return true;
}

/**
 * An Elasticsearch 9 follower keeps the leader's vector values in `_source`, unless the leader's own settings say
 * otherwise: 9.2 leaves them out of new indices' `_source` by default, and the follower's documents would then read
 * back without the vectors the leader's have (the verifier compares `_source` bytes).
 */
export function keepVectorsInSource(
  settings: Record<string, unknown>,
  mappings: Record<string, unknown> | undefined,
  engine: { readonly kind: string; readonly version: string } | undefined,
): Record<string, unknown> {
  if (engine?.kind !== 'elasticsearch' || !(Number(engine.version.split('.')[0]) >= 9) || vectorFields(mappings).length === 0) return settings;
  const mapping = (settings.mapping ?? {}) as Record<string, unknown>;
  if ('exclude_source_vectors' in mapping || 'mapping.exclude_source_vectors' in settings) return settings;
  return { ...settings, mapping: { ...mapping, exclude_source_vectors: 'false' } };
}

type AliasDefinitions = Readonly<Record<string, unknown>>;

function withoutWriteFlags(aliases: AliasDefinitions | undefined): Record<string, unknown> | undefined {
  if (!aliases) return aliases;
  return Object.fromEntries(Object.entries(aliases).map(([name, def]) => [name, omitWriteFlag(def)]));
}

function omitWriteFlag(def: unknown): Record<string, unknown> {
  const { is_write_index: _, ...rest } = (def ?? {}) as Record<string, unknown>;
  return rest;
}

/**
 * The `POST /_aliases` actions that give `index` the leader's aliases. A rollover alias's write flag moves to `index`
 * in the same atomic request that takes it off the follower index holding it (`writeHolders`: alias name to that
 * index), as a rollover does on the leader: the leader's indices reach the follower each through its own topic, so
 * the new generation may arrive before the old one's update that dropped the flag, and Elasticsearch refuses an alias
 * with two write indices. `onlyWriteFlags`: only the aliases that carry the flag (their others were set already).
 */
export function aliasActions(
  index: string,
  aliases: AliasDefinitions,
  writeHolders: Readonly<Record<string, string | undefined>>,
  onlyWriteFlags = false,
): Record<string, unknown>[] {
  const actions: Record<string, unknown>[] = [];
  for (const [alias, def] of Object.entries(aliases)) {
    const write = (def as { is_write_index?: unknown } | undefined)?.is_write_index === true;
    if (onlyWriteFlags && !write) continue;
    const holder = writeHolders[alias];
    if (write && holder !== undefined && holder !== index) actions.push({ add: { index: holder, alias, is_write_index: false } });
    actions.push({ add: { index, alias, ...(def as object) } });
  }
  return actions;
}

/** Applies the leader's aliases to the follower index, moving write flags as aliasActions says. */
async function applyAliases(
  es: Pick<FollowerIndexCluster, 'request'>,
  index: string,
  aliases: AliasDefinitions | undefined,
  onlyWriteFlags = false,
): Promise<void> {
  const entries = Object.entries(aliases ?? {});
  if (entries.length === 0) return;
  const writeHolders: Record<string, string | undefined> = {};
  for (const [alias, def] of entries) {
    if ((def as { is_write_index?: unknown } | undefined)?.is_write_index !== true) continue;
    const r = await es.request<Record<string, { aliases?: Record<string, { is_write_index?: boolean }> }>>('GET', `/_alias/${encodeURIComponent(alias)}`, {
      ignore: [404],
      query: { expand_wildcards: 'all' },
    });
    writeHolders[alias] = r.status === 404 ? undefined : Object.entries(r.body ?? {}).find(([, v]) => v.aliases?.[alias]?.is_write_index === true)?.[0];
  }
  const actions = aliasActions(index, aliases ?? {}, writeHolders, onlyWriteFlags);
  if (actions.length > 0) await es.request('POST', '/_aliases', { body: { actions } });
}

/** Brings mappings (additions) and aliases of an existing follower index up to the leader's. */
export async function applyMetadata(
  es: Pick<FollowerIndexCluster, 'request' | 'engine'>,
  index: string,
  meta: IndexMetadata,
  leftOut: LeftOut[] = [],
): Promise<void> {
  if (meta.mappings && Object.keys(meta.mappings).length > 0) {
    await translating(es, { settings: {}, mappings: meta.mappings }, leftOut, (m) =>
      es.request('PUT', `/${encodeURIComponent(index)}/_mapping`, { body: m.mappings }),
    );
  }
  await applyAliases(es, index, meta.aliases);
}

/** What was left out, as status and the CLI show it. */
export function leftOutList(leftOut: readonly LeftOut[]): string[] {
  return [...new Set(leftOut.map(describeLeftOut))];
}

/**
 * What a merged index is created with from its first source's metadata: that source's mappings with the provenance
 * field (keywords) added, and no aliases (a leader's aliases name one leader index; a merged index has many).
 */
export function mergedIndexMetadata(meta: IndexMetadata, merge: MergeSpec): IndexMetadata {
  const mappings = (meta.mappings ?? {}) as { properties?: Record<string, unknown> };
  const origin = originMapping(merge.originField).properties;
  return { ...meta, mappings: { ...mappings, properties: { ...(mappings.properties ?? {}), ...origin } }, aliases: {} };
}

/**
 * Puts one source's mappings onto a merged index, after checking them against the index's: a field another source
 * gave another type is a MERGE_MAPPING_CONFLICT naming the field and both types, and nothing is put (the index stays
 * as it was). A refusal the check did not foresee (a parameter that cannot change) is one too, with the cluster's
 * reason.
 */
export async function applyMergedMetadata(es: Pick<FollowerIndexCluster, 'request'>, merge: MergeSpec, source: string, meta: IndexMetadata): Promise<void> {
  const incoming = (meta.mappings ?? {}) as Parameters<typeof mappingConflicts>[1];
  if (!incoming?.properties || Object.keys(incoming.properties).length === 0) return;
  const r = await es.request<Record<string, { mappings?: Parameters<typeof mappingConflicts>[0] }>>('GET', `/${encodeURIComponent(merge.into)}/_mapping`);
  const existing = Object.values(r.body)[0]?.mappings;
  const conflicts = mappingConflicts(existing, incoming);
  if (conflicts.length > 0) {
    const list = conflicts.map((c) => `field [${c.field}] is [${c.existing}] in ${merge.into} but [${c.incoming}] in ${source}`).join('; ');
    throw new KccrError(
      'MERGE_MAPPING_CONFLICT',
      `mapping conflict in merged index ${merge.into}: ${list}; this source applies nothing until it is resolved, the other sources go on`,
      {
        index: merge.into,
        fields: conflicts.map((c) => c.field),
      },
    );
  }
  try {
    await es.request('PUT', `/${encodeURIComponent(merge.into)}/_mapping`, { body: incoming });
  } catch (e) {
    if (failureKind(e) !== 'permanent') throw e;
    throw new KccrError(
      'MERGE_MAPPING_CONFLICT',
      `mapping conflict in merged index ${merge.into}: the mappings of ${source} were refused (${errorMessage(e)}); this source applies nothing until it is resolved, the other sources go on`,
      { index: merge.into },
    );
  }
}
