/**
 * Rebuild (POST .../{follower_index}/_rebuild): a fresh follower index built from the topic, from its start, that
 * keeps following; an alias moves from the old index to the new one once the new one has caught up.
 *
 * One consumer group per follower cluster and one follower index per leader index and follower cluster, so a rebuild
 * replaces the replication: the old spec is stopped (its index stays as it is, readable, and is never deleted by
 * kccr) and a new spec for the new index is written with a position request `earliest` and the rebuild's record. The
 * applier creates the new index from the leader's metadata and applies the topic from offset 0. This service then
 * watches: caught up means the applier took up the rebuild's position request, every partition's committed offset
 * reached the topic's end as read at the previous look, and every shard has applied at least the leader checkpoint
 * of when the rebuild started. Then `POST /_aliases` removes the alias from the old index and adds it to the new one
 * in one atomic call.
 *
 * A replication bootstrapped from a snapshot is refused (409): its topic does not hold the documents older than the
 * snapshot.
 */
import { randomUUID } from 'node:crypto';
import type { ElasticsearchAdapter } from '../../shared/adapters/elasticsearch.js';
import type { KafkaAdapter } from '../../shared/adapters/kafka.js';
import { errorMessage, KccrError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { ReplicationSpec } from '../../shared/replication.js';
import { applierGroupId, applierStatusKey, extractorStatusKey, replicationKey } from '../../shared/replication.js';
import { mergedSourceName } from '../../shared/merge.js';
import { changeTopic } from '../../shared/topics.js';
import { rebuildView } from '../status/progress-views.js';
import type { ReplicationService } from '../replication/replications.js';

/** `<index>-rebuilt-<yyyymmddhhmmss>` (UTC). */
export function defaultRebuildIndex(followerIndex: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${followerIndex}-rebuilt-${stamp}`;
}

/** The alias to move: the one given, or the old index's only alias; anything else asks for `alias`. */
export function chooseAlias(given: string | undefined, aliasesOfOld: readonly string[], oldIndex: string): string {
  if (given !== undefined) return given;
  if (aliasesOfOld.length === 1) return aliasesOfOld[0]!;
  const has =
    aliasesOfOld.length === 0
      ? 'has no alias'
      : `has ${aliasesOfOld.length} aliases (${aliasesOfOld.slice(0, 5).join(', ')}${aliasesOfOld.length > 5 ? ', ...' : ''})`;
  throw new KccrError('BAD_REQUEST', `${oldIndex} ${has}: give "alias", the alias to move to the rebuilt index once it has caught up`, {
    index: oldIndex,
    aliases: aliasesOfOld.slice(0, 20),
  });
}

export interface CatchUpInput {
  /** The applier reports the rebuild's position request applied (its committed offsets are the new index's). */
  readonly positionApplied: boolean;
  /** The group's committed offsets for the topic now. */
  readonly committed: readonly { readonly partition: number; readonly offset: string }[];
  /** The topic's end per partition as read at the previous look (undefined at the first look). */
  readonly target: ReadonlyMap<number, bigint> | undefined;
  /** Per shard, the leader checkpoint the applier has applied (its status row). */
  readonly applied: readonly { readonly shard: number; readonly appliedCheckpoint: number }[];
  /** Per shard, the leader's global checkpoint when the rebuild started. */
  readonly leaderCheckpoints: readonly { readonly shard: number; readonly globalCheckpoint: number }[];
}

/**
 * Whether the rebuilt index has caught up, and if not, what it waits for. The end of the topic is read at one look
 * and compared at the next: a topic that gets a record every second (checkpoints) never shows committed == end at
 * the same instant, but everything that was there at the previous look being applied is what caught up means.
 */
export function catchUpDecision(input: CatchUpInput): { caughtUp: boolean; waitingFor?: string } {
  if (!input.positionApplied) return { caughtUp: false, waitingFor: 'the applier to take up the rebuild (set its offsets to the start of the topic)' };
  if (!input.target || input.target.size === 0) return { caughtUp: false, waitingFor: "a first look at the topic's end" };
  for (const [partition, end] of [...input.target].sort(([a], [b]) => a - b)) {
    const c = input.committed.find((x) => x.partition === partition)?.offset;
    const at = c === undefined ? -1n : BigInt(c);
    if (at < end) return { caughtUp: false, waitingFor: `partition ${partition}: offset ${at < 0n ? 'none' : at} of ${end}` };
  }
  for (const l of input.leaderCheckpoints) {
    if (l.globalCheckpoint < 0) continue;
    const a = input.applied.find((s) => s.shard === l.shard)?.appliedCheckpoint ?? -1;
    if (a < l.globalCheckpoint)
      return { caughtUp: false, waitingFor: `shard ${l.shard}: leader checkpoint ${a} applied of ${l.globalCheckpoint} when the rebuild started` };
  }
  return { caughtUp: true };
}

/** The alias's properties on the old index carried over to the new one (filter, routing, write index, hidden). */
export function aliasActions(alias: string, from: string, to: string, definition: Record<string, unknown> | undefined): Record<string, unknown>[] {
  const carried = Object.fromEntries(
    Object.entries(definition ?? {}).filter(([k]) => ['filter', 'index_routing', 'search_routing', 'is_write_index', 'is_hidden'].includes(k)),
  );
  return [...(definition ? [{ remove: { index: from, alias } }] : []), { add: { index: to, alias, ...carried } }];
}

/** Moves `alias` from one index to another in one `POST /_aliases` (adds it when the old index has lost it). */
export async function moveAlias(es: ElasticsearchAdapter, alias: string, from: string, to: string): Promise<void> {
  const r = await es.request<Record<string, { aliases?: Record<string, Record<string, unknown>> }>>(
    'GET',
    `/${encodeURIComponent(from)}/_alias/${encodeURIComponent(alias)}`,
    { ignore: [404] },
  );
  const definition = r.status === 200 ? r.body[from]?.aliases?.[alias] : undefined;
  await es.request('POST', '/_aliases', { body: { actions: aliasActions(alias, from, to, definition) } });
}

export interface RebuildCommand {
  readonly followerCluster: string;
  readonly followerIndex: string;
  readonly alias?: string;
  readonly newIndex?: string;
  readonly requestedBy: string;
}

interface Watch {
  /** The topic's end at the previous look. */
  target?: Map<number, bigint>;
  waitingFor?: string;
  problem?: string;
}

export class RebuildService {
  private queue: Promise<unknown> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private readonly watches = new Map<string, Watch>();

  constructor(
    private readonly replications: ReplicationService,
    private readonly kafka: KafkaAdapter,
    private readonly opts: { readonly logger?: Logger; readonly intervalMs?: number } = {},
  ) {}

  /** One change at a time: two rebuilds of one index cannot both pass the checks. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  start(cmd: RebuildCommand, now = Date.now()): Promise<ReplicationSpec> {
    return this.exclusive(async () => {
      const { store, clusters, board } = this.replications;
      const sources = mergedSources(store.list(), cmd.followerCluster, cmd.followerIndex);
      if (!store.get(cmd.followerCluster, cmd.followerIndex) && sources.length > 0) return this.startMerged(cmd, sources, now);
      const old = this.replications.require(cmd.followerCluster, cmd.followerIndex);
      if (old.merge) {
        throw new KccrError(
          'BAD_REQUEST',
          `${old.followerIndex} is one source of the merged index ${old.merge.into}: rebuild the merged index (POST .../${old.merge.into}/_rebuild), which rebuilds all its sources`,
        );
      }
      if (old.state === 'stopped') {
        throw new KccrError(
          'CONFLICT',
          `replication of ${old.followerIndex} was stopped${old.rebuiltInto ? ` (rebuilt into ${old.rebuiltInto})` : ''}; rebuild a replication that is active or paused`,
          { followerIndex: old.followerIndex },
        );
      }
      if (old.bootstrap === 'snapshot') {
        throw new KccrError(
          'CONFLICT',
          `${old.followerIndex} was bootstrapped from a snapshot: its topic does not hold the documents older than the snapshot, so a rebuild from the topic would miss them. ` +
            'Rebuilding such a replication (restore the bootstrap snapshot, then replay from its recorded offsets) is not supported yet; start a new replication with bootstrap "scan" instead',
          { followerIndex: old.followerIndex, bootstrap: old.bootstrap },
        );
      }
      if (old.state !== 'active' && old.state !== 'paused')
        throw new KccrError('CONFLICT', `replication of ${old.followerIndex} is ${old.state}; rebuild it once it is active`, {
          followerIndex: old.followerIndex,
        });
      if (old.rebuild && old.rebuild.aliasMovedAt === undefined) {
        throw new KccrError(
          'CONFLICT',
          `${old.followerIndex} is itself being rebuilt from ${old.rebuild.from} and has not caught up yet; wait until the alias ${old.rebuild.alias} has moved`,
          { followerIndex: old.followerIndex },
        );
      }
      const newIndex = cmd.newIndex ?? defaultRebuildIndex(old.followerIndex, new Date(now));
      if (Buffer.byteLength(newIndex, 'utf8') > 255)
        throw new KccrError('BAD_REQUEST', `the new index name ${newIndex} is longer than 255 bytes; give a shorter new_index`);
      if (newIndex === old.followerIndex) throw new KccrError('BAD_REQUEST', 'new_index must differ from the follower index being rebuilt');
      const taken = store.get(cmd.followerCluster, newIndex);
      if (taken && taken.state !== 'stopped')
        throw new KccrError('CONFLICT', `${newIndex} on ${cmd.followerCluster} is already a follower index (${taken.state}); choose another new_index`, {
          index: newIndex,
        });
      if (cmd.alias !== undefined && (cmd.alias === newIndex || cmd.alias === old.followerIndex))
        throw new KccrError('BAD_REQUEST', `alias ${cmd.alias} must not be the name of the old or the new index`);

      const alias = await clusters.withClient(cmd.followerCluster, (es) => this.aliasToMove(es, cmd, old.followerIndex, newIndex));

      const extractor = board.table.get(extractorStatusKey(old.leaderCluster, old.leaderIndex));
      const leaderCheckpoints = extractor?.kind === 'extractor' ? extractor.shards.map((s) => ({ shard: s.shard, globalCheckpoint: s.globalCheckpoint })) : [];
      const { rebuild: _r, rebuiltInto: _i, reason: _why, position: _p, ...base } = old;
      const next: ReplicationSpec = {
        ...base,
        followerIndex: newIndex,
        state: 'active',
        requestedBy: cmd.requestedBy,
        createdAt: now,
        updatedAt: now,
        position: { requestId: randomUUID(), to: 'earliest', requestedAt: now, requestedBy: cmd.requestedBy },
        rebuild: { from: old.followerIndex, alias, startedAt: now, leaderCheckpoints },
      };
      await store.replaceForRebuild(old, next);
      this.opts.logger?.info({ followerCluster: cmd.followerCluster, from: old.followerIndex, to: newIndex, alias, by: cmd.requestedBy }, 'rebuild started');
      this.wake();
      return next;
    });
  }

  /**
   * A merged index rebuilt from the topics of all its sources (active or paused) into a new merged index: each source
   * is replaced by one into the new index reading its topic from the start, and the alias moves once every one of
   * them has caught up (look).
   */
  private async startMerged(cmd: RebuildCommand, sources: readonly ReplicationSpec[], now: number): Promise<ReplicationSpec> {
    const { store, clusters, board } = this.replications;
    const into = cmd.followerIndex;
    const busy = sources.find((s) => s.state !== 'active' && s.state !== 'paused');
    if (busy) throw new KccrError('CONFLICT', `source ${busy.followerIndex} of ${into} is ${busy.state}; rebuild the merged index once its sources are active`);
    const rebuilding = sources.find((s) => s.rebuild && s.rebuild.aliasMovedAt === undefined);
    if (rebuilding)
      throw new KccrError(
        'CONFLICT',
        `${into} is itself being rebuilt from ${rebuilding.rebuild!.from} and has not caught up yet; wait until the alias has moved`,
      );
    const newIndex = cmd.newIndex ?? defaultRebuildIndex(into, new Date(now));
    if (Buffer.byteLength(newIndex, 'utf8') > 255)
      throw new KccrError('BAD_REQUEST', `the new index name ${newIndex} is longer than 255 bytes; give a shorter new_index`);
    if (newIndex === into) throw new KccrError('BAD_REQUEST', 'new_index must differ from the follower index being rebuilt');
    if (mergedSources(store.list(), cmd.followerCluster, newIndex).length > 0 || store.get(cmd.followerCluster, newIndex)?.state === 'active')
      throw new KccrError('CONFLICT', `${newIndex} on ${cmd.followerCluster} is already a follower index; choose another new_index`, { index: newIndex });
    if (cmd.alias !== undefined && (cmd.alias === newIndex || cmd.alias === into))
      throw new KccrError('BAD_REQUEST', `alias ${cmd.alias} must not be the name of the old or the new index`);
    const alias = await clusters.withClient(cmd.followerCluster, (es) => this.aliasToMove(es, cmd, into, newIndex));
    let first: ReplicationSpec | undefined;
    for (const old of sources) {
      const extractor = board.table.get(extractorStatusKey(old.leaderCluster, old.leaderIndex));
      const leaderCheckpoints = extractor?.kind === 'extractor' ? extractor.shards.map((s) => ({ shard: s.shard, globalCheckpoint: s.globalCheckpoint })) : [];
      const { rebuild: _r, rebuiltInto: _i, reason: _why, position: _p, ...base } = old;
      const next: ReplicationSpec = {
        ...base,
        followerIndex: mergedSourceName(newIndex, old),
        merge: { ...old.merge!, into: newIndex },
        state: 'active',
        requestedBy: cmd.requestedBy,
        createdAt: now,
        updatedAt: now,
        position: { requestId: randomUUID(), to: 'earliest', requestedAt: now, requestedBy: cmd.requestedBy },
        rebuild: { from: into, alias, startedAt: now, leaderCheckpoints },
      };
      await store.replaceForRebuild(old, next);
      first ??= next;
    }
    this.opts.logger?.info(
      { followerCluster: cmd.followerCluster, from: into, to: newIndex, alias, sources: sources.length, by: cmd.requestedBy },
      'rebuild of a merged index started',
    );
    this.wake();
    return first!;
  }

  /** The alias a rebuild of `oldIndex` moves (given, or its only one), checked; the new index must not exist yet. */
  private async aliasToMove(es: ElasticsearchAdapter, cmd: RebuildCommand, oldIndex: string, newIndex: string): Promise<string> {
    if (await es.indexExists(newIndex)) {
      throw new KccrError('CONFLICT', `index ${newIndex} already exists on follower cluster ${cmd.followerCluster}; choose another new_index or delete it`, {
        cluster: cmd.followerCluster,
        index: newIndex,
      });
    }
    const r = await es.request<Record<string, { aliases?: Record<string, unknown> }>>('GET', `/${encodeURIComponent(oldIndex)}/_alias`, { ignore: [404] });
    const aliases = r.status === 200 ? Object.keys(r.body[oldIndex]?.aliases ?? {}) : [];
    const chosen = chooseAlias(cmd.alias, aliases, oldIndex);
    if (!aliases.includes(chosen)) {
      // An alias by that name may exist elsewhere; an index by that name cannot take it.
      const a = await es.request('GET', `/_alias/${encodeURIComponent(chosen)}`, { ignore: [404] });
      if (a.status === 404 && (await es.indexExists(chosen)))
        throw new KccrError('BAD_REQUEST', `${chosen} is the name of an index on ${cmd.followerCluster}, not an alias; give an alias name`, { alias: chosen });
    }
    return chosen;
  }

  /** Starts watching the rebuilds under way (also those a previous instance of the service left). */
  open(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.wake(), this.opts.intervalMs ?? 1000);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  private wake(): void {
    if (this.ticking || !this.timer) return;
    this.ticking = this.tick()
      .catch((e: unknown) => this.opts.logger?.warn({ err: errorMessage(e) }, 'rebuild watch failed'))
      .finally(() => {
        this.ticking = undefined;
      });
  }

  /** One look at every rebuild under way; moves the alias of those that have caught up. */
  async tick(now = Date.now()): Promise<void> {
    const { store } = this.replications;
    const under = store.list().filter((s) => s.rebuild && s.rebuild.aliasMovedAt === undefined);
    for (const key of this.watches.keys()) if (!under.some((s) => replicationKey(s.followerCluster, s.followerIndex) === key)) this.watches.delete(key);
    for (const spec of under) {
      if (spec.state !== 'active') continue;
      const key = replicationKey(spec.followerCluster, spec.followerIndex);
      const watch = this.watches.get(key) ?? {};
      this.watches.set(key, watch);
      try {
        await this.look(spec, watch, now);
        watch.problem = undefined;
      } catch (e) {
        watch.problem = errorMessage(e);
        this.opts.logger?.warn(
          { followerIndex: spec.followerIndex, err: watch.problem },
          'rebuild: could not look at the progress or move the alias; trying again',
        );
      }
    }
  }

  private async look(spec: ReplicationSpec, watch: Watch, now: number): Promise<void> {
    const rebuild = spec.rebuild!;
    const row = this.replications.board.table.get(applierStatusKey(spec.followerCluster, spec.followerIndex));
    const applier = row?.kind === 'applier' ? row : undefined;
    const positionApplied = applier !== undefined && spec.position !== undefined && applier.position?.requestId === spec.position.requestId;
    const topic = changeTopic(spec.leaderCluster, spec.leaderIndex);
    // Offsets committed before the applier took up the rebuild are the old index's.
    const committed = positionApplied ? await this.kafka.groupOffsets(applierGroupId(spec.followerCluster), topic) : [];
    const decision = catchUpDecision({
      positionApplied,
      committed,
      target: watch.target,
      applied: applier?.shards ?? [],
      leaderCheckpoints: rebuild.leaderCheckpoints,
    });
    if (!decision.caughtUp) {
      watch.waitingFor = decision.waitingFor;
      if (positionApplied) watch.target = new Map((await this.kafka.offsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
      return;
    }
    if (spec.merge) return this.mergedCaughtUp(spec, watch, now);
    await this.exclusive(async () => {
      // Stopped or paused meanwhile: the alias waits (or stays) where it is.
      const current = this.replications.store.get(spec.followerCluster, spec.followerIndex);
      if (current?.state !== 'active' || current.createdAt !== spec.createdAt || current.rebuild?.aliasMovedAt !== undefined) return;
      await this.replications.clusters.withClient(spec.followerCluster, (es) => moveAlias(es, rebuild.alias, rebuild.from, spec.followerIndex));
      await this.replications.store.updateRebuild(spec.followerCluster, spec.followerIndex, { caughtUpAt: now, aliasMovedAt: Date.now() });
      this.opts.logger?.info(
        { followerCluster: spec.followerCluster, from: rebuild.from, to: spec.followerIndex, alias: rebuild.alias, ms: Date.now() - rebuild.startedAt },
        'rebuild caught up; alias moved',
      );
    });
  }

  /**
   * One source of a rebuilt merged index caught up: noted on it; the alias moves once every source of the new merged
   * index (from the same rebuild) has caught up, and is then noted moved on all of them.
   */
  private async mergedCaughtUp(spec: ReplicationSpec, watch: Watch, now: number): Promise<void> {
    const { store } = this.replications;
    const rebuild = spec.rebuild!;
    if (rebuild.caughtUpAt === undefined) await store.updateRebuild(spec.followerCluster, spec.followerIndex, { caughtUpAt: now });
    await this.exclusive(async () => {
      const siblings = mergedSources(store.list(), spec.followerCluster, spec.merge!.into).filter((s) => s.rebuild?.from === rebuild.from);
      const behind = siblings.filter((s) => s.state !== 'active' || s.rebuild?.caughtUpAt === undefined);
      if (behind.length > 0) {
        watch.waitingFor = `the other sources of ${spec.merge!.into} to catch up (${behind.map((s) => s.followerIndex).join(', ')})`;
        return;
      }
      if (siblings.some((s) => s.rebuild?.aliasMovedAt !== undefined)) return;
      await this.replications.clusters.withClient(spec.followerCluster, (es) => moveAlias(es, rebuild.alias, rebuild.from, spec.merge!.into));
      const movedAt = Date.now();
      for (const s of siblings) await store.updateRebuild(s.followerCluster, s.followerIndex, { aliasMovedAt: movedAt });
      this.opts.logger?.info(
        { followerCluster: spec.followerCluster, from: rebuild.from, to: spec.merge!.into, alias: rebuild.alias, ms: movedAt - rebuild.startedAt },
        'rebuild of a merged index caught up; alias moved',
      );
    });
  }

  /** GET .../_rebuild: the rebuild's record and progress, and what the watch waits for. */
  view(followerCluster: string, followerIndex: string) {
    const spec = this.replications.require(followerCluster, followerIndex);
    if (!spec.rebuild) {
      throw new KccrError(
        'NOT_FOUND',
        `${followerIndex} on ${followerCluster} was not made by a rebuild${spec.rebuiltInto ? `; it was rebuilt into ${spec.rebuiltInto}` : ''}`,
        { followerIndex, ...(spec.rebuiltInto ? { rebuiltInto: spec.rebuiltInto } : {}) },
      );
    }
    const row = this.replications.board.table.get(applierStatusKey(followerCluster, followerIndex));
    const v = rebuildView(spec, row?.kind === 'applier' ? row : undefined)!;
    const watch = this.watches.get(replicationKey(followerCluster, followerIndex));
    return {
      follower_cluster: followerCluster,
      follower_index: followerIndex,
      state: spec.state,
      ...v,
      leader_checkpoints: spec.rebuild.leaderCheckpoints.map((c) => ({ shard: c.shard, global_checkpoint: c.globalCheckpoint })),
      ...(v.alias_moved_at === null && watch?.waitingFor ? { waiting_for: watch.waitingFor } : {}),
      ...(v.alias_moved_at === null && watch?.problem ? { problem: watch.problem } : {}),
    };
  }
}

/** The sources of a merged index that are not stopped. */
function mergedSources(specs: readonly ReplicationSpec[], followerCluster: string, into: string): ReplicationSpec[] {
  return specs.filter((s) => s.followerCluster === followerCluster && s.merge?.into === into && s.state !== 'stopped');
}
