/**
 * The replication metrics the control service serves on GET /metrics: a projection of the very views `_status` and
 * `GET /_kccr/replications` answer with (status.ts), taken at the scrape. Pure: views and time in, families out.
 *
 * Names follow Prometheus' rules (kccr_ prefix, _total for counters, base units) and, where they have one, the
 * meaning of the anchors' stats: Elastic CCR's time_since_last_read_millis and operations_written, OpenSearch's
 * num_syncing_indices / num_failed_indices (here kccr_replications{status}).
 */
import type { ReplicationSpec } from '../../shared/replication.js';
import { family } from '../../shared/metrics/exposition.js';
import type { MetricFamily } from '../../shared/metrics/exposition.js';
import type { ReplicationStatusName, StatusView } from './status.js';

export const STATUSES: readonly ReplicationStatusName[] = ['BOOTSTRAPPING', 'SYNCING', 'RETRYING', 'STALE', 'PAUSED', 'STOPPED', 'FAILED'];

export interface ReplicationSample {
  readonly spec: ReplicationSpec;
  readonly view: StatusView;
}

function secondsSince(iso: string | null, now: number): number | null {
  return iso === null ? null : Math.max(0, (now - Date.parse(iso)) / 1000);
}

export function replicationMetrics(rows: readonly ReplicationSample[], now: number): MetricFamily[] {
  const count = family('kccr_replications', 'gauge', 'Replications by status (as _status reports them)');
  const status = family('kccr_replication_status', 'gauge', 'One series per status; 1 for the status the replication is in, 0 for the others');
  const lagOps = family(
    'kccr_replication_lag_operations',
    'gauge',
    'Leader global checkpoints minus follower applied checkpoints, summed over shards (absent when unknown)',
  );
  const lagSec = family(
    'kccr_replication_lag_seconds',
    'gauge',
    'Age of the leader state the follower holds; 0 when it holds the latest (absent when unknown)',
  );
  const sinceExtractor = family('kccr_replication_extractor_report_age_seconds', 'gauge', "Seconds since the extractor's last status report for this index");
  const sinceApplier = family('kccr_replication_applier_report_age_seconds', 'gauge', "Seconds since the applier's last status report for this index");
  const restarts = family(
    'kccr_replication_restarts_total',
    'counter',
    'Times the extractor or the applier started this replication again after its loop ended unexpectedly',
  );
  const retrying = family('kccr_replication_retrying_attempts', 'gauge', 'Attempts of the transient failure being retried now (0 when none)');
  const leaderCp = family('kccr_shard_leader_checkpoint', 'gauge', "The leader shard's global checkpoint as last read");
  const followerCp = family('kccr_shard_follower_checkpoint', 'gauge', 'The leader checkpoint the follower shard holds everything up to');
  const shardLagOps = family('kccr_shard_lag_operations', 'gauge', 'Leader checkpoint minus follower checkpoint of the shard');
  const shardLagSec = family('kccr_shard_lag_seconds', 'gauge', 'Age of the leader state the follower shard holds');
  const applied = family('kccr_shard_operations_applied_total', 'counter', 'Operations written to the follower shard');
  const skipped = family(
    'kccr_shard_operations_skipped_total',
    'counter',
    'Operations skipped (older than what the follower holds, or of another incarnation of the leader index)',
  );
  const dead = family('kccr_shard_operations_dead_lettered_total', 'counter', 'Operations the follower refused, sent to the dead-letter topic');
  const consumerLag = family(
    'kccr_shard_kafka_consumer_lag_messages',
    'gauge',
    "Records of the shard's partition not yet applied (high watermark minus committed offset)",
  );
  const sinceApplied = family('kccr_shard_last_applied_age_seconds', 'gauge', 'Seconds since the follower shard last had a write applied');
  const passes = family('kccr_reconciliation_passes_total', 'counter', 'Delete reconciliation passes completed');
  const abandoned = family('kccr_reconciliation_passes_abandoned_total', 'counter', 'Reconciliation passes given up without an answer and asked again');
  const idsChecked = family('kccr_reconciliation_ids_checked_total', 'counter', 'Document ids checked against the leader by reconciliation');
  const deletes = family('kccr_reconciliation_deletes_published_total', 'counter', 'Deletes found by reconciliation and published');
  const passSeconds = family('kccr_reconciliation_last_pass_duration_seconds', 'gauge', 'Duration of the last reconciliation pass');

  const byStatus = new Map<ReplicationStatusName, number>(STATUSES.map((s) => [s, 0]));
  for (const { spec, view: v } of rows) {
    byStatus.set(v.status, (byStatus.get(v.status) ?? 0) + 1);
    const r = {
      follower_cluster: spec.followerCluster,
      follower_index: spec.followerIndex,
      leader_cluster: spec.leaderCluster,
      leader_index: spec.leaderIndex,
    };
    for (const s of STATUSES) status.add({ ...r, status: s }, s === v.status ? 1 : 0);
    lagOps.add(r, v.lag_operations);
    lagSec.add(r, v.lag_seconds);
    sinceExtractor.add(r, secondsSince(v.extractor_updated_at, now));
    sinceApplier.add(r, secondsSince(v.applier_updated_at, now));
    restarts.add({ ...r, side: 'extractor' }, v.restarts.extractor);
    restarts.add({ ...r, side: 'applier' }, v.restarts.applier);
    retrying.add(r, v.retrying?.attempts ?? 0);
    for (const sh of v.shards) {
      const s = { ...r, shard: String(sh.shard) };
      leaderCp.add(s, sh.leader_checkpoint);
      followerCp.add(s, sh.follower_checkpoint);
      shardLagOps.add(s, sh.lag_operations);
      shardLagSec.add(s, sh.lag_seconds);
      applied.add(s, sh.applied);
      skipped.add(s, sh.skipped);
      dead.add(s, sh.dead_lettered);
      if (sh.offset !== null && sh.high_watermark !== null) consumerLag.add(s, Math.max(0, Number(sh.high_watermark) - Number(sh.offset)));
      sinceApplied.add(s, secondsSince(sh.last_applied_at, now));
    }
    const rc = v.reconciliation;
    passes.add(r, rc.passes);
    abandoned.add(r, rc.passes_abandoned);
    idsChecked.add(r, rc.ids_checked);
    deletes.add(r, rc.deletes_published);
    passSeconds.add(r, rc.last_pass_ms === null ? null : rc.last_pass_ms / 1000);
  }
  for (const [s, n] of byStatus) count.add({ status: s }, n);
  return [
    count,
    status,
    lagOps,
    lagSec,
    sinceExtractor,
    sinceApplier,
    restarts,
    retrying,
    leaderCp,
    followerCp,
    shardLagOps,
    shardLagSec,
    applied,
    skipped,
    dead,
    consumerLag,
    sinceApplied,
    passes,
    abandoned,
    idsChecked,
    deletes,
    passSeconds,
  ].map((f) => f.done());
}
