/**
 * The control service's view of kccr._status: the rows the extractors and appliers write, and, per applier, the
 * last checkpoint each shard had applied (see RememberedShards in status.ts).
 */
import type { KafkaAdapter } from '../../shared/adapters/kafka.js';
import type { Logger } from '../../shared/logger.js';
import type { ReplicationSpec } from '../../shared/replication.js';
import { applierStatusKey } from '../../shared/replication.js';
import { CompactedTable, CONTROL_TOPICS } from '../../shared/table.js';
import { followerStats, leaderStats, replicationStatus, rowsOf } from './status.js';
import type { StatusRow, StatusView } from './status.js';

interface Remembered {
  readonly appliedCheckpoint: number;
  readonly appliedObservedAt: number;
  /** When the applier reported it: memory older than a spec's creation belongs to an earlier replication. */
  readonly reportedAt: number;
}

export class StatusBoard {
  readonly table: CompactedTable<StatusRow>;
  private readonly memory = new Map<string, Map<number, Remembered>>();

  constructor(kafka: KafkaAdapter, logger?: Logger) {
    this.table = new CompactedTable<StatusRow>(kafka, CONTROL_TOPICS.status, logger);
    this.table.on('change', (key, row) => this.remember(key, row));
  }

  open(): Promise<void> {
    return this.table.open();
  }

  close(): Promise<void> {
    return this.table.close();
  }

  private remember(key: string, row: StatusRow | undefined): void {
    if (row?.kind !== 'applier') return;
    let shards = this.memory.get(key);
    for (const s of row.shards) {
      if (s.appliedObservedAt === null) continue;
      if (!shards) this.memory.set(key, (shards = new Map()));
      shards.set(s.shard, { appliedCheckpoint: s.appliedCheckpoint, appliedObservedAt: s.appliedObservedAt, reportedAt: row.updatedAt });
    }
  }

  private rememberedFor(spec: ReplicationSpec): Map<number, Remembered> {
    const all = this.memory.get(applierStatusKey(spec.followerCluster, spec.followerIndex)) ?? new Map<number, Remembered>();
    return new Map([...all].filter(([, r]) => r.reportedAt >= spec.createdAt));
  }

  /** Each replication with its view at `now` (what /metrics and the status history sample). */
  views(specs: readonly ReplicationSpec[], now = Date.now()): { spec: ReplicationSpec; view: StatusView }[] {
    return specs.map((spec) => ({ spec, view: this.view(spec, now) }));
  }

  view(spec: ReplicationSpec, now = Date.now()): StatusView {
    return replicationStatus(
      spec,
      rowsOf(spec, (k) => this.table.get(k)),
      now,
      this.rememberedFor(spec),
    );
  }

  followerStats(specs: readonly ReplicationSpec[], followerCluster: string, now = Date.now()) {
    return followerStats(specs, (spec) => this.view(spec, now), followerCluster);
  }

  leaderStats(specs: readonly ReplicationSpec[]) {
    return leaderStats(specs, (k) => this.table.get(k));
  }
}
