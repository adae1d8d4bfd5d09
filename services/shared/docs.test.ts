/**
 * The reference pages keep up with the code: every error code of the catalogue is in docs/reference/errors.md with
 * its status, retriability and kind (and nothing else is), and every KCCR_* setting the code reads is in
 * docs/reference/settings.md, and every relative link in the Markdown files leads to a file that exists. Pure file
 * reads.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from './errors.js';
import type { ErrorCode } from './errors.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

// ---- error codes ---------------------------------------------------------------------------------------------------

interface ErrorRow {
  readonly code: string;
  readonly status: number;
  readonly retriable: boolean;
  readonly kind: string;
}

/** The rows of the codes table: | `CODE` | status | yes/no | kind | meaning | what to do |. */
function errorRows(markdown: string): ErrorRow[] {
  const rows: ErrorRow[] = [];
  for (const line of markdown.split('\n')) {
    const m = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*(\d{3})\s*\|\s*(yes|no)\s*\|\s*([a-z]+)\s*\|/.exec(line);
    if (m) rows.push({ code: m[1]!, status: Number(m[2]), retriable: m[3] === 'yes', kind: m[4]! });
  }
  return rows;
}

describe('docs/reference/errors.md', () => {
  const rows = errorRows(read('docs/reference/errors.md'));
  const documented = rows.map((r) => r.code);
  const catalogue = Object.keys(ERROR_CATALOGUE);

  it('lists every code of the catalogue, once', () => {
    expect(catalogue.filter((c) => !documented.includes(c))).toEqual([]);
    expect(documented.filter((c, i) => documented.indexOf(c) !== i)).toEqual([]);
  });

  it('lists no code the catalogue does not have', () => {
    expect(documented.filter((c) => !catalogue.includes(c))).toEqual([]);
  });

  it("gives each code the catalogue's status, kind and retriability", () => {
    const wrong = rows.flatMap((r) => {
      const entry = ERROR_CATALOGUE[r.code as ErrorCode];
      if (!entry) return [];
      const want = { code: r.code, status: entry.status, retriable: entry.kind === 'transient', kind: entry.kind as string };
      return want.status === r.status && want.retriable === r.retriable && want.kind === r.kind ? [] : [{ documented: r, catalogue: want }];
    });
    expect(wrong).toEqual([]);
  });

  it('reads the table it means to read', () => {
    expect(errorRows('| `CONFLICT` | 409 | no | permanent | a | b |\n| code | HTTP status |')).toEqual([
      { code: 'CONFLICT', status: 409, retriable: false, kind: 'permanent' },
    ]);
  });
});

// ---- settings ------------------------------------------------------------------------------------------------------

/** Where settings are read: the services, the local stack and demo, the benchmarks, and the tests' harness. */
const SCANNED = ['services', 'deploy/local', 'bench', 'test'];
const SOURCE = /\.(ts|mts|mjs|js|sh)$/;
const THIS_FILE = 'services/shared/docs.test.ts';

/**
 * Variables whose name the user chooses after a fixed prefix: registered clusters name their secrets by variables
 * `KCCR_SECRET_<NAME>` of the control service (services/control/clusters/clusters.ts). The prefix is documented, not each
 * name (those in the code are examples and test fixtures).
 */
const USER_NAMED_PREFIXES = ['KCCR_SECRET_'];

const TOKEN = /\bKCCR_[A-Z0-9_]+/g;

/** Every KCCR_* token of a source text; those ending in `_` are prefixes that names are assembled from. */
function settingTokens(text: string): { names: Set<string>; prefixes: Set<string> } {
  const names = new Set<string>();
  const prefixes = new Set<string>();
  for (const [token] of text.matchAll(TOKEN)) (token.endsWith('_') ? prefixes : names).add(token);
  return { names, prefixes };
}

/**
 * Names assembled at run time, found from the code that assembles them:
 * - readEsConnection(r, 'KCCR_LEADER_', ...) reads the prefix followed by each `${prefix}SUFFIX` of
 *   services/shared/config.ts (URL, CA_FILE, USERNAME, PASSWORD, PASSWORD_FILE, API_KEY, API_KEY_FILE);
 * - r.secret('NAME') reads NAME and NAME_FILE.
 */
