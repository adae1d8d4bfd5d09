import type { RegistryConnection } from '../shared/adapters/registry.js';
import { EnvReader, readClusterName, readEsConnection, readKafkaSettings, readRegistryConnection } from '../shared/config.js';
import type { EsConnection, KafkaSettings } from '../shared/config.js';
import { DEFAULT_BISECT } from './bisect.js';
import type { BisectOptions } from './bisect.js';
import { readMetricsSettings } from '../shared/metrics/server.js';
import type { MetricsSettings } from '../shared/metrics/server.js';

/** The applier's /metrics port unless KCCR_METRICS_PORT says otherwise. */
export const APPLIER_METRICS_PORT = 9465;

export interface ApplierConfig {
  /** Its /metrics listener (KCCR_METRICS_HOST, KCCR_METRICS_PORT). */
  readonly metrics: MetricsSettings;
  /** The follower cluster's name in kccr: one consumer group per follower cluster. */
  readonly followerCluster: string;
  readonly follower: EsConnection;
  readonly kafka: KafkaSettings;
  readonly registry: RegistryConnection;
  /** Writes per _bulk request. */
  readonly batchSize: number;
  /** Bytes fetched per partition at a time: with the concurrency, the bound on buffered data. */
  readonly maxBytesPerPartition: number;
  /** Partitions applied at the same time (each in order, never concurrently within one). */
  readonly concurrency: number;
  /** index.gc_deletes of follower indices: how long a delete's tombstone keeps older replays out. */
  readonly gcDeletes: string;
  /** A full delete-reconciliation pass of every followed shard at least this often. */
  readonly reconcileIntervalMs: number;
  readonly reconcilePageSize: number;
  readonly reconcileMinIntervalMs: number;
  /** A reconciliation pass without an answer from the leader side for this long is given up and asked for again. */
  readonly reconcilePassTimeoutMs: number;
  /** The delete bisection: parts per split, ranges listed rather than split, shards listed whole. */
  readonly reconcileBisect: BisectOptions;
  readonly retryMaxMs: number;
  /** How often an index that failed on something only an operator fixes (credentials, permissions) is probed again. */
  readonly failedProbeMs: number;
  readonly statusIntervalMs: number;
  /** The dead-letter topic's max.message.bytes: a dead letter carries the whole document when it fits. */
  readonly maxMessageBytes: number;
  /** The dead-letter topic's retention.bytes (with 30 days' retention.ms): the oldest dead letters go first. */
  readonly deadLetterRetentionBytes: number;
  /** A _bulk request's bytes, about: a larger document is written in a request of its own. */
  readonly maxBulkBytes: number;
  /** Bytes of a chunked envelope held per partition while its chunks arrive; a larger one is dead-lettered. */
  readonly maxReassemblyBytes: number;
  /** The operator's limit on a document's _source bytes (Infinity: none); a larger one is dead-lettered. */
  readonly maxDocumentBytes: number;
}

export function readApplierConfig(env: NodeJS.ProcessEnv = process.env): Readonly<ApplierConfig> {
  const r = new EnvReader(env);
  const gcDeletes = r.string('KCCR_FOLLOWER_GC_DELETES', '24h');
  if (!/^\d+(ms|s|m|h|d)$/.test(gcDeletes))
    r.problem(`KCCR_FOLLOWER_GC_DELETES: expected a time value such as 24h or 7d, received ${JSON.stringify(gcDeletes)}`);
  return r.done({
    followerCluster: readClusterName(r, 'KCCR_FOLLOWER_CLUSTER', 'follower'),
    follower: readEsConnection(r, 'KCCR_FOLLOWER_', 'http://127.0.0.1:9201'),
    kafka: readKafkaSettings(r),
    registry: readRegistryConnection(r),
    batchSize: r.int('KCCR_APPLIER_BATCH_SIZE', 1000, 1, 10_000),
    maxBytesPerPartition: r.int('KCCR_APPLIER_MAX_BYTES_PER_PARTITION', 2 * 1024 * 1024, 64 * 1024, 64 * 1024 * 1024),
    concurrency: r.int('KCCR_APPLIER_CONCURRENCY', 4, 1, 64),
    gcDeletes,
    reconcileIntervalMs: r.int('KCCR_RECONCILE_INTERVAL_MS', 600_000, 1000, 86_400_000),
    reconcilePageSize: r.int('KCCR_RECONCILE_PAGE_SIZE', 5000, 10, 10_000),
    reconcileMinIntervalMs: r.int('KCCR_RECONCILE_MIN_INTERVAL_MS', 2000, 0, 3_600_000),
    reconcilePassTimeoutMs: r.int('KCCR_RECONCILE_PASS_TIMEOUT_MS', 20_000, 1000, 3_600_000),
    reconcileBisect: {
      fanout: r.int('KCCR_RECONCILE_FANOUT', DEFAULT_BISECT.fanout, 2, 256),
      leafDocs: r.int('KCCR_RECONCILE_LEAF_DOCS', DEFAULT_BISECT.leafDocs, 1, 1_000_000),
      listBelowDocs: r.int('KCCR_RECONCILE_LIST_BELOW_DOCS', DEFAULT_BISECT.listBelowDocs, 0, 10_000_000),
    },
    retryMaxMs: r.int('KCCR_APPLIER_RETRY_MAX_MS', r.int('KCCR_RETRY_MAX_MS', 30_000, 100, 600_000), 100, 600_000),
    failedProbeMs: r.int('KCCR_FAILED_PROBE_MS', 60_000, 1000, 3_600_000),
    statusIntervalMs: r.int('KCCR_STATUS_INTERVAL_MS', 2000, 100, 600_000),
    maxMessageBytes: r.int('KCCR_TOPIC_MAX_MESSAGE_BYTES', 16 * 1024 * 1024, 1024 * 1024, 512 * 1024 * 1024),
    deadLetterRetentionBytes: r.int('KCCR_DEADLETTER_RETENTION_BYTES', 1024 * 1024 * 1024, 1024 * 1024, Number.MAX_SAFE_INTEGER),
    maxBulkBytes: r.int('KCCR_APPLIER_MAX_BULK_BYTES', 8 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    maxReassemblyBytes: r.int('KCCR_APPLIER_MAX_REASSEMBLY_BYTES', 256 * 1024 * 1024, 1024 * 1024, 4 * 1024 * 1024 * 1024),
    // 0: no limit beyond the leader's own (http.max_content_length, indexing pressure).
    maxDocumentBytes: r.int('KCCR_MAX_DOCUMENT_BYTES', 0, 0, 4 * 1024 * 1024 * 1024) || Number.POSITIVE_INFINITY,
    metrics: readMetricsSettings(r, APPLIER_METRICS_PORT),
  });
}
