/**
 * Rows written into the control tables behind the control API's back (by anything that can write to Kafka): the
 * services check each row with the API's rules when they read it, and refuse what does not pass. Real Kafka, real
 * extractor and applier processes, the real control app.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReplicationSpec } from '../../services/shared/replication.js';
import { replicationKey } from '../../services/shared/replication.js';
import { CONTROL_TOPICS } from '../../services/shared/table.js';
import { closeControlledHarness, startControlledHarness } from '../support/control.js';
import type { Control } from '../support/control.js';
import { bulkLines, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { uniqueName, waitFor } from '../support/stack.js';

describe('rows forged into the control tables (plain stack)', () => {
  let h: Harness;
  let control: Control;
  const leaders: string[] = [];
  const followers: string[] = [];
  /** The forged rows' keys: tombstoned at the end, so that later services on this stack do not read them again. */
  const forged: string[] = [];

  beforeAll(async () => {
    ({ h, control } = await startControlledHarness('forged'));
  });
  afterAll(async () => {
    if (h && forged.length) {
      const producer = h.kafka.producer();
      await producer
        .send(
          CONTROL_TOPICS.replications,
          forged.map((key) => ({ key, value: null, partition: 0 })),
        )
        .finally(() => producer.disconnect());
    }
    await closeControlledHarness(h, control);
    for (const i of leaders) await h?.leader.deleteIndex(i).catch(() => undefined);
    for (const i of followers) await h?.follower.deleteIndex(i).catch(() => undefined);
  });

  it('a replication row the API would refuse is never acted on, and is reported with what is wrong', async () => {
    const leader = uniqueName('forged-leader');
    leaders.push(leader);
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    await h.leader.bulk(bulkLines(leader, [{ id: 'a', source: { v: 1 } }]), { refresh: 'true' });

    const now = Date.now();
    const base = (followerIndex: string): ReplicationSpec => ({
      followerCluster: h.names.followerCluster,
      followerIndex,
      leaderCluster: h.names.leaderCluster,
      leaderIndex: leader,
      state: 'active',
      bootstrap: 'scan',
      requestedBy: 'someone with Kafka access',
      createdAt: now,
      updatedAt: now,
    });
    // A follower with another shard count than its leader (the API refuses number_of_shards), and a row whose key
    // names another follower index than its value does (a row speaking for an index it is not about).
    const shards = uniqueName('forged-shards');
    const elsewhere = uniqueName('forged-key');
    const named = uniqueName('forged-value');
    followers.push(shards, elsewhere, named);
    forged.push(replicationKey(h.names.followerCluster, shards), replicationKey(h.names.followerCluster, elsewhere));
    const producer = h.kafka.producer();
    try {
      await producer.send(CONTROL_TOPICS.replications, [
        {
          key: replicationKey(h.names.followerCluster, shards),
          value: Buffer.from(JSON.stringify({ ...base(shards), followerSettings: { number_of_shards: 3 } })),
          partition: 0,
        },
        { key: replicationKey(h.names.followerCluster, elsewhere), value: Buffer.from(JSON.stringify(base(named))), partition: 0 },
      ]);
    } finally {
      await producer.disconnect();
    }

    // A replication started through the API after them: the applier reads the table in order, so once this one's
    // documents are there, it has read (and refused) the forged rows.
    const canary = uniqueName('forged-canary');
    followers.push(canary);
    const started = await control.call('PUT', `/_plugins/_replication/${canary}/_start`, { leader_alias: h.names.leaderCluster, leader_index: leader });
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    await waitForDocuments(h.follower, canary, { a: { v: 1 } });
    for (const index of [shards, elsewhere, named]) expect(await h.follower.indexExists(index), index).toBe(false);

    // The control service shows what it refused, and says why when asked for one of them.
    const listed = await waitFor('the control service to report the refused rows', async () => {
      const r = await control.call<{ replications: { follower_index: string }[]; refused_rows?: { key: string; reason: string }[] }>(
        'GET',
        `/_kccr/replications?follower_cluster=${h.names.followerCluster}`,
      );
      return (r.body.refused_rows?.length ?? 0) >= 2 ? r.body : undefined;
    });
    expect(listed.replications.map((r) => r.follower_index)).toEqual([canary]);
    const reasons = Object.fromEntries(listed.refused_rows!.map((r) => [r.key, r.reason]));
    expect(reasons[replicationKey(h.names.followerCluster, shards)]).toMatch(/followerSettings .*number_of_shards/);
    expect(reasons[replicationKey(h.names.followerCluster, elsewhere)]).toMatch(/the key must be/);
    const status = await control.call<{ error: { code: string; message: string } }>('GET', `/_plugins/_replication/${shards}/_status`);
    expect(status.status).toBe(404);
    expect(status.body.error.message).toMatch(/refused .*start the replication again/);
  });
});
