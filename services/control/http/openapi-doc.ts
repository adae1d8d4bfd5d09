/**
 * docs/reference/rest-api.md, written from the control service's OpenAPI document: every route with its parameters,
 * body fields and answers, as the routes declare them (the schemas are what the service checks requests against).
 * `npm run docs:api` writes it; a unit test fails when the committed file is not what this renders.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isEntryPoint } from '../../shared/entry.js';

interface Schema {
  readonly type?: string | readonly string[];
  readonly description?: string;
  readonly enum?: readonly unknown[];
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly items?: Schema;
  readonly nullable?: boolean;
  readonly $ref?: string;
  readonly oneOf?: readonly Schema[];
  readonly anyOf?: readonly Schema[];
}

interface Operation {
  readonly summary?: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  readonly security?: readonly unknown[];
  readonly parameters?: readonly {
    readonly name: string;
    readonly in: string;
    readonly required?: boolean;
    readonly description?: string;
    readonly schema?: Schema;
  }[];
  readonly requestBody?: { readonly required?: boolean; readonly content?: Readonly<Record<string, { readonly schema?: Schema }>> };
  readonly responses?: Readonly<Record<string, { readonly description?: string; readonly content?: Readonly<Record<string, { readonly schema?: Schema }>> }>>;
}

export interface OpenApiDocument {
  readonly info?: { readonly title?: string; readonly description?: string };
  readonly paths: Readonly<Record<string, Readonly<Record<string, Operation>>>>;
}

/** Routes served under both prefixes are listed once, under the OpenSearch one. */
const ALIAS_PREFIX = '/_opendistro/_replication/';
const MAIN_PREFIX = '/_plugins/_replication/';
const METHODS = ['get', 'head', 'put', 'post', 'delete'];

function cell(text: string | undefined): string {
  return (text ?? '').replace(/\|/g, '\\|').replace(/\n+/g, ' ').trim();
}

function typeOf(s: Schema | undefined): string {
  if (!s) return '';
  if (s.$ref) return 'error';
  if (s.oneOf ?? s.anyOf) return (s.oneOf ?? s.anyOf)!.map(typeOf).join(' or ');
  const base = Array.isArray(s.type) ? s.type.join(' or ') : ((s.type as string | undefined) ?? 'any');
  const t = base === 'array' ? `array of ${typeOf(s.items) || 'any'}` : base;
  const values = s.enum ? `: ${s.enum.map((v) => `\`${String(v)}\``).join(', ')}` : '';
  return `${t}${s.nullable ? ' or null' : ''}${values}`;
}

/** The fields of an object schema, one level of nested objects (and of array items) spelled out with dotted names. */
function fields(schema: Schema | undefined, prefix = '', depth = 0): string[] {
  const props = schema?.properties ?? schema?.items?.properties;
  if (!props) return [];
  const required = new Set(schema?.properties ? (schema.required ?? []) : (schema?.items?.required ?? []));
  const under = schema?.properties ? prefix : `${prefix}[]`;
  const rows: string[] = [];
  for (const [name, s] of Object.entries(props)) {
    const path = under ? `${under}.${name}` : name;
    rows.push(`| \`${path}\` | ${cell(typeOf(s))} | ${required.has(name) ? 'yes' : ''} | ${cell(s.description)} |`);
    if (depth < 1) rows.push(...fields(s, path, depth + 1));
  }
  return rows;
}

function renderOperation(method: string, path: string, op: Operation): string[] {
  const both = path.startsWith(MAIN_PREFIX) ? ` (also under \`${ALIAS_PREFIX.slice(0, -1)}\`)` : '';
  const out = [`### \`${method.toUpperCase()} ${path}\``, '', `${cell(op.summary)}${both}.${op.security?.length === 0 ? ' No authentication.' : ''}`];
  if (op.description) out.push('', op.description.trim());
  const params = op.parameters ?? [];
  if (params.length > 0) {
    out.push('', '| parameter | in | type | required | description |', '| --- | --- | --- | --- | --- |');
    for (const p of params)
      out.push(`| \`${p.name}\` | ${p.in} | ${cell(typeOf(p.schema))} | ${p.required ? 'yes' : ''} | ${cell(p.description ?? p.schema?.description)} |`);
  }
  const body = op.requestBody?.content?.['application/json']?.schema;
  if (body) {
    out.push('', `Body (\`application/json\`${op.requestBody?.required ? ', required' : ''})${body.description ? `: ${cell(body.description)}` : ''}`);
    const rows = fields(body);
    if (rows.length > 0) out.push('', '| field | type | required | description |', '| --- | --- | --- | --- |', ...rows);
  }
  const responses = Object.entries(op.responses ?? {});
  if (responses.length > 0) {
    const codes = responses.map(([code]) => `\`${code}\``).join(', ');
    out.push(
      '',
      `Answers: ${codes}${responses.some(([code]) => code.startsWith('4') || code.startsWith('5')) ? ' (errors as `{"error": {"code", "message", "retriable"}}`, see [errors](errors.md))' : ''}.`,
    );
    const ok = responses.find(([code]) => code.startsWith('2'))?.[1].content?.['application/json']?.schema;
    const rows = fields(ok);
    if (rows.length > 0)
      out.push(
        '',
        `The \`${responses.find(([code]) => code.startsWith('2'))![0]}\` answer:`,
        '',
        '| field | type | required | description |',
        '| --- | --- | --- | --- |',
        ...rows,
      );
  }
  out.push('');
  return out;
}

export function renderApiReference(doc: OpenApiDocument): string {
  const byTag = new Map<string, string[]>();
  for (const [path, item] of Object.entries(doc.paths)) {
    if (path.startsWith(ALIAS_PREFIX) && doc.paths[MAIN_PREFIX + path.slice(ALIAS_PREFIX.length)]) continue;
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = op.tags?.[0] ?? 'other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), ...renderOperation(method, path, op)]);
    }
  }
  const out = [
    '# REST API reference',
    '',
    "<!-- Written by `npm run docs:api` from the control service's OpenAPI document; do not edit by hand. -->",
    '',
    `Every route of the control service, as it declares itself in \`GET /openapi.json\` (OpenAPI 3): the parameters and body fields it checks requests against and what it answers. The guide, with examples and what each call does, is [control API](control-api.md). ${cell(doc.info?.description)}`,
    '',
  ];
  for (const [tag, lines] of [...byTag].sort(([a], [b]) => a.localeCompare(b))) out.push(`## ${tag}`, '', ...lines);
  return `${out.join('\n').trimEnd()}\n`;
}

/** The OpenAPI document of the app as it is built (no Kafka or cluster is reached). */
export async function currentOpenApi(): Promise<OpenApiDocument> {
  const { KafkaAdapter } = await import('../../shared/adapters/kafka.js');
  const { buildApp } = await import('./app.js');
  const { createControlState } = await import('../deps.js');
  const kafka = new KafkaAdapter({ brokers: ['127.0.0.1:9'], clientId: 'kccr-docs' });
  const app = buildApp(createControlState(kafka, { auth: { mode: 'none' }, followerCluster: 'follower' }).deps);
  try {
    await app.ready();
    return app.swagger() as unknown as OpenApiDocument;
  } finally {
    await app.close();
    await kafka.close();
  }
}

export const API_REFERENCE = join(resolve(import.meta.dirname, '..', '..', '..'), 'docs', 'reference', 'rest-api.md');

if (isEntryPoint(import.meta.url)) {
  void currentOpenApi().then((doc) => {
    writeFileSync(API_REFERENCE, renderApiReference(doc));
    process.stdout.write(`wrote ${API_REFERENCE}\n`);
  });
}
