/**
 * Follower index settings as a start or update request gives them, in any of the spellings Elasticsearch accepts
 * ({"index": {"number_of_replicas": 0}}, {"index.number_of_replicas": 0}, {"number_of_replicas": 0}), brought to one
 * flat form without the `index.` prefix: what the applier lays over the leader's settings, and what
 * `PUT /<index>/_settings` takes under `index`.
 */
import { KccrError } from '../../shared/errors.js';
import { FIXED_SETTINGS } from '../../shared/rows.js';

/** No index setting is nested deeper than this (index.routing.allocation.include._name is 5). */
const MAX_DEPTH = 16;

export function normalizeSettings(settings: Record<string, unknown>): Record<string, unknown> {
  // Maps, not objects: a key such as __proto__ stays a key.
  const flat = new Map<string, unknown>();
  const walk = (prefix: string, value: unknown, depth = 0) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      if (depth >= MAX_DEPTH)
        throw new KccrError('BAD_REQUEST', `settings: nested deeper than ${MAX_DEPTH} levels at ${JSON.stringify(prefix.slice(0, 200))}; no index setting is`);
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0 && prefix) throw new KccrError('BAD_REQUEST', `settings: ${JSON.stringify(prefix)} is an empty object; give a value`);
      for (const [k, v] of entries) walk(prefix ? `${prefix}.${k}` : k, v, depth + 1);
      return;
    }
    if (flat.has(prefix)) throw new KccrError('BAD_REQUEST', `settings: ${prefix} is given twice`);
    flat.set(prefix, value);
  };
  walk('', settings);
  const out = new Map<string, unknown>();
  for (const [key, value] of flat) {
    const name = key.startsWith('index.') ? key.slice('index.'.length) : key;
    if (name === '' || name === 'index' || name.split('.').some((part) => part === ''))
      throw new KccrError('BAD_REQUEST', `settings: ${JSON.stringify(key)} is not a setting name`);
    if (FIXED_SETTINGS.includes(name))
      throw new KccrError('BAD_REQUEST', `settings: index.${name} cannot be set on a follower index: it always has the leader's shard count`);
    if (out.has(name)) throw new KccrError('BAD_REQUEST', `settings: index.${name} is given twice`);
    out.set(name, value);
  }
  return Object.fromEntries(out);
}

/** Stored follower settings with an update laid over: a null removes the setting (back to the leader's or the default). */
export function mergeSettings(current: Record<string, unknown> | undefined, update: Record<string, unknown>): Record<string, unknown> {
  const out = new Map(Object.entries(current ?? {}));
  for (const [k, v] of Object.entries(update)) {
    if (v === null) out.delete(k);
    else out.set(k, v);
  }
  return Object.fromEntries(out);
}
