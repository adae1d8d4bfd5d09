/**
 * Helpers shared by the benchmarks: process CPU from /proc, percentiles, a fixed-rate load generator,
 * and result files. Benchmarks print figures; they assert nothing.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join, resolve } from 'node:path';
import { parseMgetResponse } from '../services/shared/raw-hits.js';
import type { RawHit } from '../services/shared/raw-hits.js';
import { changeTopic } from '../services/shared/topics.js';
import { waitFor } from '../test/support/stack.js';
import { dropOrphanLedgers } from '../test/support/cleanup.js';
import type { Harness } from '../test/support/replication.js';
import type { ElasticsearchAdapter } from '../services/shared/adapters/elasticsearch.js';
import { EnvReader } from '../services/shared/config.js';

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
export async function fixedRateLoad(
  es: ElasticsearchAdapter,
  perSecond: number,
  seconds: number,
  bulkSize: number,
  lines: (i: number) => string,
): Promise<LoadResult> {
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

/** Direct children of a process (from /proc). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

/** A process and all its descendants. */
export function processTree(pid: number): number[] {
  return [pid, ...childPids(pid).flatMap(processTree)];
}

/** The CPU affinity mask of a process's main thread, as `taskset -p` prints it (hex, e.g. "3"). */
export function affinityMask(pid: number): string {
  const out = execFileSync('taskset', ['-p', String(pid)], { encoding: 'utf8' });
  const m = /affinity mask:\s*([0-9a-f]+)/i.exec(out);
  if (!m) throw new Error(`cannot read the affinity of ${pid}: ${out.trim()}`);
  return m[1]!;
}

/** Sets the CPU list of every thread of a process (`taskset -a -cp <list> <pid>`). */
export function pinProcess(pid: number, cpuList: string): void {
  execFileSync('taskset', ['-a', '-cp', cpuList, String(pid)], { stdio: 'ignore' });
}

/**
 * Pins processes (every thread, descendants included) to CPUs after reading their affinity; `restore()` gives every
 * process pinned through it its original mask back (processes that are gone are skipped).
 */
export class CpuPinning {
  private readonly original = new Map<number, string>();
  readonly log: string[] = [];

  pin(label: string, pid: number, cpuList: string): void {
    for (const p of processTree(pid)) {
      try {
        if (!this.original.has(p)) this.original.set(p, affinityMask(p));
        pinProcess(p, cpuList);
        this.log.push(`${label} ${p}: ${this.original.get(p)} -> cpu ${cpuList}`);
      } catch {
        // gone meanwhile
      }
    }
  }

  restore(): void {
    for (const [pid, mask] of this.original) {
      try {
        execFileSync('taskset', ['-a', '-p', mask, String(pid)], { stdio: 'ignore' });
      } catch {
        // gone
      }
    }
    this.original.clear();
  }
}

/** Jiffies per CPU (busy, total) from /proc/stat; `busyFractions(a, b)` gives each CPU's busy share between two readings. */
export function cpuTimes(): { cpu: string; busy: number; total: number }[] {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => {
      const [cpu, ...f] = l.trim().split(/\s+/);
      const n = f.map(Number);
      const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
      const idle = (n[3] ?? 0) + (n[4] ?? 0);
      return { cpu: cpu!, busy: total - idle, total };
    });
}

export function busyFractions(before: ReturnType<typeof cpuTimes>, after: ReturnType<typeof cpuTimes>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of after) {
    const b = before.find((x) => x.cpu === a.cpu);
    if (b && a.total > b.total) out[a.cpu] = (a.busy - b.busy) / (a.total - b.total);
  }
  return out;
}

/** A small deterministic PRNG (mulberry32), so that two loads can write the same documents. */
export { rng as seededRandom } from '../test/support/load.js';

/**
 * Samples the resident memory of processes every `everyMs`; `stop()` returns each one's peak and first sample in MiB,
 * and the samples ([seconds since the start, MiB]).
 */
