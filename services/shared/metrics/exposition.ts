/**
 * Prometheus text exposition (format 0.0.4) of metric families computed from kccr's own state: the status views are
 * the source, and a scrape renders them as they are at that moment (no second bookkeeping beside the status).
 * Process metrics and histograms come from prom-client (process.ts); both are joined in one answer.
 */

export type MetricType = 'gauge' | 'counter' | 'histogram';

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  /** A histogram's series: `_bucket` (with an `le` label), `_sum`, `_count`. */
  readonly suffix?: '_bucket' | '_sum' | '_count';
}

export interface MetricFamily {
  /** `kccr_…`; counters end in `_total`, durations in `_seconds`, sizes in `_bytes` (Prometheus naming). */
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: readonly Sample[];
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(v: string): string {
  return v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
}

function escapeHelp(v: string): string {
  return v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

function number(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Checks a family against the naming rules; a wrong one is a programming error, found by the unit tests. */
export function checkFamily(f: MetricFamily): void {
  if (!NAME.test(f.name) || !f.name.startsWith('kccr_')) throw new Error(`metric name ${JSON.stringify(f.name)}: expected kccr_ and [a-zA-Z0-9_:]`);
  if (f.type === 'counter' && !f.name.endsWith('_total')) throw new Error(`counter ${f.name} must end in _total`);
  if (f.type !== 'counter' && f.name.endsWith('_total')) throw new Error(`${f.name} ends in _total but is a ${f.type}`);
  if (f.type === 'histogram' && !/_(seconds|bytes)$/.test(f.name)) throw new Error(`histogram ${f.name} must be in a base unit (_seconds, _bytes)`);
  if (f.samples.some((s) => (s.suffix !== undefined) !== (f.type === 'histogram'))) throw new Error(`${f.name}: only a histogram's samples have a suffix`);
  for (const s of f.samples)
    for (const l of Object.keys(s.labels)) if (!LABEL.test(l) || l.startsWith('__')) throw new Error(`${f.name}: label name ${JSON.stringify(l)} is not valid`);
}

export function render(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    checkFamily(f);
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
        .join(',');
      out.push(`${f.name}${s.suffix ?? ''}${labels ? `{${labels}}` : ''} ${number(s.value)}`);
    }
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** A family builder: `add(labels, value)` skips null and undefined values (unknown is absent, never 0). */
export function family(name: string, type: MetricType, help: string) {
  const samples: Sample[] = [];
  return {
    add(labels: Record<string, string>, value: number | null | undefined): void {
      if (value === null || value === undefined) return;
      samples.push({ labels, value });
    },
    done(): MetricFamily {
      return { name, help, type, samples };
    },
  };
}

/** Upper bounds of a latency histogram's buckets, in seconds (a _bulk request takes milliseconds to seconds). */
export const LATENCY_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A Prometheus histogram per label set: cumulative buckets, sum and count. */
export class Histogram {
  private readonly series = new Map<string, { labels: Record<string, string>; counts: number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[] = LATENCY_BUCKETS,
  ) {}

  observe(labels: Record<string, string>, value: number): void {
    const key = JSON.stringify(labels);
    const s = this.series.get(key) ?? { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((le, i) => {
      if (value <= le) s.counts[i]!++;
    });
    s.sum += value;
    s.count++;
    this.series.set(key, s);
  }

  /** Forgets the series whose labels match (an index no longer followed). */
  forget(match: (labels: Record<string, string>) => boolean): void {
    for (const [k, s] of this.series) if (match(s.labels)) this.series.delete(k);
  }

  family(): MetricFamily {
    const samples: Sample[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((le, i) => samples.push({ labels: { ...s.labels, le: String(le) }, value: s.counts[i]!, suffix: '_bucket' }));
      samples.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, suffix: '_bucket' });
      samples.push({ labels: s.labels, value: s.sum, suffix: '_sum' });
      samples.push({ labels: s.labels, value: s.count, suffix: '_count' });
    }
    return { name: this.name, help: this.help, type: 'histogram', samples };
  }
}
