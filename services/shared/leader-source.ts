/**
 * How a leader index keeps its documents' `_source`, read from its mappings and settings: the control service checks
 * it at a start (docs/design/index-features.md), the extractor again while it runs. Pure.
 */
import type { IndexMeta } from './adapters/elasticsearch.js';

export type SourceMode = 'stored' | 'synthetic' | 'disabled';

/** How a leader index keeps its documents' `_source`. */
export interface LeaderSource {
  readonly mode: SourceMode;
  /** `_source.includes` / `_source.excludes`: the stored source keeps only these fields, or leaves these out. */
  readonly includes: readonly string[];
  readonly excludes: readonly string[];
}

/** Index modes whose `_source` is synthetic unless the index declares a source mode (Elasticsearch 8.x defaults). */
const SYNTHETIC_BY_DEFAULT = ['logsdb', 'time_series'];

/**
 * A leader index setting by its name without `index.`: GET /<index> nests it ({"mapping": {"source": ...}}); a flat
 * spelling ("mapping.source.mode", "index.mapping.source.mode") is read as well.
 */
function setting(settings: Record<string, unknown>, name: string): unknown {
  const flat = settings[name] ?? settings[`index.${name}`];
  if (flat !== undefined) return flat;
  let at: unknown = settings;
  for (const part of name.split('.')) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

function lower(v: unknown): string | undefined {
  return typeof v === 'string' ? v.toLowerCase() : undefined;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}

/**
 * The source mode is declared by the index setting `index.mapping.source.mode` (8.17 and later) or the older mapping
 * `_source.mode`; `_source.enabled: false` is the oldest way to disable it. Either one saying disabled is taken as
 * disabled: a follower cannot be given what the leader never kept.
 */
export function leaderSource(meta: Pick<IndexMeta, 'mappings' | 'settings'>): LeaderSource {
  const mapping = ((meta.mappings as { _source?: Record<string, unknown> })._source ?? {}) as {
    enabled?: unknown;
    mode?: unknown;
    includes?: unknown;
    excludes?: unknown;
  };
  const declared = [lower(setting(meta.settings, 'mapping.source.mode')), lower(mapping.mode)];
  // OpenSearch 3.x: `index.derived_source.enabled` rebuilds `_source` from the indexed values (keys and arrays sorted,
  // numbers reformatted, seen on 3.3.2), as Elasticsearch's synthetic source does; it has no source mode of its own.
  const derived = String(setting(meta.settings, 'derived_source.enabled')).toLowerCase() === 'true';
  const defaultMode: SourceMode = derived || SYNTHETIC_BY_DEFAULT.includes(lower(setting(meta.settings, 'mode')) ?? '') ? 'synthetic' : 'stored';
  const explicit = declared.find((m): m is SourceMode => m === 'stored' || m === 'synthetic' || m === 'disabled');
  const mode: SourceMode = mapping.enabled === false || declared.includes('disabled') ? 'disabled' : (explicit ?? defaultMode);
  return { mode, includes: strings(mapping.includes), excludes: strings(mapping.excludes) };
}

const VECTOR_TYPES = new Set(['dense_vector', 'rank_vectors', 'sparse_vector']);

/**
 * The paths of the vector fields of a mapping (`properties` and objects walked): what Elasticsearch 9.2 and later keep
 * out of `_source` by default (`index.mapping.exclude_source_vectors`).
 */
export function vectorFields(mappings: Record<string, unknown> | undefined, prefix = ''): string[] {
  const props = (mappings?.properties ?? {}) as Record<string, Record<string, unknown>>;
  const found: string[] = [];
  for (const [name, def] of Object.entries(props)) {
    const path = `${prefix}${name}`;
    if (typeof def?.type === 'string' && VECTOR_TYPES.has(def.type)) found.push(path);
    if (def?.properties) found.push(...vectorFields(def, `${path}.`));
  }
  return found;
}
