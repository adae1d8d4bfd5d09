/**
 * deploy/monitoring checked by Prometheus' own tool: the alert rules parse and fire on recorded series as their tests
 * say (`promtool test rules`), the example scrape configuration is valid, and every query of the Grafana dashboard is
 * valid PromQL over documented metrics. promtool is built from the Go module proxy once (deploy/monitoring/
 * ensure-promtool.sh; .ci/run starts that build early, in the background).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = resolve(import.meta.dirname, '..', '..');
const MONITORING = join(ROOT, 'deploy', 'monitoring');
const PROMETHEUS = join(MONITORING, 'prometheus');

interface Panel {
  readonly title: string;
  readonly targets: readonly { readonly expr: string }[];
}

/** The kccr metric names a PromQL expression reads (by name or by a __name__ pattern of alternatives). */
function metricNames(expr: string): string[] {
  const names = [...expr.matchAll(/\b(kccr_[a-z_]+)\b/g)].map((m) => m[1]!);
  for (const m of expr.matchAll(/__name__=~"kccr_([a-z_]+)_\(([a-z|]+)\)_([a-z_]+)"/g))
    for (const alt of m[2]!.split('|')) names.push(`kccr_${m[1]}_${alt}_${m[3]}`);
  return names.filter((n) => !n.endsWith('_'));
}

/** Metric names in the tables of docs/operations/monitoring.md. */
function documentedMetrics(): Set<string> {
  const doc = readFileSync(join(ROOT, 'docs', 'operations', 'monitoring.md'), 'utf8');
  return new Set([...doc.matchAll(/^\| `(kccr_[a-z_]+)` \|/gm)].map((m) => m[1]!));
}

describe('deploy/monitoring, checked by promtool', () => {
  let promtool: string;
  const dir = mkdtempSync(join(tmpdir(), 'kccr-monitoring-'));
  const run = (args: string[], cwd = PROMETHEUS) => spawnSync(promtool, args, { cwd, encoding: 'utf8' });

  beforeAll(() => {
    promtool = execFileSync(join(MONITORING, 'ensure-promtool.sh'), { encoding: 'utf8', timeout: 1_500_000 }).trim();
  }, 1_600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the alert rules are valid, and each fires on its recorded series when it should and not before', () => {
    const check = run(['check', 'rules', 'alerts.yml']);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const test = run(['test', 'rules', 'alerts.test.yml']);
    expect(test.status, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toContain('SUCCESS');
    // Every alert has a test.
    const rules = (parse(readFileSync(join(PROMETHEUS, 'alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap(
      (g) => g.rules,
    );
    const tested = new Set(
      (parse(readFileSync(join(PROMETHEUS, 'alerts.test.yml'), 'utf8')) as { tests: { alert_rule_test: { alertname: string }[] }[] }).tests.flatMap((t) =>
        t.alert_rule_test.map((a) => a.alertname),
      ),
    );
    expect(rules.map((r) => r.alert).filter((a) => !tested.has(a))).toEqual([]);
    // They read documented metrics only.
    const documented = documentedMetrics();
    expect(rules.flatMap((r) => metricNames(r.expr)).filter((n) => !documented.has(n))).toEqual([]);
  });

  it('fails a rule test that expects the wrong thing (the check can fail)', () => {
    const wrong = readFileSync(join(PROMETHEUS, 'alerts.test.yml'), 'utf8').replace('severity: critical', 'severity: page');
    writeFileSync(join(dir, 'alerts.test.yml'), wrong);
    copyFileSync(join(PROMETHEUS, 'alerts.yml'), join(dir, 'alerts.yml'));
    const r = run(['test', 'rules', 'alerts.test.yml'], dir);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('KccrReplicationFailed');
  });

  it('the example scrape configuration is valid', () => {
    const conf = readFileSync(join(PROMETHEUS, 'scrape.example.yml'), 'utf8').replaceAll('/etc/prometheus/', `${dir}/`);
    writeFileSync(join(dir, 'kccr-ca.crt'), '');
    writeFileSync(join(dir, 'kccr-read.token'), 'kccr_token\n');
    writeFileSync(join(dir, 'prometheus.yml'), conf);
    copyFileSync(join(PROMETHEUS, 'alerts.yml'), join(dir, 'alerts.yml'));
    const r = run(['check', 'config', 'prometheus.yml'], dir);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('every query of the Grafana dashboard is valid PromQL over documented metrics', () => {
    const dashboard = JSON.parse(readFileSync(join(MONITORING, 'grafana', 'kccr-dashboard.json'), 'utf8')) as { panels: Panel[]; uid: string };
    expect(dashboard.uid).toBe('kccr-replication');
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(8);
    // Grafana's variables become what "All" sends; promtool checks each query as a recording rule.
    const rules = exprs.map((e, i) => `      - record: kccr:dashboard_query_${i}\n        expr: ${JSON.stringify(e.expr.replaceAll(/\$[a-z_]+/g, '.*'))}`);
    writeFileSync(join(dir, 'dashboard-queries.yml'), `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
    const r = run(['check', 'rules', 'dashboard-queries.yml'], dir);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const documented = documentedMetrics();
    expect(exprs.flatMap((e) => metricNames(e.expr)).filter((n) => !documented.has(n))).toEqual([]);
  });
});
