/**
 * Merged mode (fan-in): several leader indices, of one or several leader clusters, written into ONE follower index.
 * Pure rules shared by the control service (validation), the applier (writes) and the verifier (reading back):
 *
 * - each source's `_id`s are namespaced by a template (default `{{leader_cluster}}:{{leader_index}}:{{id}}`), so two
 *   sources' equal ids never meet. The follower's external version is kept per `_id`, and a namespaced `_id` is
 *   written by one source only, so "version = leader _seq_no + 1, the newest wins" still compares versions of one
 *   source's shard only: the idempotence rule holds unchanged.
 * - the provenance is one field added at the front of `_source` (default `_kccr.origin: {cluster, index}`, mapped
 *   as keyword); the rest of `_source` is the leader's bytes, unchanged.
 */
import { KccrError } from './errors.js';

export const DEFAULT_ID_TEMPLATE = '{{leader_cluster}}:{{leader_index}}:{{id}}';
export const DEFAULT_ORIGIN_FIELD = '_kccr.origin';

/** How one source lands in a merged index (kept on its replication's spec). */
export interface MergeSpec {
  /** The merged follower index. */
  readonly into: string;
  readonly idTemplate: string;
  /** A dotted path: the provenance object `{cluster, index}` is written there. */
  readonly originField: string;
}

export interface SourceName {
  readonly leaderCluster: string;
  readonly leaderIndex: string;
}

