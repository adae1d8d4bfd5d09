/**
 * Turns an Avro schema into TypeScript declarations, so that the envelope type is derived from
 * schemas/change-envelope.avsc and never copied by hand. Covers what kccr's schemas use: records, enums,
 * nullable unions, arrays, maps and primitives (long as number: _seq_no values stay below 2^53).
 */
type AvroType =
  | string
  | AvroType[]
  | { type: string; name?: string; fields?: AvroField[]; symbols?: string[]; items?: AvroType; values?: AvroType; doc?: string; logicalType?: string };
interface AvroField {
  name: string;
  type: AvroType;
  doc?: string;
  default?: unknown;
}

const PRIMITIVES: Record<string, string> = {
  null: 'null',
  boolean: 'boolean',
  int: 'number',
  long: 'number',
  float: 'number',
  double: 'number',
  bytes: 'Buffer',
  string: 'string',
};

export function generateTypes(schema: AvroType, header: string): string {
  const decls: string[] = [];
  const seen = new Set<string>();
  const doc = (text: string | undefined, indent = '') => (text ? `${indent}/** ${text} */\n` : '');

  const ref = (t: AvroType): string => {
    if (typeof t === 'string') {
      const p = PRIMITIVES[t];
      if (p) return p;
      if (seen.has(t)) return t;
      throw new Error(`unknown Avro type ${t}`);
    }
    if (Array.isArray(t)) return t.map(ref).join(' | ');
    switch (t.type) {
      case 'record': {
        const name = required(t.name, 'record name');
        if (!seen.has(name)) {
          seen.add(name);
          const fields = (t.fields ?? []).map((f) => `${doc(f.doc, '  ')}  readonly ${f.name}: ${ref(f.type)};`).join('\n');
          decls.push(`${doc(t.doc)}export interface ${name} {\n${fields}\n}\n`);
        }
        return name;
      }
      case 'enum': {
        const name = required(t.name, 'enum name');
        if (!seen.has(name)) {
          seen.add(name);
          const symbols = required(t.symbols, 'enum symbols');
          decls.push(
            `${doc(t.doc)}export type ${name} = ${symbols.map((s) => `'${s}'`).join(' | ')};\nexport const ${name}Symbols = [${symbols.map((s) => `'${s}'`).join(', ')}] as const;\n`,
          );
        }
        return name;
      }
      case 'array':
        return `readonly (${ref(required(t.items, 'array items'))})[]`;
      case 'map':
        return `Readonly<Record<string, ${ref(required(t.values, 'map values'))}>>`;
      default:
        return ref(t.type);
    }
  };
  ref(schema);
  return `${header}\n${decls.join('\n')}`;
}

function required<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`Avro schema lacks ${what}`);
  return v;
}