export function rssSampler(pids: Record<string, number | undefined>, everyMs = 1000) {
  const t0 = Date.now();
  const peak: Record<string, number> = {};
  const first: Record<string, number> = {};
  const series: Record<string, [number, number][]> = {};
  const sample = () => {
    for (const [name, pid] of Object.entries(pids)) {
      if (!pid) continue;
      const v = rssMiB(pid);
      if (v === 0) continue;
      first[name] ??= v;
      peak[name] = Math.max(peak[name] ?? 0, v);
      (series[name] ??= []).push([(Date.now() - t0) / 1000, Math.round(v * 10) / 10]);
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop(): { peak: Record<string, number>; first: Record<string, number>; series: Record<string, [number, number][]> } {
      clearInterval(timer);
      sample();
      return { peak, first, series };
    },
  };
}

export interface ChartSeries {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

/** A line chart as a self-contained SVG (one polyline per series, axes with ticks, legend); no dependency. */
export function svgLineChart(
  title: string,
  xLabel: string,
  yLabel: string,
  series: readonly ChartSeries[],
  opts: { width?: number; height?: number; xMax?: number } = {},
): string {
  const width = opts.width ?? 800;
  const height = opts.height ?? 420;
  const m = { left: 70, right: 20, top: 40, bottom: 70 };
  const all = series.flatMap((s) => s.points);
  const niceMax = (v: number) => {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    return [1, 2, 2.5, 5, 10].map((k) => k * p).find((c) => c >= v) ?? 10 * p;
  };
  const xMax = opts.xMax ?? niceMax(Math.max(0, ...all.map((p) => p[0])));
  const yMax = niceMax(Math.max(0, ...all.map((p) => p[1])));
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const sx = (x: number) => m.left + (x / xMax) * pw;
  const sy = (y: number) => m.top + ph - (y / yMax) * ph;
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  for (let k = 0; k <= 5; k++) {
    const yv = (yMax * k) / 5;
    const xv = (xMax * k) / 5;
    parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${sy(yv).toFixed(1)}" y2="${sy(yv).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.left - 6}" y="${(sy(yv) + 4).toFixed(1)}" text-anchor="end">${fmt(yv)}</text>`);
    parts.push(`<line x1="${sx(xv).toFixed(1)}" x2="${sx(xv).toFixed(1)}" y1="${m.top}" y2="${m.top + ph}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(xv).toFixed(1)}" y="${m.top + ph + 16}" text-anchor="middle">${fmt(xv)}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${m.left + pw / 2}" y="${m.top + ph + 34}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text x="16" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${m.top + ph / 2})">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const color = colors[i % colors.length]!;
    const pts = [...s.points]
      .sort((a, b) => a[0] - b[0])
      .map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join(' ');
    if (pts) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts}"/>`);
    const lx = m.left + i * 150;
    const ly = height - 14;
    parts.push(
      `<line x1="${lx}" x2="${lx + 20}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="3"/><text x="${lx + 25}" y="${ly}">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/**
 * The services' own defaults for what the test harness sets to fast values (serviceEnv polls every 200 ms and
 * writes status every 500 ms): benchmarks measure what users get. KCCR_BENCH_SERVICE_ENV (JSON) lays extra
 * settings over them, e.g. '{"KCCR_EXTRACTOR_VISIBILITY":"scheduled"}'.
 */
export function defaultServiceEnv(): Record<string, string> {
  const extra = process.env.KCCR_BENCH_SERVICE_ENV ? (JSON.parse(process.env.KCCR_BENCH_SERVICE_ENV) as Record<string, string>) : {};
  return {
    KCCR_LOG_LEVEL: 'warn',
    KCCR_STATUS_INTERVAL_MS: '2000',
    KCCR_EXTRACTOR_MIN_POLL_MS: '500',
    KCCR_EXTRACTOR_MAX_POLL_MS: '5000',
    KCCR_EXTRACTOR_IDLE_CHECKPOINT_MS: '5000',
    ...extra,
  };
}

/**
 * The benchmarks' settings, read as the services read theirs (services/shared/config.ts): a bad value stops the
 * run at once with what was wrong, instead of measuring with NaN.
 */
function checked<T>(read: (r: EnvReader) => T): T {
  const r = new EnvReader(process.env);
  const value = read(r);
  r.done({});
  return value;
}

/** A positive number (fractions allowed). */
export function envNumber(name: string, fallback: number): number {
  return checked((r) => r.positive(name, fallback));
}

/** A comma-separated list of positive numbers. */
export function envNumbers(name: string, fallback: readonly number[]): number[] {
  return checked((r) => {
    const items = r.list(name, fallback.map(String));
    const bad = items.filter((x) => !(Number(x) > 0));
    if (bad.length > 0) r.problem(`${name}: expected comma-separated positive numbers, received ${JSON.stringify(bad.join(','))}`);
    return items.map(Number);
  });
}

/** A switch: 1/true/yes or 0/false/no. */
export function envFlag(name: string, fallback: boolean): boolean {
  return checked((r) => r.bool(name, fallback));
}

/** Sets the nice value of every thread of a process and of its descendants (Linux nice is per thread). */
export function setNice(pid: number, nice: number): void {
  for (const p of processTree(pid)) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        setPriority(Number(tid), nice);
      } catch {
        // gone
      }
    }
  }
}

/**
 * The end of a run: stops the services, deletes what the run made (indices on both sides, the leader indices'
 * change topics), then closes the clients (deleting after closing would fail silently and leave them behind).
 */
export async function closeBenchHarness(h: Harness, leaderIndices: readonly string[], followerIndices: readonly string[]): Promise<void> {
  await Promise.all([h.extractor.stop(), h.applier.stop()]);
  await h.kafka.deleteTopics(leaderIndices.map((i) => changeTopic(h.names.leaderCluster, i))).catch(() => undefined);
  for (const i of leaderIndices) await h.leader.deleteIndex(i).catch(() => undefined);
  for (const i of followerIndices) await h.follower.deleteIndex(i).catch(() => undefined);
  await dropOrphanLedgers(h.follower).catch(() => undefined);
  await h.close();
}

/**
 * Which of `ids` the follower index holds now (a realtime multi-get, existence only). A failed request reads as
 * none found: pollers ask again on their next round.
 */
export async function foundOnFollower(es: ElasticsearchAdapter, index: string, ids: Iterable<string>): Promise<RawHit[]> {
  return es
    .mgetRaw(
      index,
      [...ids].map((id) => ({ id, routing: null })),
      { _source: false },
    )
    .then(parseMgetResponse)
    .catch(() => []);
}

/** Waits until the follower index exists and holds `count` documents (after a refresh). */
export async function waitForFollowerCount(h: Harness, index: string, count: number, timeoutMs: number): Promise<void> {
  await waitFor(
    `${count} documents on the follower`,
    async () => {
      if (!(await h.follower.indexExists(index))) return false;
      await h.follower.refresh(index);
      return (await h.follower.shardStats(index)).reduce((n, s) => n + s.docs, 0) === count;
    },
    timeoutMs,
    1000,
  );
}
