/**
 * Creating and keeping the follower index like the leader's: settings at creation, mappings and aliases kept in
 * step with the leader's METADATA records (which come before any document that needs them).
 */
import type { ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import type { IndexMetadata } from '../shared/envelope.js';
import { KccrError } from '../shared/errors.js';
import { mappingConflicts, originMapping } from '../shared/merge.js';
import type { MergeSpec } from '../shared/merge.js';
import { errorMessage, failureKind } from '../shared/errors.js';
import { followerSettings } from './bulk.js';

/** What creating and keeping the follower index asks of the follower cluster. */
export type FollowerIndexCluster = Pick<ElasticsearchAdapter, 'indexExists' | 'createIndex' | 'request'>;

/** Creates the follower index when missing; returns false when it already existed. */
export async function ensureFollowerIndex(
  es: Pick<FollowerIndexCluster, 'indexExists' | 'createIndex'>,
  index: string,
  meta: IndexMetadata,
  overrides: Record<string, unknown> | undefined,
  gcDeletes: string,
): Promise<boolean> {
  if (await es.indexExists(index)) return false;
  try {
    await es.createIndex(index, {
      settings: { index: followerSettings(meta.settings, overrides, gcDeletes) },
      mappings: meta.mappings,
      aliases: meta.aliases,
    });
    return true;
  } catch (e) {
    if (e instanceof KccrError && /resource_already_exists_exception/.test(e.message)) return false;
    throw e;
  }
}

/** Brings mappings (additions) and aliases of an existing follower index up to the leader's. */
export async function applyMetadata(es: Pick<FollowerIndexCluster, 'request'>, index: string, meta: IndexMetadata): Promise<void> {
  if (meta.mappings && Object.keys(meta.mappings).length > 0) {
    await es.request('PUT', `/${encodeURIComponent(index)}/_mapping`, { body: meta.mappings });
  }
  const aliases = Object.entries(meta.aliases ?? {});
  if (aliases.length > 0) {
    await es.request('POST', '/_aliases', { body: { actions: aliases.map(([alias, def]) => ({ add: { index, alias, ...(def as object) } })) } });
  }
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
