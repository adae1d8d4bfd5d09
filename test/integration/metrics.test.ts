/**
 * /metrics against the real stack: the control service's (behind the API's authentication) agrees with `_status`,
 * and the extractor's and the applier's own listeners serve their families and process metrics; values move as
 * replication runs, and a stopped applier turns the replication STALE in the metrics as in `_status`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgetClusters, readerHeaders, registerPlainClusters, startControl } from '../support/control.js';
import type { Control } from '../support/control.js';
import { bulkLines, startHarness, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { freePort, loadStack, uniqueName, waitFor } from '../support/stack.js';

/** Parses Prometheus text: name{labels} value → value, for the samples whose labels include `match`. */
function sample(text: string, name: string, match: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) return Number(m[4]);
  }
  return undefined;
}

/** The metric tables of docs/operations/monitoring.md: name → its label names. */
function documented(): Map<string, string[]> {
  const doc = readFileSync(resolve(import.meta.dirname, '..', '..', 'docs', 'operations', 'monitoring.md'), 'utf8');
  return new Map(
    [...doc.matchAll(/^\| `(kccr_[a-z_]+)` \| (?:gauge|counter|histogram) \| ([^|]*) \|/gm)].map((m) => [
      m[1]!,
      [...m[2]!.matchAll(/`([a-z_]+)`/g)].map((l) => l[1]!).sort(),
    ]),
  );
}

/** The label names of every sample of a metric in a scrape. */
function labelSets(text: string, name: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .map((l) => [...(/\{(.*)\}/.exec(l)?.[1] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)].map((m) => m[1]!).sort());
}

interface StatusBody {
  status: string;
  lag_operations: number | null;
  shards: { shard: number; leader_checkpoint: number | null; follower_checkpoint: number | null; applied: number }[];
}

