/**
 * The lifecycle operations behind the REST routes: the checks a start needs on both clusters, then the spec change
 * in kccr._replications (the extractor and the applier follow it without restarts). Changes are made one at a time,
 * so that two requests for the same follower index cannot both pass the checks.
 */
import { randomUUID } from 'node:crypto';
import type { ElasticsearchAdapter } from '../../shared/adapters/elasticsearch.js';
import { KccrError } from '../../shared/errors.js';
import type { BootstrapCheckpoints, BootstrapMode, PositionRequest, PositionTarget, ReplicationSpec, ReplicationState } from '../../shared/replication.js';
import { DEFAULT_ID_TEMPLATE, DEFAULT_ORIGIN_FIELD, idTemplateProblem, mergedSourceName, originFieldProblem } from '../../shared/merge.js';
import type { MergeSpec } from '../../shared/merge.js';
import { replicationKey, targetIndex } from '../../shared/replication.js';
import { changeTopic } from '../../shared/topics.js';
import { readCheckpoints, requireRepository, snapshotName, snapshotRefusal } from './bootstrap.js';
import type { SnapshotBootstrapper } from './bootstrap.js';
import type { ClusterRegistry } from '../clusters/clusters.js';
import { sourceRecord, unreplicable, vectorFields } from './index-features.js';
import type { LeaderFacts } from './index-features.js';
import { mergeSettings, normalizeSettings } from './settings.js';
import type { StatusBoard } from '../status/status-board.js';
import type { StatusView } from '../status/status.js';
import type { ReplicationStore } from './store.js';

export interface StartCommand {
  readonly followerCluster: string;
  readonly followerIndex: string;
  readonly leaderCluster: string;
  readonly leaderIndex: string;
  readonly bootstrap?: BootstrapMode;
  readonly settings?: Record<string, unknown>;
  /** Replicate a leader index that keeps only part of _source (the follower then holds that part); refused otherwise. */
  readonly acceptPartialSource?: boolean;
  readonly requestedBy: string;
  /**
   * Merged mode: `followerIndex` is the merged index, and this leader index becomes one of its sources (named
   * mergedSourceName); the template and field default to DEFAULT_ID_TEMPLATE and DEFAULT_ORIGIN_FIELD.
   */
  readonly merge?: { readonly idTemplate?: string; readonly originField?: string };
}

/**
 * How a start in merged mode lands, or a BAD_REQUEST / CONFLICT saying why not: the template and field valid, the
 * same as the merged index's other sources use (one provenance field and one id scheme per index), the merged index
 * not a per-source follower index, no snapshot bootstrap (a snapshot restores one leader index as a whole index).
 */
export function mergeOf(cmd: StartCommand, specs: readonly ReplicationSpec[]): MergeSpec | undefined {
  if (!cmd.merge) return undefined;
  const into = cmd.followerIndex;
  const merge: MergeSpec = { into, idTemplate: cmd.merge.idTemplate ?? DEFAULT_ID_TEMPLATE, originField: cmd.merge.originField ?? DEFAULT_ORIGIN_FIELD };
  const problem = idTemplateProblem(merge.idTemplate) ?? originFieldProblem(merge.originField);
  if (problem) throw new KccrError('BAD_REQUEST', problem);
  if (cmd.bootstrap === 'snapshot')
    throw new KccrError(
      'BAD_REQUEST',
      'bootstrap "snapshot" cannot fill a merged index (a snapshot restores one leader index as a whole index); use "scan" or "none"',
    );
  const plain = specs.find((s) => s.followerCluster === cmd.followerCluster && !s.merge && s.followerIndex === into && s.state !== 'stopped');
  if (plain)
    throw new KccrError(
      'CONFLICT',
      `${into} is the follower index of ${plain.leaderCluster}:${plain.leaderIndex} (per source); choose another merged index name`,
    );
  const other = specs.find((s) => s.followerCluster === cmd.followerCluster && s.merge?.into === into && s.state !== 'stopped');
  if (other && (other.merge!.idTemplate !== merge.idTemplate || other.merge!.originField !== merge.originField)) {
    throw new KccrError(
      'BAD_REQUEST',
      `merged index ${into} takes id_template ${JSON.stringify(other.merge!.idTemplate)} and origin_field ${JSON.stringify(other.merge!.originField)} (as its source ${other.leaderCluster}:${other.leaderIndex}); give the same or leave them out`,
    );
  }
  return merge;
}

/** Elasticsearch refused a name or a value the caller gave: the caller's mistake (400), not the cluster's failure. */
function callerMistake(e: unknown, what: string): unknown {
  if (e instanceof KccrError && e.code === 'ES_REJECTED') return new KccrError('BAD_REQUEST', `${what}: ${e.message}`, { cluster: e.details.url });
  return e;
}

