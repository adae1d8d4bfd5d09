/**
 * What the extractor and the applier serve on their own /metrics beside process metrics: a projection of the status
 * rows each makes for kccr._status (the same numbers, at the scrape, without a round trip through Kafka). The
 * cluster-wide view (lag between both sides, STALE) is the control service's (control/status/metrics.ts).
 */
import type { ApplierStatus, ExtractorStatus } from '../replication.js';
import { family } from './exposition.js';
import type { MetricFamily } from './exposition.js';

const EXTRACTOR_STATES: readonly ExtractorStatus['state'][] = ['running', 'retrying', 'failed'];
const APPLIER_STATES: readonly ApplierStatus['state'][] = ['syncing', 'retrying', 'paused', 'stopped', 'failed'];

export function extractorMetrics(rows: readonly ExtractorStatus[], now: number): MetricFamily[] {
  const state = family('kccr_extractor_index_state', 'gauge', "One series per state of the extractor's work on a leader index; 1 for the current state");
  const checkpoint = family('kccr_extractor_leader_checkpoint', 'gauge', "The leader shard's global checkpoint at the last reading");
  const cursor = family('kccr_extractor_cursor', 'gauge', 'The sequence number up to which changes of the shard are published');
  const published = family('kccr_extractor_operations_published_total', 'counter', 'Change envelopes published for the shard');
  const readAge = family('kccr_extractor_last_read_age_seconds', 'gauge', "Seconds since the shard's last reading (Elastic CCR: time_since_last_read)");
  const refreshes = family('kccr_extractor_forced_refreshes_total', 'counter', 'Refreshes of the leader index kccr forced (visibility strategy)');
  const ids = family('kccr_extractor_reconcile_ids_checked_total', 'counter', 'Ids checked against the leader for delete reconciliation');
  const deletes = family('kccr_extractor_reconcile_deletes_published_total', 'counter', 'Deletes found by reconciliation and published');
  const restarts = family('kccr_extractor_restarts_total', 'counter', 'Times the extraction of the index started again after its loop ended unexpectedly');
  const bytes = family('kccr_extractor_bytes_published_total', 'counter', 'Bytes of change envelopes encoded for Kafka');
  const failures = family('kccr_extractor_failures_total', 'counter', 'Failed extraction cycles (each retried), by error code');
  for (const s of rows) {
    const r = { leader_cluster: s.leaderCluster, leader_index: s.leaderIndex };
    for (const st of EXTRACTOR_STATES) state.add({ ...r, state: st }, st === s.state ? 1 : 0);
    for (const sh of s.shards) {
      const l = { ...r, shard: String(sh.shard) };
      checkpoint.add(l, sh.globalCheckpoint);
      cursor.add(l, sh.cursor);
      published.add(l, sh.published);
      readAge.add(l, Math.max(0, (now - sh.observedAt) / 1000));
    }
    refreshes.add(r, s.forcedRefreshes ?? 0);
    ids.add(r, s.reconcile.idsChecked);
    deletes.add(r, s.reconcile.deletesPublished);
    restarts.add(r, s.restarts ?? 0);
    bytes.add(r, s.bytesPublished);
    for (const [code, n] of Object.entries(s.failures ?? {})) failures.add({ ...r, code }, n);
  }
  return [state, checkpoint, cursor, published, readAge, refreshes, ids, deletes, restarts, bytes, failures].map((f) => f.done());
}

export function applierMetrics(rows: readonly ApplierStatus[], now: number): MetricFamily[] {
  const state = family('kccr_applier_index_state', 'gauge', "One series per state of the applier's work on a follower index; 1 for the current state");
  const checkpoint = family('kccr_applier_follower_checkpoint', 'gauge', 'The leader checkpoint the follower shard holds everything up to');
  const applied = family('kccr_applier_operations_applied_total', 'counter', 'Operations written to the follower shard (Elastic CCR: operations_written)');
  const skipped = family('kccr_applier_operations_skipped_total', 'counter', 'Operations skipped (already held, or of another incarnation)');
  const dead = family('kccr_applier_operations_dead_lettered_total', 'counter', 'Operations the follower refused, sent to the dead-letter topic');
  const lag = family('kccr_applier_kafka_consumer_lag_messages', 'gauge', "Records of the shard's partition not yet applied");
  const writeAge = family('kccr_applier_last_applied_age_seconds', 'gauge', 'Seconds since the follower shard last had a write applied');
  const passes = family('kccr_applier_reconcile_passes_total', 'counter', 'Delete reconciliation passes completed');
  const restarts = family('kccr_applier_restarts_total', 'counter', "Times the applier's consumer was built anew after it stopped unexpectedly");
  const bytes = family('kccr_applier_bytes_written_total', 'counter', 'Bytes of _bulk bodies the follower accepted');
  const failures = family('kccr_applier_failures_total', 'counter', 'Failures retried (or probed again), by error code');
  for (const s of rows) {
    const r = { follower_cluster: s.followerCluster, follower_index: s.followerIndex };
    for (const st of APPLIER_STATES) state.add({ ...r, state: st }, st === s.state ? 1 : 0);
    for (const sh of s.shards) {
      const l = { ...r, shard: String(sh.shard) };
      checkpoint.add(l, sh.appliedCheckpoint);
      applied.add(l, sh.applied);
      skipped.add(l, sh.skipped);
      dead.add(l, sh.deadLettered);
      lag.add(l, Math.max(0, Number(sh.highWatermark) - Number(sh.offset)));
      writeAge.add(l, sh.lastAppliedAt === null ? null : Math.max(0, (now - sh.lastAppliedAt) / 1000));
    }
    passes.add(r, s.reconcile?.passes ?? 0);
    restarts.add(r, s.restarts ?? 0);
    bytes.add(r, s.bytesWritten);
    for (const [code, n] of Object.entries(s.failures ?? {})) failures.add({ ...r, code }, n);
  }
  return [state, checkpoint, applied, skipped, dead, lag, writeAge, passes, restarts, bytes, failures].map((f) => f.done());
}
