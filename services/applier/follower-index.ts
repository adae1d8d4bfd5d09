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
  es: FollowerIndexCluster,
  index: string,
  meta: IndexMetadata,
  overrides: Record<string, unknown> | undefined,
  gcDeletes: string,
): Promise<boolean> {
  if (await es.indexExists(index)) return false;
  try {
    // A write index is set after, with the flag moved off the index that had it (aliasActions): created with it, the
    // index would be refused while an earlier generation still holds it.
    await es.createIndex(index, {
      settings: { index: followerSettings(meta.settings, overrides, gcDeletes) },
      mappings: meta.mappings,
      aliases: withoutWriteFlags(meta.aliases),
    });
  } catch (e) {
    if (e instanceof KccrError && /resource_already_exists_exception/.test(e.message)) return false;
    throw e;
  }
  await applyAliases(es, index, meta.aliases, true);
  return true;
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
export async function applyMetadata(es: Pick<FollowerIndexCluster, 'request'>, index: string, meta: IndexMetadata): Promise<void> {
  if (meta.mappings && Object.keys(meta.mappings).length > 0) {
    await es.request('PUT', `/${encodeURIComponent(index)}/_mapping`, { body: meta.mappings });
  }
  await applyAliases(es, index, meta.aliases);
}