/**
 * Whether the follower cluster's applier group has committed offsets in a leader index's topic: an earlier
 * replication of the index into this follower cluster read it (and left the offsets at its end).
 */
export type CommittedOffsets = (followerCluster: string, topic: string) => Promise<boolean>;

/**
 * Where a new replication starts reading its topic: from the start, unless it resumes where it left off. Without
 * committed offsets the applier group starts there by itself; with offsets left by an earlier replication it would
 * resume past every record, so the start is asked for (`earliest`). Records a snapshot or `none` bootstrap does
 * not want (at or below its checkpoints) are read and left by the applier; records read twice are harmless
 * (external versions).
 */
export function startPosition(committed: boolean, resumesWhereLeft: boolean): PositionTarget | undefined {
  return committed && !resumesWhereLeft ? 'earliest' : undefined;
}

/**
 * A stopped follower index started again on the same leader index, still there, and the last replication of that
 * leader index into its follower cluster: the group's offsets are where it stopped, and it goes on from there.
 */
export function resumesWhereLeft(
  existing: ReplicationSpec | undefined,
  followerExists: boolean,
  cmd: Pick<StartCommand, 'leaderCluster' | 'leaderIndex'>,
  others: readonly ReplicationSpec[],
): boolean {
  if (!existing || existing.state !== 'stopped' || !followerExists) return false;
  if (existing.leaderCluster !== cmd.leaderCluster || existing.leaderIndex !== cmd.leaderIndex) return false;
  const otherReaders = others.filter(
    (s) =>
      s.followerCluster === existing.followerCluster &&
      s.leaderCluster === cmd.leaderCluster &&
      s.leaderIndex === cmd.leaderIndex &&
      s.followerIndex !== existing.followerIndex,
  );
  return otherReaders.every((s) => s.updatedAt < existing.updatedAt);
}

/**
 * What the leader says of an index beyond its mappings: whether it keeps vector values out of _source (asked only when
 * the mapping has vector fields; a cluster that does not know the setting answers without it).
 */
async function leaderFacts(es: ElasticsearchAdapter, index: string, mappings: Record<string, unknown>): Promise<LeaderFacts> {
  if (vectorFields(mappings).length === 0) return {};
  const setting = 'index.mapping.exclude_source_vectors';
  const r = await es.request<Record<string, { settings?: Record<string, unknown>; defaults?: Record<string, unknown> }>>(
    'GET',
    `/${encodeURIComponent(index)}/_settings/${setting}`,
    { query: { include_defaults: 'true', flat_settings: 'true' } },
  );
  const found = Object.values(r.body ?? {})[0];
  const value = found?.settings?.[setting] ?? found?.defaults?.[setting];
  return { excludeSourceVectors: String(value) === 'true' };
}

