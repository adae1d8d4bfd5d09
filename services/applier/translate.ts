/**
 * The leader's settings and mappings on a follower of another version or vendor (pure). The follower itself says
 * what it does not know, in the error of the index creation or mapping update it refuses; rather than a table of
 * every setting of every version, kccr reads that answer:
 *
 * - an unknown index setting, or an unknown parameter of a field (or of the mapping's root or a metadata field), is
 *   left out and the request made again; what was left out is reported in the replication's status (`left_out`);
 * - a field type the follower has no handler for cannot be expressed there: that replication fails with the reason.
 *
 * Anything else the follower refuses is not a matter of translation and is reported as it came.
 */

/** One thing of the leader's index that the follower did not know and that was left out. */
export type LeftOut = { readonly kind: 'setting'; readonly name: string } | { readonly kind: 'parameter'; readonly field: string; readonly name: string };

/** What a follower's refusal says, when it is about something it does not know. */
export type Refusal =
  | { readonly kind: 'setting'; readonly name: string }
  /** `field` is `""` for the mapping's root; a metadata field (`_source`) or a field's name (leaf or full path). */
  | { readonly kind: 'parameter'; readonly field: string; readonly name: string }
  | { readonly kind: 'type'; readonly field: string; readonly type: string };

const UNKNOWN_SETTING = /unknown setting \[([^\]]+)\]/;
// Elasticsearch 8/9 and OpenSearch's parametrized field mappers.
const UNKNOWN_PARAMETER = /unknown parameter \[([^\]]+)\] on mapper \[([^\]]+)\]/;
// The older mappers (OpenSearch, metadata fields) and the root of a mapping list what they do not support.
const UNSUPPORTED_PARAMETERS = /Mapping definition for \[([^\]]+)\] has unsupported parameters:\s*\[([^\s:\]]+)\s*:/;
const UNSUPPORTED_ROOT = /Root mapping definition has unsupported parameters:\s*\[([^\s:\]]+)\s*:/;
// OpenSearch and older Elasticsearch; Elasticsearch 8.x/9.x says the mapper type "does not exist".
const UNKNOWN_TYPE =
  /No handler for type \[([^\]]+)\] declared on field \[([^\]]+)\]|The mapper type \[([^\]]+)\] declared on field \[([^\]]+)\] does not exist/;

/** Reads a follower's error message; undefined when it is not about something the follower does not know. */
export function readRefusal(message: string): Refusal | undefined {
  let m = UNKNOWN_TYPE.exec(message);
  if (m) return { kind: 'type', type: (m[1] ?? m[3])!, field: (m[2] ?? m[4])! };
  m = UNKNOWN_SETTING.exec(message);
  if (m) return { kind: 'setting', name: m[1]! };
  m = UNKNOWN_PARAMETER.exec(message);
  if (m) return { kind: 'parameter', name: m[1]!, field: m[2]! };
  m = UNSUPPORTED_PARAMETERS.exec(message);
  if (m) return { kind: 'parameter', field: m[1]!, name: m[2]! };
  m = UNSUPPORTED_ROOT.exec(message);
  if (m) return { kind: 'parameter', field: '', name: m[1]! };
  return undefined;
}

/** How a left-out item reads in status and in the CLI. */
export function describeLeftOut(item: LeftOut): string {
  return item.kind === 'setting' ? `setting ${item.name}` : `mapping parameter ${item.field ? `${item.field}.` : ''}${item.name}`;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Index settings as dotted keys under `index.` ({ "number_of_shards": 1, "search.idle.after": "30s" }). */
export function flatSettings(settings: Json, prefix = ''): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(settings)) {
    if (isObject(v)) Object.assign(out, flatSettings(v, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

/** Where a field's definition is in a mapping: every field (and multi-field) with its full path. */
function fieldsOf(mappings: Json): { path: string; def: Json }[] {
  const out: { path: string; def: Json }[] = [];
  const walk = (props: unknown, prefix: string) => {
    if (!isObject(props)) return;
    for (const [name, def] of Object.entries(props)) {
      if (!isObject(def)) continue;
      const path = `${prefix}${name}`;
      out.push({ path, def });
      walk(def.properties, `${path}.`);
      walk(def.fields, `${path}.`);
    }
  };
  walk(mappings.properties, '');
  return out;
}

/**
 * The settings and mappings without what the refusal names, and what was left out; undefined when the refusal does
 * not name something found there (the follower's error is then reported as it came).
 */
export function leaveOut(meta: { settings: Json; mappings: Json }, refusal: Refusal): { settings: Json; mappings: Json; item: LeftOut } | undefined {
  if (refusal.kind === 'type') return undefined;
  if (refusal.kind === 'setting') {
    const key = refusal.name.replace(/^index\./, '');
    const flat = flatSettings(meta.settings);
    if (!(key in flat)) return undefined;
    delete flat[key];
    return { settings: flat, mappings: meta.mappings, item: { kind: 'setting', name: `index.${key}` } };
  }
  const mappings = structuredClone(meta.mappings);
  const { field, name } = refusal;
  let holder: Json | undefined;
  let path = field;
  if (field === '') holder = mappings;
  else if (field.startsWith('_') && isObject(mappings[field])) holder = mappings[field];
  else {
    // A mapper names a field by its full path or by its last name: the first field so named that has the parameter.
    const found = fieldsOf(mappings).find((f) => (f.path === field || f.path.endsWith(`.${field}`)) && name in f.def);
    holder = found?.def;
    path = found?.path ?? field;
  }
  if (!holder || !(name in holder)) return undefined;
  delete holder[name];
  return { settings: meta.settings, mappings, item: { kind: 'parameter', field: path, name } };
}

/**
 * What was left out before, left out again (a later mapping update of the leader carries the same parameters); the
 * settings come back flat when any was left out.
 */
export function withoutLeftOut(meta: { settings: Json; mappings: Json }, leftOut: readonly LeftOut[]): { settings: Json; mappings: Json } {
  let current = meta;
  for (const item of leftOut) {
    const refusal: Refusal = item.kind === 'setting' ? { kind: 'setting', name: item.name } : { kind: 'parameter', field: item.field, name: item.name };
    const next = leaveOut(current, refusal);
    if (next) current = { settings: next.settings, mappings: next.mappings };
  }
  return current;
}

/** The reason a replication fails when the follower has no such field type. */
export function inexpressible(refusal: Extract<Refusal, { kind: 'type' }>, follower: string): string {
  return `the leader's mapping cannot be expressed on the follower (${follower}): field [${refusal.field}] has type [${refusal.type}], which it does not know; map the field with a type both know on the leader, or replicate to a follower that knows it`;
}
