/**
 * The replication specs, kept in the compacted topic kccr._replications. The control service writes them;
 * extractors and appliers follow them without being restarted.
 */
import type { KafkaAdapter } from '../../shared/adapters/kafka.js';
import { KccrError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type {
  BootstrapCheckpoints,
  BootstrapMode,
  PartialSource,
  PositionRequest,
  RebuildInfo,
  ReplicationSpec,
  ReplicationState,
} from '../../shared/replication.js';
import type { MergeSpec } from '../../shared/merge.js';
import { CLUSTER_NAME, replicationKey } from '../../shared/replication.js';
import { CompactedTable, CONTROL_TOPICS } from '../../shared/table.js';
import type { RefusedRow } from '../../shared/table.js';
import { parseReplicationSpec } from '../../shared/rows.js';

export interface StartRequest {
  readonly followerCluster: string;
  readonly followerIndex: string;
  readonly leaderCluster: string;
  readonly leaderIndex: string;
  /** The leader index's UUID at the start: the incarnation this replication follows. */
  readonly leaderIndexUuid?: string;
  readonly bootstrap?: BootstrapMode;
  readonly followerSettings?: Record<string, unknown>;
  /** What the leader keeps of _source, when the follower's documents are not all it indexed, as indexed (index-features.ts). */
  readonly partialSource?: PartialSource;
  readonly syntheticSource?: boolean;
  readonly requestedBy: string;
  /** `bootstrapping` while a snapshot is restored; `active` otherwise. */
  readonly state?: 'bootstrapping' | 'active';
  readonly bootstrapCheckpoints?: BootstrapCheckpoints;
  /** Where the applier starts reading the topic, when not where the group's committed offsets say. */
  readonly position?: PositionRequest;
  /** One source of a merged index (shared/merge.ts). */
  readonly merge?: MergeSpec;
}

export class ReplicationStore {
  readonly table: CompactedTable<ReplicationSpec>;

  constructor(kafka: KafkaAdapter, logger?: Logger) {
    this.table = new CompactedTable<ReplicationSpec>(kafka, CONTROL_TOPICS.replications, logger, parseReplicationSpec);
  }

  open(): Promise<void> {
    return this.table.open();
  }

  get(followerCluster: string, followerIndex: string): ReplicationSpec | undefined {
    return this.table.get(replicationKey(followerCluster, followerIndex));
  }

  /** Rows of the table that did not pass its rules (rows.ts): not listed, not acted on. */
  refused(): RefusedRow[] {
    return this.table.refused();
  }

  list(): ReplicationSpec[] {
    return this.table.entries().map(([, v]) => v);
  }

  async start(req: StartRequest): Promise<ReplicationSpec> {
    for (const [what, name] of [
      ['follower cluster', req.followerCluster],
      ['leader cluster', req.leaderCluster],
    ] as const) {
      if (!CLUSTER_NAME.test(name))
        throw new KccrError('BAD_REQUEST', `${what} name ${JSON.stringify(name)} is not valid: use lower-case letters, digits, _ and -`);
    }
    const existing = this.get(req.followerCluster, req.followerIndex);
    if (existing && existing.state !== 'stopped') {
      throw new KccrError(
        'CONFLICT',
        `${req.followerIndex} on ${req.followerCluster} is already a follower of ${existing.leaderCluster}/${existing.leaderIndex} (${existing.state}); stop it first`,
      );
    }
    const clash = this.list().find(
      (s) => s.state !== 'stopped' && s.followerCluster === req.followerCluster && s.leaderCluster === req.leaderCluster && s.leaderIndex === req.leaderIndex,
    );
    if (clash) {
      throw new KccrError(
        'CONFLICT',
        `${req.leaderCluster}/${req.leaderIndex} is already replicated to ${clash.followerIndex} on ${req.followerCluster}; one follower index per leader index and follower cluster`,
      );
    }
    const now = Date.now();
    const spec: ReplicationSpec = {
      followerCluster: req.followerCluster,
      followerIndex: req.followerIndex,
      leaderCluster: req.leaderCluster,
      leaderIndex: req.leaderIndex,
      ...(req.leaderIndexUuid ? { leaderIndexUuid: req.leaderIndexUuid } : {}),
      state: req.state ?? 'active',
      bootstrap: req.bootstrap ?? 'scan',
      ...(req.bootstrapCheckpoints ? { bootstrapCheckpoints: req.bootstrapCheckpoints } : {}),
      ...(req.followerSettings ? { followerSettings: req.followerSettings } : {}),
      ...(req.partialSource ? { partialSource: req.partialSource } : {}),
      ...(req.syntheticSource ? { syntheticSource: true } : {}),
      ...(req.position ? { position: req.position } : {}),
      ...(req.merge ? { merge: req.merge } : {}),
      requestedBy: req.requestedBy,
      createdAt: now,
      updatedAt: now,
    };
    await this.table.putAndSee(replicationKey(req.followerCluster, req.followerIndex), spec);
    return spec;
  }

  /** kccr stops a replication itself (a failed bootstrap): stopped, with the reason kept on the spec. */
  async markFailed(followerCluster: string, followerIndex: string, reason: string): Promise<ReplicationSpec | undefined> {
    const spec = this.get(followerCluster, followerIndex);
    if (!spec || spec.state === 'stopped') return spec;
    const next: ReplicationSpec = { ...spec, state: 'stopped', reason, requestedBy: 'kccr', updatedAt: Date.now() };
    await this.table.putAndSee(replicationKey(followerCluster, followerIndex), next);
    return next;
  }

  async setState(followerCluster: string, followerIndex: string, state: ReplicationState, requestedBy: string): Promise<ReplicationSpec> {
    const spec = this.get(followerCluster, followerIndex);
    if (!spec) throw new KccrError('NOT_FOUND', `${followerIndex} on ${followerCluster} is not a kccr follower index`);
    if (spec.state === 'stopped' && state !== 'stopped') throw new KccrError('CONFLICT', `replication of ${followerIndex} was stopped; start it again instead`);
    const next: ReplicationSpec = { ...spec, state, requestedBy, updatedAt: Date.now() };
    await this.table.putAndSee(replicationKey(followerCluster, followerIndex), next);
    return next;
  }

  /** Replaces the follower settings of a replication that is not stopped (the applier uses them when it creates the index). */
  async setFollowerSettings(
    followerCluster: string,
    followerIndex: string,
    followerSettings: Record<string, unknown>,
    requestedBy: string,
  ): Promise<ReplicationSpec> {
    const spec = this.get(followerCluster, followerIndex);
    if (!spec) throw new KccrError('NOT_FOUND', `${followerIndex} on ${followerCluster} is not a kccr follower index`);
    if (spec.state === 'stopped')
      throw new KccrError('CONFLICT', `replication of ${followerIndex} was stopped; its index is an ordinary index now: change its settings on the cluster`);
    const { followerSettings: _previous, ...rest } = spec;
    const next: ReplicationSpec = { ...rest, ...(Object.keys(followerSettings).length ? { followerSettings } : {}), requestedBy, updatedAt: Date.now() };
    await this.table.putAndSee(replicationKey(followerCluster, followerIndex), next);
    return next;
  }

  /** Records a request to move the applier's position in the topic (the applier applies each request id once). */
  async requestPosition(followerCluster: string, followerIndex: string, position: PositionRequest): Promise<ReplicationSpec> {
    const spec = this.get(followerCluster, followerIndex);
    if (!spec) throw new KccrError('NOT_FOUND', `${followerIndex} on ${followerCluster} is not a kccr follower index`);
    if (spec.state === 'stopped') throw new KccrError('CONFLICT', `replication of ${followerIndex} was stopped; start it again instead`);
    const next: ReplicationSpec = { ...spec, position, requestedBy: position.requestedBy, updatedAt: position.requestedAt };
    await this.table.putAndSee(replicationKey(followerCluster, followerIndex), next);
    return next;
  }

  /**
   * A rebuild replaces a replication: the old one stops first (one follower index per leader index and follower
   * cluster), then the new one is written. If the second write fails, the old one is put back as it was.
   */
  async replaceForRebuild(old: ReplicationSpec, next: ReplicationSpec): Promise<void> {
    const stopped: ReplicationSpec = {
      ...old,
      state: 'stopped',
      rebuiltInto: next.followerIndex,
      reason: `rebuilt into ${next.followerIndex}; this index is kept as it was and is no longer followed`,
      requestedBy: next.requestedBy,
      updatedAt: next.createdAt,
    };
    await this.table.putAndSee(replicationKey(old.followerCluster, old.followerIndex), stopped);
    try {
      await this.table.putAndSee(replicationKey(next.followerCluster, next.followerIndex), next);
    } catch (e) {
      await this.table.putAndSee(replicationKey(old.followerCluster, old.followerIndex), old).catch(() => undefined);
      throw e;
    }
  }

  /** Progress of a rebuild (caught up, alias moved): kccr's own bookkeeping, so updatedAt stays. */
  async updateRebuild(
    followerCluster: string,
    followerIndex: string,
    patch: Partial<Pick<RebuildInfo, 'caughtUpAt' | 'aliasMovedAt'>>,
  ): Promise<ReplicationSpec | undefined> {
    const spec = this.get(followerCluster, followerIndex);
    if (!spec?.rebuild) return spec;
    const next: ReplicationSpec = { ...spec, rebuild: { ...spec.rebuild, ...patch } };
    await this.table.putAndSee(replicationKey(followerCluster, followerIndex), next);
    return next;
  }

  close(): Promise<void> {
    return this.table.close();
  }
}
