/**
 * Prometheus text exposition (format 0.0.4) of metric families computed from kccr's own state: the status views are
 * the source, and a scrape renders them as they are at that moment (no second bookkeeping beside the status).
 * Process metrics and histograms come from prom-client (process.ts); both are joined in one answer.
 */

export type MetricType = 'gauge' | 'counter';

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
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
      out.push(`${f.name}${labels ? `{${labels}}` : ''} ${number(s.value)}`);
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