export class ReplicationService {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly store: ReplicationStore,
    readonly clusters: ClusterRegistry,
    readonly board: StatusBoard,
    readonly bootstrapper?: SnapshotBootstrapper,
    private readonly committedOffsets?: CommittedOffsets,
  ) {}

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private registered(name: string, role: 'leader' | 'follower'): void {
    if (!this.clusters.get(name)) {
      throw new KccrError(
        'NOT_FOUND',
        `${role} cluster ${name} is not registered; register it first with PUT /_kccr/clusters/${name} (kccr clusters add ${name} --url ...)`,
        { cluster: name },
      );
    }
  }

  private static async exists(es: ElasticsearchAdapter, index: string, role: string): Promise<boolean> {
    try {
      return await es.indexExists(index);
    } catch (e) {
      throw callerMistake(e, `the ${role} cluster refused the index name ${JSON.stringify(index)}`);
    }
  }

  start(cmd: StartCommand): Promise<ReplicationSpec> {
    const settings = cmd.settings ? normalizeSettings(cmd.settings) : undefined;
    return this.exclusive(async () => {
      this.registered(cmd.leaderCluster, 'leader');
      this.registered(cmd.followerCluster, 'follower');
      const merge = mergeOf(cmd, this.store.list());
      // A source of a merged index is a replication of its own, named after the source; it writes merge.into.
      const followerIndex = merge ? mergedSourceName(merge.into, cmd) : cmd.followerIndex;
      const existing = this.store.get(cmd.followerCluster, followerIndex);
      if (existing && existing.state !== 'stopped') {
        throw new KccrError(
          'CONFLICT',
          `${followerIndex} on follower cluster ${cmd.followerCluster} is already following ${existing.leaderCluster}:${existing.leaderIndex} (${existing.state}); stop it first`,
        );
      }
      const leaderExists = await this.clusters.withClient(cmd.leaderCluster, (es) => ReplicationService.exists(es, cmd.leaderIndex, 'leader'));
      if (!leaderExists) {
        const url = this.clusters.get(cmd.leaderCluster)?.url;
        throw new KccrError(
          'ES_NOT_FOUND',
          `leader index ${cmd.leaderIndex} does not exist on leader cluster ${cmd.leaderCluster} (${url}); create it there first or check the name`,
          { cluster: cmd.leaderCluster, index: cmd.leaderIndex },
        );
      }
      const leaderMeta = await this.clusters.withClient(cmd.leaderCluster, (es) => es.indexMeta(cmd.leaderIndex));
      const facts = await this.clusters.withClient(cmd.leaderCluster, (es) => leaderFacts(es, cmd.leaderIndex, leaderMeta.mappings));
      const refusal = unreplicable(cmd.leaderIndex, leaderMeta, { partialSource: cmd.acceptPartialSource ?? false }, facts);
      if (refusal) throw new KccrError('BAD_REQUEST', refusal, { cluster: cmd.leaderCluster, index: cmd.leaderIndex });
      const followerExists = await this.clusters.withClient(cmd.followerCluster, (es) => ReplicationService.exists(es, cmd.followerIndex, 'follower'));
      const mergedBefore = merge !== undefined && this.store.list().some((s) => s.followerCluster === cmd.followerCluster && s.merge?.into === merge.into);
      if (followerExists && !existing && !mergedBefore) {
        throw new KccrError(
          'CONFLICT',
          `index ${cmd.followerIndex} already exists on follower cluster ${cmd.followerCluster} and is not a kccr follower index; delete it or choose another follower index name`,
          { cluster: cmd.followerCluster, index: cmd.followerIndex },
        );
      }
      // snapshot: the follower gets what the leader holds up to these checkpoints from a snapshot; none: no history.
      // scan (the default): the extractor streams everything from the first operation.
      let checkpoints: BootstrapCheckpoints | undefined;
      if (cmd.bootstrap === 'snapshot') {
        const repository = this.bootstrapper?.repository;
        if (!repository) throw new KccrError('BAD_REQUEST', 'bootstrap "snapshot" is not available in this control service; use "scan"');
        await this.clusters.withClient(cmd.leaderCluster, (es) => requireRepository(es, repository, 'leader'));
        await this.clusters.withClient(cmd.followerCluster, (es) => requireRepository(es, repository, 'follower'));
        const refusal = snapshotRefusal(
          await this.clusters.withClient(cmd.leaderCluster, (es) => es.engine()),
          await this.clusters.withClient(cmd.followerCluster, (es) => es.engine()),
        );
        if (refusal) throw new KccrError('BAD_REQUEST', refusal, { leaderCluster: cmd.leaderCluster, followerCluster: cmd.followerCluster });
        const name = snapshotName(cmd.followerCluster, cmd.followerIndex, new Date());
        checkpoints = await this.clusters.withClient(cmd.leaderCluster, (es) => readCheckpoints(es, cmd.leaderIndex, { repository, name }));
      } else if (cmd.bootstrap === 'none') {
        checkpoints = await this.clusters.withClient(cmd.leaderCluster, (es) => readCheckpoints(es, cmd.leaderIndex));
      }
      // The incarnation this replication follows: records of an earlier leader index of the same name are not its.
      const leaderIndexUuid = checkpoints?.indexUuid ?? leaderMeta.uuid;
      // The applier reads with one consumer group per follower cluster: a leader index replicated into this follower
      // cluster before leaves the group's offsets in its topic behind (see startPosition).
      const committed = (await this.committedOffsets?.(cmd.followerCluster, changeTopic(cmd.leaderCluster, cmd.leaderIndex))) ?? false;
      const to = startPosition(committed, resumesWhereLeft(existing, followerExists, cmd, this.store.list()));
      const position: PositionRequest | undefined =
        to !== undefined ? { requestId: randomUUID(), to, requestedAt: Date.now(), requestedBy: cmd.requestedBy } : undefined;
      const spec = await this.store.start({
        followerCluster: cmd.followerCluster,
        followerIndex,
        leaderCluster: cmd.leaderCluster,
        leaderIndex: cmd.leaderIndex,
        leaderIndexUuid,
        ...(cmd.bootstrap ? { bootstrap: cmd.bootstrap } : {}),
        ...(settings && Object.keys(settings).length ? { followerSettings: settings } : {}),
        ...sourceRecord(leaderMeta, facts),
        requestedBy: cmd.requestedBy,
        ...(checkpoints ? { bootstrapCheckpoints: checkpoints } : {}),
        ...(position ? { position } : {}),
        ...(cmd.bootstrap === 'snapshot' ? { state: 'bootstrapping' as const } : {}),
        ...(merge ? { merge } : {}),
      });
      if (cmd.bootstrap === 'snapshot') this.bootstrapper!.start(spec);
      return spec;
    });
  }

  setState(followerCluster: string, followerIndex: string, state: ReplicationState, requestedBy: string): Promise<ReplicationSpec> {
    return this.exclusive(async () => {
      const spec = this.require(followerCluster, followerIndex);
      if (spec.state === state) return spec;
      return this.store.setState(followerCluster, followerIndex, state, requestedBy);
    });
  }

  /** Applies settings to the follower index now (when it exists yet) and keeps them in the spec for when it is created. */
  update(followerCluster: string, followerIndex: string, settings: Record<string, unknown>, requestedBy: string): Promise<ReplicationSpec> {
    const flat = normalizeSettings(settings);
    return this.exclusive(async () => {
      const spec = this.require(followerCluster, followerIndex);
      if (spec.state === 'stopped')
        throw new KccrError('CONFLICT', `replication of ${followerIndex} was stopped; its index is an ordinary index now: change its settings on the cluster`);
      if (Object.keys(flat).length === 0) return spec;
      await this.clusters.withClient(followerCluster, async (es) => {
        try {
          await es.request('PUT', `/${encodeURIComponent(targetIndex(spec))}/_settings`, { body: { index: flat } });
        } catch (e) {
          // Not created yet: the applier creates it with the stored settings.
          if (e instanceof KccrError && e.code === 'ES_NOT_FOUND') return;
          throw callerMistake(e, `follower cluster ${followerCluster} refused the settings for ${followerIndex}`);
        }
      });
      return this.store.setFollowerSettings(followerCluster, followerIndex, mergeSettings(spec.followerSettings, flat), requestedBy);
    });
  }

  require(followerCluster: string, followerIndex: string): ReplicationSpec {
    const spec = this.store.get(followerCluster, followerIndex);
    if (spec) return spec;
    const refused = this.store.refused().find((r) => r.key === replicationKey(followerCluster, followerIndex));
    if (refused) {
      throw new KccrError(
        'NOT_FOUND',
        `${followerIndex} on follower cluster ${followerCluster} has a row in kccr._replications that kccr refused (${refused.reason}): nothing acts on it; start the replication again with PUT .../${followerIndex}/_start`,
        {
          followerCluster,
          followerIndex,
        },
      );
    }
    const sources = this.store.list().filter((s) => s.followerCluster === followerCluster && s.merge?.into === followerIndex && s.state !== 'stopped');
    if (sources.length > 0) {
      const names = sources.map((s) => s.followerIndex);
      throw new KccrError(
        'NOT_FOUND',
        `${followerIndex} on follower cluster ${followerCluster} is a merged index: each of its sources is a replication of its own (${names.slice(0, 10).join(', ')}${names.length > 10 ? ', ...' : ''}); name the source`,
        { followerCluster, followerIndex, sources: names.slice(0, 100) },
      );
    }
    throw new KccrError(
      'NOT_FOUND',
      `${followerIndex} is not a kccr follower index on follower cluster ${followerCluster}; start it with PUT .../${followerIndex}/_start`,
      { followerCluster, followerIndex },
    );
  }

  status(followerCluster: string, followerIndex: string): StatusView {
    return this.board.view(this.require(followerCluster, followerIndex));
  }

  list(): ReplicationSpec[] {
    return this.store.list().sort((a, b) => a.followerCluster.localeCompare(b.followerCluster) || a.followerIndex.localeCompare(b.followerIndex));
  }

  /** Removes a registered cluster unless a replication that is not stopped uses it (checked in turn with starts). */
  removeCluster(name: string): Promise<void> {
    return this.exclusive(async () => {
      if (!this.clusters.get(name)) throw new KccrError('NOT_FOUND', `cluster ${name} is not registered`, { cluster: name });
      const users = this.store.list().filter((s) => s.state !== 'stopped' && (s.leaderCluster === name || s.followerCluster === name));
      if (users.length > 0) {
        const names = users.slice(0, 5).map((s) => `${s.followerCluster}:${s.followerIndex} (${s.state})`);
        throw new KccrError(
          'CONFLICT',
          `cluster ${name} is used by ${users.length} replication${users.length === 1 ? '' : 's'}: ${names.join(', ')}${users.length > 5 ? ', ...' : ''}; stop them first`,
          { cluster: name },
        );
      }
      await this.clusters.remove(name);
    });
  }
}
