import { describe, expect, it } from 'vitest';
import { render } from './exposition.js';
import { applierMetrics, extractorMetrics } from './service-metrics.js';

const T0 = 1_700_000_000_000;

describe('the data-plane services own metrics', () => {
  it("project the extractor's status row", () => {
    const text = render(
      extractorMetrics(
        [
          {
            kind: 'extractor',
            leaderCluster: 'lc',
            leaderIndex: 'orders',
            topic: 't',
            state: 'retrying',
            shards: [{ shard: 0, globalCheckpoint: 9, maxSeqNo: 9, cursor: 7, docs: 3, observedAt: T0, published: 8 }],
            reconcile: { requests: 1, idsChecked: 4, deletesPublished: 1, lastMs: 5 },
            forcedRefreshes: 2,
            bytesPublished: 4096,
            failures: { ES_UNAVAILABLE: 3 },
            updatedAt: T0,
          },
        ],
        T0 + 1500,
      ),
    );
    const l = 'leader_cluster="lc",leader_index="orders"';
    expect(text).toContain(`kccr_extractor_index_state{${l},state="retrying"} 1`);
    expect(text).toContain(`kccr_extractor_index_state{${l},state="running"} 0`);
    expect(text).toContain(`kccr_extractor_cursor{${l},shard="0"} 7`);
    expect(text).toContain(`kccr_extractor_operations_published_total{${l},shard="0"} 8`);
    expect(text).toContain(`kccr_extractor_last_read_age_seconds{${l},shard="0"} 1.5`);
    expect(text).toContain(`kccr_extractor_forced_refreshes_total{${l}} 2`);
    expect(text).toContain(`kccr_extractor_bytes_published_total{${l}} 4096`);
    expect(text).toContain(`kccr_extractor_failures_total{${l},code="ES_UNAVAILABLE"} 3`);
  });

  it("project the applier's status row; a shard that never applied has no last-applied age", () => {
    const text = render(
      applierMetrics(
        [
          {
            kind: 'applier',
            followerCluster: 'fc',
            followerIndex: 'copy',
            topic: 't',
            state: 'paused',
            shards: [
              {
                shard: 0,
                appliedCheckpoint: 4,
                appliedObservedAt: T0,
                offset: '10',
                highWatermark: '16',
                applied: 9,
                skipped: 2,
                deadLettered: 1,
                lastAppliedAt: T0,
              },
              {
                shard: 1,
                appliedCheckpoint: -1,
                appliedObservedAt: null,
                offset: '0',
                highWatermark: '0',
                applied: 0,
                skipped: 0,
                deadLettered: 0,
                lastAppliedAt: null,
              },
            ],
            bytesWritten: 1000,
            failures: { ES_REJECTED: 2, KAFKA_UNAVAILABLE: 1 },
            updatedAt: T0,
          },
        ],
        T0 + 2000,
      ),
    );
    const l = 'follower_cluster="fc",follower_index="copy"';
    expect(text).toContain(`kccr_applier_index_state{${l},state="paused"} 1`);
    expect(text).toContain(`kccr_applier_kafka_consumer_lag_messages{${l},shard="0"} 6`);
    expect(text).toContain(`kccr_applier_operations_dead_lettered_total{${l},shard="0"} 1`);
    expect(text).toContain(`kccr_applier_last_applied_age_seconds{${l},shard="0"} 2`);
    expect(text).not.toContain(`kccr_applier_last_applied_age_seconds{${l},shard="1"}`);
    expect(text).toContain(`kccr_applier_bytes_written_total{${l}} 1000`);
    expect(text).toContain(`kccr_applier_failures_total{${l},code="ES_REJECTED"} 2`);
    expect(text).toContain(`kccr_applier_failures_total{${l},code="KAFKA_UNAVAILABLE"} 1`);
  });
});
