/**
 * Creating and keeping the follower index like the leader's: settings at creation, mappings and aliases kept in
 * step with the leader's METADATA records (which come before any document that needs them). Settings and mapping
 * parameters the follower does not know are left out and reported (translate.ts); a field type it does not know
 * fails the replication with the reason.
 */
import type { ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import type { IndexMetadata } from '../shared/envelope.js';
import { errorMessage, KccrError } from '../shared/errors.js';
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
  es: Pick<FollowerIndexCluster, 'indexExists' | 'createIndex' | 'engine'>,
  index: string,
  meta: IndexMetadata,
  overrides: Record<string, unknown> | undefined,
  gcDeletes: string,
  leftOut: LeftOut[] = [],
): Promise<boolean> {
  if (await es.indexExists(index)) return false;
  try {
    await translating(es, { settings: followerSettings(meta.settings, overrides, gcDeletes), mappings: meta.mappings }, leftOut, (m) =>
      es.createIndex(index, { settings: { index: m.settings }, mappings: m.mappings, aliases: meta.aliases }),
    );
    return true;
  } catch (e) {
    if (e instanceof KccrError && /resource_already_exists_exception/.test(e.message)) return false;
    throw e;
  }
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
  const aliases = Object.entries(meta.aliases ?? {});
  if (aliases.length > 0) {
    await es.request('POST', '/_aliases', { body: { actions: aliases.map(([alias, def]) => ({ add: { index, alias, ...(def as object) } })) } });
  }
}

/** What was left out, as status and the CLI show it. */
export function leftOutList(leftOut: readonly LeftOut[]): string[] {
  return [...new Set(leftOut.map(describeLeftOut))];
}
