/**
 * Bootstrapping a follower from a snapshot: the leader's checkpoints are read first, then the leader index is
 * snapshotted to a repository both clusters reach and restored on the follower under the follower's name; the
 * extractor meanwhile publishes only what comes after those checkpoints (they travel on the spec), and the applier
 * starts once the restore is done. Operations between the checkpoints and the snapshot are in both: harmless, the
 * applier's external versions keep the newest.
 */
import type { ElasticsearchAdapter, EngineInfo } from '../../shared/adapters/elasticsearch.js';
import { errorMessage, isRetriable, KccrError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { BootstrapCheckpoints, BootstrapStatus, ReplicationSpec } from '../../shared/replication.js';
import { bootstrapStatusKey } from '../../shared/replication.js';
import { abortableSleep, backoffDelay, TRANSIENT_BACKOFF } from '../../shared/retry.js';
import type { CompactedTable } from '../../shared/table.js';
import type { ClusterRegistry } from '../clusters/clusters.js';
import type { ReplicationStore } from './store.js';

/** The leader index's UUID and every shard's global checkpoint and history, read together. */
export async function readCheckpoints(es: ElasticsearchAdapter, index: string, snapshot?: BootstrapCheckpoints['snapshot']): Promise<BootstrapCheckpoints> {
  const meta = await es.indexMeta(index);
  const stats = await es.shardStats(index);
  return {
    indexUuid: meta.uuid,
    shards: stats.map((s) => ({ shard: s.shard, historyUuid: s.historyUuid, globalCheckpoint: s.globalCheckpoint })),
    ...(snapshot ? { snapshot } : {}),
    readAt: Date.now(),
  };
}

/** A snapshot name of Elasticsearch's alphabet: lower case, no spaces or commas. */
export function snapshotName(followerCluster: string, followerIndex: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `kccr-${followerCluster}-${followerIndex}-${stamp}`.toLowerCase().replace(/[^a-z0-9._-]/g, '_');
}

export async function requireRepository(es: ElasticsearchAdapter, repository: string, role: string): Promise<void> {
  const r = await es.request('GET', `/_snapshot/${encodeURIComponent(repository)}`, { ignore: [404] });
  if (r.status === 404) {
    throw new KccrError(
      'BAD_REQUEST',
      `bootstrap "snapshot" needs a snapshot repository named ${repository} on the ${role} cluster, on storage both clusters reach (for example an fs repository on a shared path, or one bucket); register it there or choose bootstrap "scan"`,
      { repository },
    );
  }
}

/** A version's numbers ("8.19.21" -> [8, 19, 21]), undefined when it has none (a cluster that did not say). */
function versionParts(v: string): number[] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/**
 * Why a snapshot of the leader cannot be restored on the follower, or undefined when it may be. A restore needs the
 * same vendor (OpenSearch cannot read an Elasticsearch repository, and Elasticsearch refuses OpenSearch's snapshots,
 * both with a 500 that would be retried forever: docs/design/compatibility.md) and a follower of the leader's
 * version or newer. A version a cluster did not report (the Elasticsearch integ-test zip has no `GET /`) is not
 * held against it. Pure.
 */
export function snapshotRefusal(leader: EngineInfo, follower: EngineInfo): string | undefined {
  if (leader.kind !== follower.kind) {
    return `bootstrap "snapshot" cannot work from ${leader.kind} to ${follower.kind}: a snapshot is restored only by the same engine; choose bootstrap "scan"`;
  }
  const [l, f] = [versionParts(leader.version), versionParts(follower.version)];
  if (l && f && (f[0]! - l[0]! || f[1]! - l[1]! || f[2]! - l[2]!) < 0) {
    return `bootstrap "snapshot" cannot work from ${leader.kind} ${leader.version} to the older ${follower.version}: a snapshot is restored only by the same version or a newer one; choose bootstrap "scan"`;
  }
  return undefined;
}

interface SnapshotProgress {
  readonly state: string;
  readonly done: number;
  readonly total: number;
}

async function snapshotProgress(es: ElasticsearchAdapter, repository: string, name: string): Promise<SnapshotProgress> {
  const r = await es.request<{
    snapshots: { state: string; stats: { total: { size_in_bytes: number }; processed?: { size_in_bytes: number }; incremental?: { size_in_bytes: number } } }[];
  }>('GET', `/_snapshot/${encodeURIComponent(repository)}/${encodeURIComponent(name)}/_status`);
  const s = r.body.snapshots[0];
  if (!s) throw new KccrError('ES_NOT_FOUND', `snapshot ${name} not found in ${repository}`);
  return { state: s.state, done: s.stats.processed?.size_in_bytes ?? 0, total: s.stats.total.size_in_bytes };
}

async function restoreProgress(es: ElasticsearchAdapter, index: string): Promise<SnapshotProgress> {
  const r = await es.request<Record<string, { shards: { stage: string; index: { size: { recovered_in_bytes: number; total_in_bytes: number } } }[] }>>(
    'GET',
    `/${encodeURIComponent(index)}/_recovery`,
    { ignore: [404] },
  );
  const shards = Object.values(r.body ?? {})[0]?.shards ?? [];
  return {
    state: shards.length > 0 && shards.every((s) => s.stage === 'DONE') ? 'DONE' : 'RUNNING',
    done: shards.reduce((n, s) => n + s.index.size.recovered_in_bytes, 0),
    total: shards.reduce((n, s) => n + s.index.size.total_in_bytes, 0),
  };
}

export interface SnapshotBootstrapDeps {
  readonly clusters: ClusterRegistry;
  readonly store: ReplicationStore;
  readonly status: CompactedTable<BootstrapStatus>;
  readonly repository: string;
  /** index.gc_deletes given to the restored follower index, as the applier gives it to the indices it creates. */
  readonly gcDeletes: string;
  readonly logger?: Logger;
  /** Ceiling of the progress polling, which starts at 100 ms and grows by half each time (small indices finish in well under a second). */
  readonly pollMs?: number;
}

/** How long the follower may take to see a new snapshot in the shared repository. */
const SNAPSHOT_VISIBLE_MS = 60_000;
/** How Elasticsearch says a repository does not (yet) hold a snapshot. */
const SNAPSHOT_UNSEEN = /snapshot does not exist|snapshot_missing/;

/**
 * The snapshot restore's rename_replacement for a follower index name: Elasticsearch reads it as a Java regex
 * replacement, where `$` names a group (and `\\` escapes); a `$` in an index name must arrive as itself.
 */
export function renameReplacement(index: string): string {
  return index.replace(/[\\$]/g, (c) => `\\${c}`);
}

export class SnapshotBootstrapper {
  private readonly running = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(private readonly deps: SnapshotBootstrapDeps) {}

  get repository(): string {
    return this.deps.repository;
  }

  /** Starts the bootstrap of a spec in state `bootstrapping`; progress goes to the status table. */
  start(spec: ReplicationSpec): void {
    const key = bootstrapStatusKey(spec.followerCluster, spec.followerIndex);
    if (this.running.has(key)) return;
    const run = this.run(spec).finally(() => this.running.delete(key));
    this.running.set(key, run);
  }

  /** Resumes bootstraps that were under way when the control service stopped (their specs are still bootstrapping). */
  resume(specs: readonly ReplicationSpec[]): void {
    for (const spec of specs) if (spec.state === 'bootstrapping' && spec.bootstrap === 'snapshot') this.start(spec);
  }

  /** No retry starts after this (a bootstrap under way goes on when the control service starts again). */
  stop(): void {
    this.stopping = true;
  }

  async waitAll(): Promise<void> {
    await Promise.all(this.running.values());
  }

  private async run(spec: ReplicationSpec, attempt = 1): Promise<void> {
    const { clusters, store, status, repository, logger } = this.deps;
    const snapshot = spec.bootstrapCheckpoints?.snapshot?.name ?? snapshotName(spec.followerCluster, spec.followerIndex, new Date(spec.createdAt));
    const startedAt = Date.now();
    const report = (phase: BootstrapStatus['phase'], p: { done: number; total: number }, extra: Partial<BootstrapStatus> = {}) =>
      status.put(bootstrapStatusKey(spec.followerCluster, spec.followerIndex), {
        kind: 'bootstrap',
        followerCluster: spec.followerCluster,
        followerIndex: spec.followerIndex,
        mode: 'snapshot',
        phase,
        snapshot,
        bytesDone: p.done,
        bytesTotal: p.total,
        startedAt,
        updatedAt: Date.now(),
        ...extra,
      });
    try {
      await clusters.withClient(spec.leaderCluster, async (leader) => {
        const existing = await leader.request('GET', `/_snapshot/${encodeURIComponent(repository)}/${encodeURIComponent(snapshot)}`, { ignore: [404] });
        if (existing.status === 404) {
          await leader.request('PUT', `/_snapshot/${encodeURIComponent(repository)}/${encodeURIComponent(snapshot)}`, {
            body: {
              indices: spec.leaderIndex,
              include_global_state: false,
              metadata: { kccr: { follower_cluster: spec.followerCluster, follower_index: spec.followerIndex } },
            },
          });
        }
        for (let wait = 100; ; wait = Math.min(this.deps.pollMs ?? 1000, wait * 1.5)) {
          const p = await snapshotProgress(leader, repository, snapshot);
          await report('snapshot', p);
          if (p.state === 'SUCCESS') return;
          if (p.state === 'FAILED' || p.state === 'PARTIAL' || p.state === 'ABORTED')
            throw new KccrError('ES_REJECTED', `snapshot ${snapshot} of ${spec.leaderIndex} ended ${p.state}`);
          await abortableSleep(wait);
        }
      });
      if (store.get(spec.followerCluster, spec.followerIndex)?.state !== 'bootstrapping') return; // stopped meanwhile
      await clusters.withClient(spec.followerCluster, async (follower) => {
        // The follower may see a new snapshot in the shared repository a little later than the leader wrote it
        // (its view of the repository is read again when it changes; object stores list with delay).
        const deadline = Date.now() + SNAPSHOT_VISIBLE_MS;
        for (let wait = 100; !(await follower.indexExists(spec.followerIndex)); wait = Math.min(2000, wait * 1.5)) {
          try {
            await follower.request('POST', `/_snapshot/${encodeURIComponent(repository)}/${encodeURIComponent(snapshot)}/_restore`, {
              body: {
                indices: spec.leaderIndex,
                include_global_state: false,
                include_aliases: false,
                rename_pattern: '(.+)',
                rename_replacement: renameReplacement(spec.followerIndex),
                index_settings: { 'index.gc_deletes': this.deps.gcDeletes, ...(spec.followerSettings ?? {}) },
              },
            });
            break;
          } catch (e) {
            const unseen = SNAPSHOT_UNSEEN.test(errorMessage(e));
            if (!unseen || Date.now() > deadline) {
              throw unseen
                ? new KccrError(
                    'ES_NOT_FOUND',
                    `the follower cluster does not see snapshot ${snapshot} in repository ${repository} ${SNAPSHOT_VISIBLE_MS / 1000} s after the leader wrote it: both clusters must reach the same storage under that repository name`,
                    { repository, snapshot },
                  )
                : e;
            }
            await abortableSleep(wait);
          }
        }
        for (let wait = 100; ; wait = Math.min(this.deps.pollMs ?? 1000, wait * 1.5)) {
          const p = await restoreProgress(follower, spec.followerIndex);
          await report('restore', p);
          if (p.state === 'DONE') return;
          await abortableSleep(wait);
        }
      });
      const now = store.get(spec.followerCluster, spec.followerIndex);
      if (now?.state === 'bootstrapping' && now.createdAt === spec.createdAt) {
        await store.setState(spec.followerCluster, spec.followerIndex, 'active', 'kccr bootstrap');
      }
      // The snapshot has served its purpose; left behind, every bootstrap would keep a copy of its index.
      await clusters
        .withClient(spec.leaderCluster, (leader) =>
          leader.request('DELETE', `/_snapshot/${encodeURIComponent(repository)}/${encodeURIComponent(snapshot)}`, { ignore: [404] }),
        )
        .catch((e: unknown) =>
          logger?.warn({ followerIndex: spec.followerIndex, snapshot, err: errorMessage(e) }, 'could not delete the bootstrap snapshot; delete it by hand'),
        );
      const total = (await clusters.withClient(spec.followerCluster, (f) => restoreProgress(f, spec.followerIndex))).total;
      await report('done', { done: total, total }, { finishedAt: Date.now() });
      logger?.info({ followerIndex: spec.followerIndex, snapshot, ms: Date.now() - startedAt }, 'snapshot bootstrap done');
    } catch (e) {
      // A cluster or Kafka down or refusing for now: the bootstrap is tried again from where it is (an existing
      // snapshot is not taken again, a restore under way is not started again), forever, while it is wanted.
      if (isRetriable(e) && !this.stopping && store.get(spec.followerCluster, spec.followerIndex)?.state === 'bootstrapping') {
        const delay = backoffDelay(attempt, TRANSIENT_BACKOFF.initialMs, TRANSIENT_BACKOFF.maxMs);
        logger?.warn({ followerIndex: spec.followerIndex, err: errorMessage(e), attempt, retryInMs: delay }, 'snapshot bootstrap interrupted; trying again');
        await report('snapshot', { done: 0, total: 0 }, { reason: `retrying (attempt ${attempt}): ${errorMessage(e)}` }).catch(() => undefined);
        await abortableSleep(delay);
        return this.run(spec, attempt + 1);
      }
      const reason = `snapshot bootstrap failed: ${errorMessage(e)}`;
      logger?.error({ followerIndex: spec.followerIndex, err: reason }, 'snapshot bootstrap failed');
      await report('failed', { done: 0, total: 0 }, { reason, finishedAt: Date.now() }).catch(() => undefined);
      await store.markFailed(spec.followerCluster, spec.followerIndex, reason).catch(() => undefined);
    }
  }
}
