/**
 * The shape of the code: no circle of imports among the modules of services/ (type imports included: a circle of
 * types is still two modules that cannot be understood, or changed, one without the other).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SERVICES = join(ROOT, 'services');

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return modules(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Relative imports and re-exports of a module, as absolute paths of .ts files. */
export function importsOf(file: string, source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/^(?:import|export)\b[^'";]*?\bfrom\s+'(\.{1,2}\/[^']+)'/gm))
    found.push(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
  return found;
}

/** Every strongly connected group of more than one module (Tarjan), each a circle of imports. */
export function circles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('structure of services/', () => {
  it('finds circles where there are some (the check can fail)', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a']],
    ]);
    expect(circles(graph)).toEqual([['a', 'b', 'c']]);
    expect(importsOf('/x/y.ts', "import type { T } from './t.js';\nexport { u } from '../u.js';\nimport z from 'zod';")).toEqual(['/x/t.ts', '/u.ts']);
  });

  it('has no circle of imports', () => {
    const graph = new Map(modules(SERVICES).map((f) => [f, importsOf(f, readFileSync(f, 'utf8'))]));
    expect(graph.size).toBeGreaterThan(50);
    expect(circles(graph).map((c) => c.map((f) => relative(ROOT, f)).join(' <-> '))).toEqual([]);
  });
});
