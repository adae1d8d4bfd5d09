/**
 * Writes services/shared/envelope.generated.ts from schemas/change-envelope.avsc (`npm run gen`).
 * A unit test fails when the two disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateTypes } from '../services/shared/avro-codegen.js';

export const SCHEMA_FILE = resolve(import.meta.dirname, 'change-envelope.avsc');
export const GENERATED_FILE = resolve(import.meta.dirname, '..', 'services', 'shared', 'envelope.generated.ts');

export function generatedSource(): string {
  const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'));
  return generateTypes(schema, '// Generated from schemas/change-envelope.avsc by `npm run gen`. Do not edit.\n');
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(join(import.meta.dirname, 'generate.ts'))) {
  writeFileSync(GENERATED_FILE, generatedSource());
  console.log(`wrote ${GENERATED_FILE}`);
}