const PLACEHOLDERS = ['{{leader_cluster}}', '{{leader_index}}', '{{id}}'] as const;
/** Characters no index name and no cluster name may hold: a separator made of one ends a name unambiguously. */
const NAME_BREAK = /[:/\\|#,*?"<> ]/;
const FIELD_SEGMENT = /^[A-Za-z0-9_@$-]+$/;

/** What is wrong with an id template, or undefined when it is usable. */
export function idTemplateProblem(template: string): string | undefined {
  for (const p of PLACEHOLDERS) {
    const n = template.split(p).length - 1;
    if (n !== 1) return `id_template must hold ${p} exactly once (it holds it ${n} times)`;
  }
  if (!template.endsWith('{{id}}')) return 'id_template must end with {{id}} (the leader _id is mapped back by removing what comes before it)';
  const rest = template.replace(/\{\{(leader_cluster|leader_index|id)\}\}/g, '\u0000');
  const literals = rest.split('\u0000');
  // literals[0] is before the first placeholder; literals[1] and [2] follow the first two placeholders.
  for (const lit of [literals[1]!, literals[2]!]) {
    if (!NAME_BREAK.test(lit))
      return 'id_template must separate {{leader_cluster}}, {{leader_index}} and {{id}} with text holding one of : / | # (a character no index or cluster name has), so that two sources never make the same _id';
  }
  return undefined;
}

/** What is wrong with an origin field path, or undefined when it is usable. */
export function originFieldProblem(field: string): string | undefined {
  const segments = field.split('.');
  if (field.length > 255 || segments.some((s) => !FIELD_SEGMENT.test(s)))
    return 'origin_field must be a dotted field path of letters, digits, _ - @ and $ (at most 255 characters), like _kccr.origin';
  return undefined;
}

/** The text before `{{id}}` for this source: every follower `_id` of the source starts with it. */
export function idPrefix(template: string, source: SourceName): string {
  return template
    .slice(0, template.length - '{{id}}'.length)
    .replace('{{leader_cluster}}', source.leaderCluster)
    .replace('{{leader_index}}', source.leaderIndex);
}

/** The follower `_id` of a leader `_id` of this source. */
export function mergedId(template: string, source: SourceName, id: string): string {
  return idPrefix(template, source) + id;
}

/** The leader `_id` of a follower `_id`, or undefined when the follower `_id` is not this source's. */
export function leaderIdOf(template: string, source: SourceName, followerId: string): string | undefined {
  const prefix = idPrefix(template, source);
  return followerId.startsWith(prefix) ? followerId.slice(prefix.length) : undefined;
}

/** The provenance object nested at the field's path, as JSON text without its outer braces: `"_kccr":{"origin":{...}}`. */
function originMember(field: string, source: SourceName): string {
  const value = JSON.stringify({ cluster: source.leaderCluster, index: source.leaderIndex });
  const segments = field.split('.');
  let json = `${JSON.stringify(segments[segments.length - 1])}:${value}`;
  for (let i = segments.length - 2; i >= 0; i--) json = `${JSON.stringify(segments[i])}:{${json}}`;
  return json;
}

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * The leader's `_source` with the provenance inserted as the first member of the top-level object; every other byte
 * is the leader's. A leader document that has the field's top-level name itself makes a duplicate key, which
 * Elasticsearch refuses (the document is dead-lettered, never merged with the provenance).
 */
export function withOrigin(source: Buffer, field: string, sourceName: SourceName): Buffer {
  return insertMember(source, Buffer.from(originMember(field, sourceName), 'utf8'));
}

/** `member` (JSON text `"k":v`) inserted as the first member of the object `source`, every other byte kept. */
function insertMember(source: Buffer, member: Buffer): Buffer {
  let open = 0;
  while (open < source.length && WHITESPACE.has(source[open]!)) open++;
  if (source[open] !== 0x7b) throw new KccrError('BAD_REQUEST', 'a _source that is not a JSON object cannot take a provenance field');
  let next = open + 1;
  while (next < source.length && WHITESPACE.has(source[next]!)) next++;
  const empty = source[next] === 0x7d;
  return Buffer.concat([source.subarray(0, open + 1), member, ...(empty ? [] : [COMMA]), source.subarray(open + 1)]);
}

const COMMA = Buffer.from(',');

/**
 * What one source writes, with its `_id` prefix and provenance bytes made once (the applier calls it per document):
 * the same results as mergedId and withOrigin.
 */
export function sourceWriter(
  merge: Pick<MergeSpec, 'idTemplate' | 'originField'>,
  source: SourceName,
): { id(id: string): string; source(bytes: Buffer): Buffer; claimsOrigin(bytes: Buffer): boolean } {
  const prefix = idPrefix(merge.idTemplate, source);
  const member = Buffer.from(originMember(merge.originField, source), 'utf8');
  const names = originNames(merge.originField);
  return { id: (id) => prefix + id, source: (bytes) => insertMember(bytes, member), claimsOrigin: (bytes) => claimsOrigin(bytes, names) };
}

/** The keys a document could reach the provenance field by: its first name, as a key or dotted (`"_kccr"`, `"_kccr.`). */
function originNames(field: string): Buffer[] {
  const first = field.split('.')[0]!;
  return [Buffer.from(`"${first}"`), Buffer.from(`"${first}.`)];
}

/**
 * Whether a leader document holds a key named like the provenance field's first name (`_kccr`, or dotted
 * `_kccr.origin.cluster`, which Elasticsearch reads as the same path): such a document would add values to another
 * source's provenance or clash with it, so it is not written (dead-lettered). A quoted name inside a string value
 * (escaped, `\\"_kccr\\"`) does not count; a nested key of that name does (a false alarm kept on the safe side).
 */
export function claimsOrigin(bytes: Buffer, names: readonly Buffer[]): boolean {
  for (const name of names) {
    for (let at = bytes.indexOf(name); at !== -1; at = bytes.indexOf(name, at + 1)) {
      let slashes = 0;
      for (let k = at - 1; k >= 0 && bytes[k] === 0x5c; k--) slashes++;
      if (slashes % 2 === 0) return true;
    }
  }
  return false;
}

/** The mapping the merged index gets for the provenance field: an object of two keywords. */
export function originMapping(field: string): { properties: Record<string, unknown> } {
  let mapping: Record<string, unknown> = { properties: { cluster: { type: 'keyword' }, index: { type: 'keyword' } } };
  const segments = field.split('.');
  for (let i = segments.length - 1; i >= 0; i--) mapping = i === 0 ? { [segments[i]!]: mapping } : { properties: { [segments[i]!]: mapping } };
  return { properties: mapping };
}

/** A query for one source's documents in a merged index. */
export function originQuery(field: string, source: SourceName): unknown {
  return {
    bool: {
      filter: [{ term: { [`${field}.cluster`]: source.leaderCluster } }, { term: { [`${field}.index`]: source.leaderIndex } }],
    },
  };
}

export interface MappingConflict {
  /** The field's dotted path. */
  readonly field: string;
  /** Its type in the merged index, and in the source's mapping (`object` for a field with properties). */
  readonly existing: string;
  readonly incoming: string;
}

type Props = Record<string, { type?: string; properties?: Props } | undefined>;

function typeOf(def: { type?: string; properties?: Props }): string | undefined {
  return def.type ?? (def.properties ? 'object' : undefined);
}

/**
 * The fields a source's mapping gives another type than the merged index has: what a PUT _mapping of it would be
 * refused for (or, for object against value, what its documents would be refused for). Compared by declared type;
 * sub-fields (`fields`) and parameters are left to Elasticsearch.
 */
export function mappingConflicts(existing: { properties?: Props } | undefined, incoming: { properties?: Props } | undefined, path = ''): MappingConflict[] {
  const out: MappingConflict[] = [];
  const a = existing?.properties ?? {};
  for (const [name, def] of Object.entries(incoming?.properties ?? {})) {
    const had = a[name];
    if (!def || !had) continue;
    const field = path ? `${path}.${name}` : name;
    const t1 = typeOf(had);
    const t2 = typeOf(def);
    if (t1 && t2 && t1 !== t2) {
      out.push({ field, existing: t1, incoming: t2 });
      continue;
    }
    if (had.properties && def.properties) out.push(...mappingConflicts(had, def, field));
  }
  return out;
}

/**
 * The replication name of one source of a merged index: `<merged index>@<leader cluster>@<leader index>`. It names the
 * source in the API (status, stop, pause of that source alone), its status rows and its ledger; it is an index name
 * by Elasticsearch's rules (so the routes and the ledger take it), never an index itself.
 */
export function mergedSourceName(into: string, source: SourceName): string {
  return `${into}@${source.leaderCluster}@${source.leaderIndex}`;
}
