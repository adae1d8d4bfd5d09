/**
 * Helpers shared by the benchmarks: process CPU from /proc, percentiles, a fixed-rate load generator,
 * and result files. Benchmarks print figures; they assert nothing.
 */
import { readdirSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ElasticsearchAdapter } from '../services/shared/adapters/elasticsearch.js';

export const ROOT = resolve(import.meta.dirname, '..');
const TICKS = 100; // USER_HZ on Linux

/** CPU seconds (user + system) of a process and all its descendants. */
export function cpuSeconds(pid: number): number {
  const children = new Map<number, number[]>();
  const stat = new Map<number, string>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = readFileSync(`/proc/${e}/stat`, 'utf8');
      stat.set(Number(e), s);
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // gone
    }
  }
  let total = 0;
  const walk = (p: number) => {
    const s = stat.get(p);
    if (s) {
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      total += (Number(f[11]) + Number(f[12])) / TICKS;
    }
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return total;
}

/** Resident memory in MiB of a process (not its children). */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function pidOfStackPart(part: string): number {
  return Number(readFileSync(join(ROOT, '.stack', 'pids', `${part}.pid`), 'utf8').trim());
}

/** About 1 KB of JSON. */
export function documentOfAbout1KB(i: number, random: () => number): Record<string, unknown> {
  return { n: i, at: Date.now(), tag: `t${i % 50}`, text: 'x'.repeat(900 + Math.floor(random() * 40)), score: random() };
}

export interface LoadResult {
  readonly acked: number;
  readonly seconds: number;
  readonly bulkLatencies: number[];
}

/**
 * Writes `perSecond` operations to `index` in bulks of `bulkSize`, paced, for `seconds`; `op(i)` gives each
 * operation's bulk lines. Returns what the leader acknowledged and the bulk latencies.
 */
export async function fixedRateLoad(es: ElasticsearchAdapter, perSecond: number, seconds: number, bulkSize: number, lines: (i: number) => string): Promise<LoadResult> {
  const start = Date.now();
  const interval = (bulkSize / perSecond) * 1000;
  const latencies: number[] = [];
  let acked = 0;
  let i = 0;
  const inflight = new Set<Promise<void>>();
  for (let k = 0; Date.now() - start < seconds * 1000; k++) {
    const due = start + k * interval;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const body = Array.from({ length: bulkSize }, () => lines(i++)).join('');
    const t0 = Date.now();
    const p = es.bulk(body).then((items) => {
      latencies.push(Date.now() - t0);
      acked += items.filter((it) => it.status < 300 || (it.action === 'delete' && it.status === 404)).length;
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    // Never more than 4 bulks in flight: a leader that cannot keep up shows as a lower acked rate.
    if (inflight.size >= 4) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  return { acked, seconds: (Date.now() - start) / 1000, bulkLatencies: latencies };
}

export function writeResults(scenario: string, json: unknown, markdown: string): string {
  const dir = join(ROOT, 'bench-results', `${scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'result.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(dir, 'summary.md'), markdown);
  return dir;
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(2)) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  const line = (r: (string | number)[]) => `| ${r.map((c, i) => String(c).padEnd(widths[i]!)).join(' | ')} |`;
  return [line(cells[0]!), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.slice(1).map(line)].join('\n');
}
