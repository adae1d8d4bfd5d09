/**
 * Moving the applier's position in a topic (POST .../_offsets, and the start of a rebuild). The control service puts
 * a request with a unique id on the spec; the applier applies each id once: it stops its consumer (Kafka sets a
 * group's offsets only while the group is empty), sets the group's offsets for that topic's partitions, reports the
 * id in the follower index's status row, and consumes again. Only this topic's partitions move; the group's other
 * topics keep their committed offsets. Replays are harmless: writes carry external versions.
 */
import type { KafkaAdapter } from '../shared/adapters/kafka.js';
import type { AppliedPosition, PositionRequest, PositionTarget, ReplicationSpec } from '../shared/replication.js';

export interface PartitionBounds {
  readonly partition: number;
  /** The first offset still in the partition. */
  readonly low: string;
  /** The offset the next record will get. */
  readonly high: string;
}

/**
 * The offset of every partition for a target: its first offset, its end, or (a time) the first record at or after
 * it, kept within the partition's bounds (a time before the oldest record kept is the start; after the newest, the end).
 */
export function targetOffsets(
  to: PositionTarget,
  bounds: readonly PartitionBounds[],
  byTime: readonly { partition: number; offset: string }[] = [],
): { partition: number; offset: string }[] {
  return [...bounds]
    .sort((a, b) => a.partition - b.partition)
    .map((b) => {
      if (to === 'earliest') return { partition: b.partition, offset: b.low };
      if (to === 'latest') return { partition: b.partition, offset: b.high };
      const found = byTime.find((t) => t.partition === b.partition)?.offset;
      const low = BigInt(b.low);
      const high = BigInt(b.high);
      let offset = found === undefined || BigInt(found) < 0n ? high : BigInt(found);
      if (offset < low) offset = low;
      if (offset > high) offset = high;
      return { partition: b.partition, offset: String(offset) };
    });
}

/** The position request of a spec that has not been applied yet, if any. Stopped replications take none. */
export function pendingPosition(spec: ReplicationSpec, applied: AppliedPosition | undefined): PositionRequest | undefined {
  if (spec.state !== 'active' && spec.state !== 'paused') return undefined;
  const p = spec.position;
  if (!p || p.requestId === applied?.requestId) return undefined;
  return p;
}

export function describeTarget(to: PositionTarget): string {
  return typeof to === 'number' ? new Date(to).toISOString() : to;
}

/** Reads where a target lies in the topic now. */
export async function resolveTarget(
  kafka: Pick<KafkaAdapter, 'offsets' | 'offsetsByTimestamp'>,
  topic: string,
  to: PositionTarget,
): Promise<{ partition: number; offset: string }[]> {
  const bounds = await kafka.offsets(topic);
  const byTime = typeof to === 'number' ? await kafka.offsetsByTimestamp(topic, to) : [];
  return targetOffsets(to, bounds, byTime);
}
