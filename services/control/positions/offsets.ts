/**
 * Moving a follower's position in its topic (POST .../_offsets): replay from the start or from a time, or skip to
 * the end. The control service only records the request on the spec (a unique id, the target, who and when); the
 * applier of the follower cluster applies it once, with its consumer stopped, and reports it in its status row
 * (services/applier/positions.ts). Replays are harmless: writes carry the leader's versions.
 */
import { randomUUID } from 'node:crypto';
import { groupLag } from '../../shared/adapters/kafka.js';
import type { KafkaAdapter } from '../../shared/adapters/kafka.js';
import { KccrError } from '../../shared/errors.js';
import type { PositionTarget, ReplicationSpec } from '../../shared/replication.js';
import { applierGroupId, applierStatusKey } from '../../shared/replication.js';
import { changeTopic } from '../../shared/topics.js';
import type { ReplicationService } from '../replication/replications.js';
import { positionView } from '../status/progress-views.js';

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2}))?$/;
const EXPECTED = '"earliest", "latest", an ISO-8601 time with a zone (2025-01-31T12:00:00Z) or a date (2025-01-31, UTC midnight), or epoch milliseconds';

/**
 * Reads the `to` of a position request. A time must lie in the past (on the control service's clock); a time with
 * no zone is refused rather than read in some zone the caller did not mean.
 */
export function parsePositionTarget(value: unknown, now: number): PositionTarget {
  if (value === 'earliest' || value === 'latest') return value;
  let ms: number;
  if (typeof value === 'number' || (typeof value === 'string' && /^\d{1,16}$/.test(value))) {
    ms = Number(value);
    if (!Number.isSafeInteger(ms) || ms < 0)
      throw new KccrError('BAD_REQUEST', `to: epoch milliseconds must be a whole number from 0, received ${JSON.stringify(value)}`);
  } else if (typeof value === 'string') {
    const m = ISO.exec(value);
    if (!m) {
      const hint = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value) ? ' (a time needs its zone: add Z for UTC, or +02:00)' : '';
      throw new KccrError('BAD_REQUEST', `to must be ${EXPECTED}; received ${JSON.stringify(value)}${hint}`);
    }
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const day = new Date(Date.UTC(y, mo - 1, d));
    const [h, mi, s] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
    if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
      throw new KccrError('BAD_REQUEST', `to: ${JSON.stringify(value)} is not a date that exists`);
    }
    ms = Date.parse(m[4] === undefined ? `${m[1]}-${m[2]}-${m[3]}T00:00:00Z` : value.replace(' ', 'T'));
    if (Number.isNaN(ms)) throw new KccrError('BAD_REQUEST', `to must be ${EXPECTED}; received ${JSON.stringify(value)}`);
  } else {
    throw new KccrError('BAD_REQUEST', `to must be ${EXPECTED}; received ${JSON.stringify(value) ?? String(value)}`);
  }
  if (ms > now) {
    throw new KccrError(
      'BAD_REQUEST',
      `to: ${new Date(ms).toISOString()} is in the future (the control service's time is ${new Date(now).toISOString()}); use "latest" to skip to the end`,
    );
  }
  return ms;
}

/** The checks every position change makes: a replication the applier follows, with no rebuild under way. */
export function checkPositionAllowed(spec: ReplicationSpec, what: string): void {
  if (spec.state === 'stopped') {
    throw new KccrError(
      'CONFLICT',
      `replication of ${spec.followerIndex} was stopped; its index is an ordinary index now. Start it again (or rebuild into a new index) instead of ${what}`,
      {
        followerIndex: spec.followerIndex,
      },
    );
  }
  if (spec.state !== 'active' && spec.state !== 'paused') {
    throw new KccrError('CONFLICT', `replication of ${spec.followerIndex} is ${spec.state}; ${what} can wait until it is active`, {
      followerIndex: spec.followerIndex,
      state: spec.state,
    });
  }
  if (spec.rebuild && spec.rebuild.aliasMovedAt === undefined) {
    throw new KccrError(
      'CONFLICT',
      `${spec.followerIndex} is being rebuilt from ${spec.rebuild.from} (the alias ${spec.rebuild.alias} moves once it has caught up); ${what} would leave it incomplete`,
      {
        followerIndex: spec.followerIndex,
      },
    );
  }
}

export class OffsetsService {
  constructor(
    private readonly replications: ReplicationService,
    private readonly kafka: KafkaAdapter,
  ) {}

  /** Records a position request on the spec; the applier applies it (once) shortly after. */
  async request(followerCluster: string, followerIndex: string, to: unknown, requestedBy: string, now = Date.now()): Promise<ReplicationSpec> {
    const target = parsePositionTarget(to, now);
    const spec = this.replications.require(followerCluster, followerIndex);
    checkPositionAllowed(spec, 'moving its position');
    return this.replications.store.requestPosition(followerCluster, followerIndex, { requestId: randomUUID(), to: target, requestedAt: now, requestedBy });
  }

  /** The position request and, per partition, the applier group's committed offset against the topic's bounds. */
  async view(followerCluster: string, followerIndex: string) {
    const spec = this.replications.require(followerCluster, followerIndex);
    const topic = changeTopic(spec.leaderCluster, spec.leaderIndex);
    const group = applierGroupId(followerCluster);
    const applier = this.replications.board.table.get(applierStatusKey(followerCluster, followerIndex));
    const [bounds, committed] =
      (await this.kafka.partitionCount(topic)) === undefined ? [[], []] : await Promise.all([this.kafka.offsets(topic), this.kafka.groupOffsets(group, topic)]);
    const position = positionView(spec, applier?.kind === 'applier' ? applier : undefined);
    return {
      follower_cluster: followerCluster,
      follower_index: followerIndex,
      topic,
      consumer_group: group,
      ...(position ? { position } : {}),
      partitions: groupLag(bounds, committed).map((l, i) => ({
        partition: l.partition,
        committed: l.committed,
        low: bounds[i]!.low,
        high: bounds[i]!.high,
        behind: l.behind,
      })),
    };
  }
}