function assembledNames(sources: readonly string[], sharedConfig: string): Set<string> {
  const suffixes = [...sharedConfig.matchAll(/\$\{prefix\}([A-Z][A-Z0-9_]*[A-Z0-9])/g)].map((m) => m[1]!);
  const names = new Set<string>();
  for (const text of sources) {
    for (const m of text.matchAll(/readEsConnection\(\s*\w+\s*,\s*'(KCCR_[A-Z0-9_]+_)'/g)) for (const s of suffixes) names.add(`${m[1]}${s}`);
    for (const m of text.matchAll(/\.secret\(\s*'(KCCR_[A-Z0-9_]+)'\s*\)/g)) names.add(`${m[1]}_FILE`);
  }
  return names;
}

function sourceFiles(): string[] {
  return SCANNED.flatMap((dir) =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .map((f) => relative(ROOT, join(ROOT, dir, f)))
      .filter((f) => SOURCE.test(f) && !f.split('/').includes('node_modules') && f !== THIS_FILE),
  );
}

describe('docs/reference/settings.md', () => {
  const files = sourceFiles();
  const sources = files.map(read);
  const readNames = new Set<string>();
  for (const text of sources) for (const name of settingTokens(text).names) readNames.add(name);
  for (const name of assembledNames(sources, read('services/shared/config.ts'))) readNames.add(name);
  const inScope = [...readNames].filter((n) => !USER_NAMED_PREFIXES.some((p) => n.startsWith(p))).sort();
  const doc = read('docs/reference/settings.md');
  const documented = settingTokens(doc).names;

  it('finds the settings where the code reads them', () => {
    // A scan that found nothing would pass everything below.
    for (const name of [
      'KCCR_KAFKA_BROKERS',
      'KCCR_EXTRACTOR_BATCH_SIZE',
      'KCCR_APPLIER_CONCURRENCY',
      'KCCR_CONTROL_USERS_FILE',
      'KCCR_STACK_DIR',
      'KCCR_BENCH_RATE',
      'KCCR_DEMO_SECONDS',
      'KCCR_NODE_VERSION',
    ]) {
      expect(inScope).toContain(name);
    }
    expect(inScope).toContain('KCCR_FOLLOWER_API_KEY_FILE'); // assembled: readEsConnection(r, 'KCCR_FOLLOWER_')
    expect(inScope).toContain('KCCR_KAFKA_SASL_PASSWORD_FILE'); // assembled: r.secret('KCCR_KAFKA_SASL_PASSWORD')
    expect(inScope.length).toBeGreaterThan(100);
  });

  it('lists every KCCR_* setting read in the code', () => {
    expect(inScope.filter((n) => !documented.has(n))).toEqual([]);
  });

  it('documents the user-named secret variables by their prefix', () => {
    for (const p of USER_NAMED_PREFIXES) expect(doc).toContain(`${p}<NAME>`);
  });

  it('also covers what docker-compose.yml reads', () => {
    const compose = [...read('docker-compose.yml').matchAll(/\$\{(KCCR_[A-Z0-9_]+)/g)].map((m) => m[1]!);
    expect(compose.length).toBeGreaterThan(0);
    expect(compose.filter((n) => !documented.has(n))).toEqual([]);
  });
});

// ---- links ----------------------------------------------------------------------------------------------------------

/** The Markdown files of the repository that readers open (not dependencies, stacks or results). */
function markdownFiles(dir = ''): string[] {
  const skip = new Set(['node_modules', 'bench-results', 'dist', '.git', '.tools', '.scratch', '.test-reports']);
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory()) return skip.has(e.name) || e.name.startsWith('.stack') ? [] : markdownFiles(path);
    return e.name.endsWith('.md') ? [path] : [];
  });
}

describe('links between the docs', () => {
  it('lead to files that exist', () => {
    const files = markdownFiles();
    expect(files).toContain('docs/reference/settings.md');
    const broken: string[] = [];
    for (const file of files) {
      for (const m of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split('#')[0]!;
        if (!target || /^[a-z]+:/.test(target)) continue;
        if (!existsSync(join(ROOT, file, '..', target))) broken.push(`${file} -> ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
