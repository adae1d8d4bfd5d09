import { describe, expect, it } from 'vitest';
import type { ApplierStatus, ExtractorStatus, ReplicationSpec } from '../../shared/replication.js';
import { render } from '../../shared/metrics/exposition.js';
import { replicationMetrics, STATUSES } from './metrics.js';
import { replicationStatus } from './status.js';

const T0 = 1_700_000_000_000;
const spec: ReplicationSpec = {
  followerCluster: 'fc',
  followerIndex: 'orders-copy',
  leaderCluster: 'lc',
  leaderIndex: 'orders',
  state: 'active',
  bootstrap: 'none',
  requestedBy: 'ops',
  createdAt: T0,
  updatedAt: T0,
};
const extractor: ExtractorStatus = {
  kind: 'extractor',
  leaderCluster: 'lc',
  leaderIndex: 'orders',
  topic: 't',
  state: 'running',
  shards: [0, 1].map((shard) => ({
    shard,
    globalCheckpoint: 20 + shard,
    maxSeqNo: 20 + shard,
    cursor: 20 + shard,
    docs: 10,
    observedAt: T0 + 5000,
    published: 21,
  })),
  reconcile: { requests: 0, idsChecked: 100, deletesPublished: 2, lastMs: null },
  updatedAt: T0 + 5000,
};
const applier: ApplierStatus = {
  kind: 'applier',
  followerCluster: 'fc',
  followerIndex: 'orders-copy',
  topic: 't',
  state: 'syncing',
  shards: [0, 1].map((shard) => ({
    shard,
    appliedCheckpoint: 15,
    appliedObservedAt: T0 + 3000,
    offset: '12',
    highWatermark: '15',
    applied: 5,
    skipped: 1,
    deadLettered: shard,
    lastAppliedAt: T0 + 4000,
  })),
  reconcile: { passes: 3, idsSent: 0, lastPassMs: 250, lastPassAt: T0 },
  updatedAt: T0 + 5500,
};

function metricsAt(now: number, rows: { extractor?: ExtractorStatus; applier?: ApplierStatus }, s: ReplicationSpec = spec) {
  const view = replicationStatus(s, rows, now);
  return { view, text: render(replicationMetrics([{ spec: s, view }], now)) };
}

const labels = 'follower_cluster="fc",follower_index="orders-copy",leader_cluster="lc",leader_index="orders"';

describe('replicationMetrics', () => {
  it('projects the _status view: status, lag, shards, counters, reconciliation', () => {
    const { view, text } = metricsAt(T0 + 6000, { extractor, applier });
    expect(view.status).toBe('SYNCING');
    expect(text).toContain(`kccr_replication_status{${labels},status="SYNCING"} 1`);
    for (const s of STATUSES.filter((x) => x !== 'SYNCING')) expect(text).toContain(`kccr_replication_status{${labels},status="${s}"} 0`);
    expect(text).toContain(`kccr_replication_lag_operations{${labels}} ${view.lag_operations}`);
    expect(text).toContain(`kccr_shard_leader_checkpoint{${labels},shard="1"} 21`);
    expect(text).toContain(`kccr_shard_follower_checkpoint{${labels},shard="1"} 15`);
    expect(text).toContain(`kccr_shard_lag_operations{${labels},shard="1"} 6`);
    expect(text).toContain(`kccr_shard_operations_dead_lettered_total{${labels},shard="1"} 1`);
    expect(text).toContain(`kccr_shard_kafka_consumer_lag_messages{${labels},shard="0"} 3`);
    expect(text).toContain(`kccr_shard_last_applied_age_seconds{${labels},shard="0"} 2`);
    expect(text).toContain(`kccr_replication_applier_report_age_seconds{${labels}} 0.5`);
    expect(text).toContain(`kccr_reconciliation_passes_total{${labels}} 3`);
    expect(text).toContain(`kccr_reconciliation_ids_checked_total{${labels}} 100`);
    expect(text).toContain(`kccr_reconciliation_last_pass_duration_seconds{${labels}} 0.25`);
    expect(text).toContain('kccr_replications{status="SYNCING"} 1');
    expect(text).toContain('kccr_replications{status="FAILED"} 0');
  });

  it("carries the applier's latest dead letters into the view, with ISO times", () => {
    const view = replicationStatus(
      spec,
      { extractor, applier: { ...applier, recentDeadLetters: [{ at: T0, id: 'x', shard: 1, offset: '7', stage: 'write', reason: 'no' }] } },
      T0 + 6000,
    );
    expect(view.recent_dead_letters).toEqual([{ at: new Date(T0).toISOString(), id: 'x', shard: 1, offset: '7', stage: 'write', reason: 'no' }]);
    expect(replicationStatus(spec, { extractor, applier }, T0 + 6000)).not.toHaveProperty('recent_dead_letters');
  });

  it('never reports a health it has not seen: no rows is not SYNCING, and unknown lag is absent', () => {
    const { view, text } = metricsAt(T0 + 6000, {});
    expect(view.status).not.toBe('SYNCING');
    expect(text).toContain(`kccr_replication_status{${labels},status="SYNCING"} 0`);
    expect(text).not.toMatch(/^kccr_replication_lag_operations\{/m);
  });

  it('shows STALE, with the report age, once the applier has not reported for 3 intervals', () => {
    const { view, text } = metricsAt(T0 + 20_000, { extractor: { ...extractor, updatedAt: T0 + 19_000 }, applier });
    expect(view.status).toBe('STALE');
    expect(text).toContain(`kccr_replication_status{${labels},status="STALE"} 1`);
    expect(text).toContain(`kccr_replication_applier_report_age_seconds{${labels}} 14.5`);
  });
});
