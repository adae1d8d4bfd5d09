/**
 * What a fresh demo run must clear in Kafka besides the indices: the demo's leader index is deleted and created
 * again every run, so its new UUID must not meet the extractor cursors of the previous one (the extractor would
 * stop with HISTORY_CHANGED), nor the applier the previous index's records in the topic. The demo's names are
 * its own (cluster names demo-leader and demo-follower), so nothing else is touched.
 */
import type { KafkaAdapter } from '../../services/shared/adapters/kafka.js';
import { applierStatusKey, extractorStatusKey } from '../../services/shared/replication.js';
import { CompactedTable, CONTROL_TOPICS } from '../../services/shared/table.js';
import { changeTopic } from '../../services/shared/topics.js';

export interface DemoNames {
  readonly leaderCluster: string;
  readonly followerCluster: string;
  readonly leaderIndex: string;
  readonly followerIndex: string;
}

/** Deletes the demo's change topic (Kafka drops the applier group's offsets in it) and its rows in the control tables. */
export async function resetDemoTopic(kafka: KafkaAdapter, names: DemoNames, timeoutMs = 30_000): Promise<string[]> {
  const done: string[] = [];
  const topic = changeTopic(names.leaderCluster, names.leaderIndex);
  if ((await kafka.partitionCount(topic)) !== undefined) {
    await kafka.deleteTopics([topic]);
    // Deletion completes in the background; the extractor must create the topic anew, not find the old one.
    const deadline = Date.now() + timeoutMs;
    while ((await kafka.partitionCount(topic)) !== undefined) {
      if (Date.now() > deadline) throw new Error(`topic ${topic} was still there ${timeoutMs / 1000} s after its deletion`);
      await new Promise((r) => setTimeout(r, 250));
    }
    done.push(`topic ${topic}`);
  }
  const cursors = new CompactedTable<unknown>(kafka, CONTROL_TOPICS.cursors);
  const metadata = new CompactedTable<unknown>(kafka, CONTROL_TOPICS.metadata);
  const status = new CompactedTable<unknown>(kafka, CONTROL_TOPICS.status);
  try {
    await Promise.all([cursors.open(), metadata.open(), status.open()]);
    const prefix = `${names.leaderCluster}/${names.leaderIndex}/`;
    const stale = cursors.entries().filter(([key]) => key.startsWith(prefix));
    for (const [key] of stale) await cursors.delete(key);
    if (stale.length) done.push(`${stale.length} extractor cursors`);
    if (metadata.get(topic) !== undefined) {
      await metadata.delete(topic);
      done.push('index metadata');
    }
    for (const key of [extractorStatusKey(names.leaderCluster, names.leaderIndex), applierStatusKey(names.followerCluster, names.followerIndex)]) {
      if (status.get(key) !== undefined) await status.delete(key);
    }
  } finally {
    await Promise.all([cursors.close(), metadata.close(), status.close()]);
  }
  return done;
}