describe('/metrics (plain stack, real extractor and applier)', () => {
  let h: Harness;
  let control: Control;
  const ports = { extractor: 0, applier: 0 };
  const leaderIndex = uniqueName('met-leader');
  const followerIndex = uniqueName('met-follower');

  beforeAll(async () => {
    ports.extractor = await freePort();
    ports.applier = await freePort();
    h = await startHarness(loadStack('plain'), 'metrics', {
      extractorEnv: { KCCR_METRICS_PORT: String(ports.extractor) },
      applierEnv: { KCCR_METRICS_PORT: String(ports.applier) },
    });
    control = await startControl(h.stack, { followerCluster: h.names.followerCluster });
    await registerPlainClusters(control, h.stack, h.names);
    await h.leader.createIndex(leaderIndex, { settings: { index: { number_of_shards: 2, number_of_replicas: 0 } } });
  });
  afterAll(async () => {
    await h?.close();
    if (control) await forgetClusters(control, h ? [h.names.leaderCluster, h.names.followerCluster] : []);
  });

  const scrape = async (port: number) => {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return r.text();
  };
  const controlMetrics = async () => {
    const r = await control.app.inject({ method: 'GET', url: '/metrics', headers: readerHeaders });
    expect(r.statusCode, r.body).toBe(200);
    return r.body;
  };
  const status = async () => (await control.call<StatusBody>('GET', `/_plugins/_replication/${followerIndex}/_status`)).body;

  it('the control service guards /metrics like every other route', async () => {
    const r = await control.app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(401);
  });

  it('reports every shard as _status does, and the counters move with the writes', async () => {
    const docs = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`d${i}`, { n: i }]));
    await h.leader.bulk(
      bulkLines(
        leaderIndex,
        Object.entries(docs).map(([id, source]) => ({ id, source })),
      ),
      { refresh: true },
    );
    const start = await control.call('PUT', `/_plugins/_replication/${followerIndex}/_start`, {
      leader_alias: h.names.leaderCluster,
      leader_index: leaderIndex,
    });
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    await waitForDocuments(h.follower, followerIndex, docs);
    const synced = await waitFor('SYNCING with no lag', async () => {
      const s = await status();
      return s.status === 'SYNCING' && s.lag_operations === 0 && s.shards.reduce((n, x) => n + x.applied, 0) === 40 ? s : undefined;
    });

    const text = await controlMetrics();
    const r = { follower_index: followerIndex, leader_index: leaderIndex, leader_cluster: h.names.leaderCluster };
    expect(sample(text, 'kccr_replication_status', { ...r, status: 'SYNCING' })).toBe(1);
    expect(sample(text, 'kccr_replication_status', { ...r, status: 'STALE' })).toBe(0);
    expect(sample(text, 'kccr_replication_lag_operations', r)).toBe(0);
    for (const sh of synced.shards) {
      const s = { ...r, shard: String(sh.shard) };
      expect(sample(text, 'kccr_shard_leader_checkpoint', s)).toBe(sh.leader_checkpoint);
      expect(sample(text, 'kccr_shard_follower_checkpoint', s)).toBe(sh.follower_checkpoint);
      expect(sample(text, 'kccr_shard_operations_applied_total', s)).toBe(sh.applied);
    }
    expect(sample(text, 'kccr_replications', { status: 'SYNCING' })).toBeGreaterThanOrEqual(1);
    // Process metrics, labelled with the service.
    expect(sample(text, 'process_cpu_seconds_total', { service: 'control' })).toBeGreaterThan(0);

    // The data-plane services' own listeners: the same counts, from their own rows.
    const applier = await scrape(ports.applier);
    const applied = [0, 1].map(
      (shard) => sample(applier, 'kccr_applier_operations_applied_total', { follower_index: followerIndex, shard: String(shard) }) ?? 0,
    );
    expect(applied[0]! + applied[1]!).toBe(40);
    expect(sample(applier, 'kccr_applier_index_state', { follower_index: followerIndex, state: 'syncing' })).toBe(1);
    expect(sample(applier, 'process_resident_memory_bytes', { service: 'applier' })).toBeGreaterThan(0);
    expect(sample(applier, 'kccr_applier_bytes_written_total', { follower_index: followerIndex })).toBeGreaterThan(40 * 10);
    expect(sample(applier, 'kccr_applier_bulk_duration_seconds_count', { follower_index: followerIndex })).toBeGreaterThanOrEqual(1);
    const extractor = await scrape(ports.extractor);
    const published = [0, 1].map(
      (shard) => sample(extractor, 'kccr_extractor_operations_published_total', { leader_index: leaderIndex, shard: String(shard) }) ?? 0,
    );
    expect(published[0]! + published[1]!).toBeGreaterThanOrEqual(40);
    expect(sample(extractor, 'kccr_extractor_index_state', { leader_index: leaderIndex, state: 'running' })).toBe(1);
    expect((await fetch(`http://127.0.0.1:${ports.extractor}/other`)).status).toBe(404);

    // Every documented metric is served by its service, its samples with the documented labels.
    const table = documented();
    expect(table.size).toBeGreaterThan(30);
    for (const [name, labels] of table) {
      const served = name.startsWith('kccr_extractor_') ? extractor : name.startsWith('kccr_applier_') ? applier : text;
      expect(served, name).toMatch(new RegExp(`^# TYPE ${name} (gauge|counter|histogram)$`, 'm'));
      for (const set of labelSets(served, name)) expect(set, name).toEqual(labels);
    }

    // More writes: the applied counter and the checkpoints move in the metrics too.
    await h.leader.bulk(
      bulkLines(
        leaderIndex,
        Array.from({ length: 10 }, (_, i) => ({ id: `e${i}`, source: { n: i } })),
      ),
      { refresh: true },
    );
    await waitFor('the control metrics count 50 applied', async () => {
      const t = await controlMetrics();
      const total = [0, 1].reduce((n, shard) => n + (sample(t, 'kccr_shard_operations_applied_total', { ...r, shard: String(shard) }) ?? 0), 0);
      return total === 50 || undefined;
    });
  });

  it('shows the replication STALE once the applier stops reporting, as _status does', async () => {
    await h.applier.stop();
    const stale = await waitFor('STALE in _status', async () => ((await status()).status === 'STALE' ? true : undefined), 30_000, 250);
    expect(stale).toBe(true);
    const text = await controlMetrics();
    const r = { follower_index: followerIndex, leader_index: leaderIndex };
    expect(sample(text, 'kccr_replication_status', { ...r, status: 'STALE' })).toBe(1);
    expect(sample(text, 'kccr_replication_status', { ...r, status: 'SYNCING' })).toBe(0);
    expect(sample(text, 'kccr_replication_applier_report_age_seconds', r)).toBeGreaterThan(1);
  });
});
