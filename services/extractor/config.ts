import { readMetricsSettings } from '../shared/metrics/server.js';
import type { MetricsSettings } from '../shared/metrics/server.js';
import type { RegistryConnection } from '../shared/adapters/registry.js';
import { EnvReader, readClusterName, readEsConnection, readKafkaSettings, readRegistryConnection } from '../shared/config.js';
import type { EsConnection, KafkaSettings } from '../shared/config.js';
import { CHUNK_OVERHEAD_BYTES } from '../shared/chunks.js';

/** The extractor's /metrics port unless KCCR_METRICS_PORT says otherwise. */
export const EXTRACTOR_METRICS_PORT = 9464;

export interface ExtractorConfig {
  /** Its /metrics listener (KCCR_METRICS_HOST, KCCR_METRICS_PORT). */
  readonly metrics: MetricsSettings;
  /** The leader cluster's name in kccr (topic names and replication specs use it). */
  readonly leaderCluster: string;
  readonly leader: EsConnection;
  readonly kafka: KafkaSettings;
  readonly registry: RegistryConnection;
  /** Documents per search page and per produce call. */
  readonly batchSize: number;
  /** Poll delay while changes flow, and the ceiling it grows to (doubling) while the index is idle. */
  readonly minPollMs: number;
  readonly maxPollMs: number;
  /** An idle shard still gets a checkpoint record this often, so the follower side knows its lag in seconds. */
  readonly idleCheckpointMs: number;
  /** Bound on the realtime gets that delete reconciliation may send to the leader. */
  readonly reconcileIdsPerSecond: number;
  readonly statusIntervalMs: number;
  readonly compression: 'none' | 'gzip';
  /**
   * How operations up to the global checkpoint are made visible to search: `refresh` forces a refresh of the
   * leader index when a shard advanced; `scheduled` waits for the leader's own scheduled refreshes (forcing one
   * only after visibilityMaxWaitMs). See docs/design/visibility.md.
   */
  readonly visibility: 'refresh' | 'scheduled';
  /** The data topics' max.message.bytes, set when kccr creates them: at least a chunk and its headers. */
  readonly maxMessageBytes: number;
  /** Envelopes larger than this are published as ordered chunks of this size (any document size is carried). */
  readonly chunkBytes: number;
  readonly visibilityMaxWaitMs: number;
  /** After a failover (a new primary term), the changes of this long before are published again (docs/design/multi-node.md). */
  readonly failoverRereadMs: number;
  /** The ceiling of the backoff between retries of a transient failure (Kafka, registry or leader unreachable). */
  readonly retryMaxMs: number;
  /** How often an index that failed on something only an operator fixes (credentials, a new history) is probed again. */
  readonly failedProbeMs: number;
}

/** Under the broker's default message.max.bytes (1 MiB) and every fetch size: no Kafka setting needs changing. */
export const DEFAULT_CHUNK_BYTES = 512 * 1024;

export function readExtractorConfig(env: NodeJS.ProcessEnv = process.env): Readonly<ExtractorConfig> {
  const r = new EnvReader(env);
  const config = {
    leaderCluster: readClusterName(r, 'KCCR_LEADER_CLUSTER', 'leader'),
    leader: readEsConnection(r, 'KCCR_LEADER_', 'http://127.0.0.1:9200'),
    kafka: readKafkaSettings(r),
    registry: readRegistryConnection(r),
    batchSize: r.int('KCCR_EXTRACTOR_BATCH_SIZE', 1000, 1, 10_000),
    minPollMs: r.int('KCCR_EXTRACTOR_MIN_POLL_MS', 500, 10, 60_000),
    maxPollMs: r.int('KCCR_EXTRACTOR_MAX_POLL_MS', 5000, 10, 600_000),
    idleCheckpointMs: r.int('KCCR_EXTRACTOR_IDLE_CHECKPOINT_MS', 5000, 100, 3_600_000),
    reconcileIdsPerSecond: r.int('KCCR_RECONCILE_IDS_PER_SECOND', 50_000, 1, 10_000_000),
    statusIntervalMs: r.int('KCCR_STATUS_INTERVAL_MS', 2000, 100, 600_000),
    compression: r.oneOf('KCCR_TOPIC_COMPRESSION', ['none', 'gzip'] as const, 'none'),
    maxMessageBytes: r.int('KCCR_TOPIC_MAX_MESSAGE_BYTES', 16 * 1024 * 1024, 1024 * 1024, 512 * 1024 * 1024),
    chunkBytes: r.int('KCCR_CHUNK_BYTES', DEFAULT_CHUNK_BYTES, 16 * 1024, 64 * 1024 * 1024),
    visibility: r.oneOf('KCCR_EXTRACTOR_VISIBILITY', ['refresh', 'scheduled'] as const, 'refresh'),
    visibilityMaxWaitMs: r.int('KCCR_EXTRACTOR_VISIBILITY_MAX_WAIT_MS', 3000, 100, 600_000),
    failoverRereadMs: r.int('KCCR_EXTRACTOR_FAILOVER_REREAD_MS', 300_000, 0, 86_400_000),
    retryMaxMs: r.int('KCCR_RETRY_MAX_MS', 30_000, 100, 600_000),
    failedProbeMs: r.int('KCCR_FAILED_PROBE_MS', 60_000, 1000, 3_600_000),
    metrics: readMetricsSettings(r, EXTRACTOR_METRICS_PORT),
  };
  if (config.chunkBytes + CHUNK_OVERHEAD_BYTES > config.maxMessageBytes) {
    r.problem(
      `KCCR_CHUNK_BYTES (${config.chunkBytes}) and a chunk's headers (${CHUNK_OVERHEAD_BYTES}) must fit in KCCR_TOPIC_MAX_MESSAGE_BYTES (${config.maxMessageBytes}); lower the first or raise the second`,
    );
  }
  return r.done(config);
}
