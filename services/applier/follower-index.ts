/**
 * Creating and keeping the follower index like the leader's: settings at creation, mappings and aliases kept in
 * step with the leader's METADATA records (which come before any document that needs them).
 */
import type { ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import type { IndexMetadata } from '../shared/envelope.js';
import { KccrError } from '../shared/errors.js';
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
