/**
 * The walkthrough of the original cross-cluster replication announcement, end to end through the real extractor
 * and applier processes, Kafka and the registry: in plain mode, and in secure mode with least-privilege users.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStack, stackEngines, uniqueName, waitFor } from '../support/stack.js';
import type { StackKind } from '../support/stack.js';
import { applierStatus, bulkLines, documents, startHarness, startReplication, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';

const CASES: { kind: StackKind; visibility: 'refresh' | 'scheduled' }[] = [
  { kind: 'plain', visibility: 'refresh' },
  { kind: 'plain', visibility: 'scheduled' },
  { kind: 'secure', visibility: 'refresh' },
];

// Named by the stack's engines too: the cases run on whatever leader and follower engines the stack has.
describe.each(CASES.map((c) => ({ ...c, engines: stackEngines(c.kind) })))(
  'announcement walkthrough ($kind, visibility $visibility, $engines)',
  ({ kind, visibility }) => {
    let h: Harness;
    const leader01 = uniqueName('leader-01');
    const follower01 = uniqueName('follower-01');
    // A second replication through the same services: when its change arrives, a change to the stopped one would have too.
    const leader02 = uniqueName('leader-02');
    const follower02 = uniqueName('follower-02');

    beforeAll(async () => {
      h = await startHarness(loadStack(kind), `walkthrough-${kind}-${visibility}`, { env: { KCCR_EXTRACTOR_VISIBILITY: visibility } });
    });
    afterAll(async () => {
      await h?.close();
    });

    it('replicates creates and updates, then stops and leaves the follower writable', async () => {
      for (const index of [leader01, leader02]) {
        await h.leader.createIndex(index, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
      }
      await h.leader.request('POST', `/${leader01}/_doc/1`, { body: { value: 'data1' } });
      await h.leader.request('POST', `/${leader02}/_doc/a`, { body: { value: 'canary' } });

      await startReplication(h, leader01, follower01);
      await startReplication(h, leader02, follower02);
      await waitForDocuments(h.follower, follower01, { 1: { value: 'data1' } });

      // The follower index was created like the leader's: one shard, the leader's mappings, long-lived tombstones.
      const meta = await h.follower.indexMeta(follower01);
      expect(meta.shards).toBe(1);
      expect(meta.settings.gc_deletes).toBe('24h');
      expect(meta.mappings).toEqual((await h.leader.indexMeta(leader01)).mappings);

      await h.leader.request('POST', `/${leader01}/_doc/1`, { body: { value: 'data1-modified' } });
      await h.leader.request('POST', `/${leader01}/_doc/2`, { body: { value: 'data2' } });
      await waitForDocuments(h.follower, follower01, { 1: { value: 'data1-modified' }, 2: { value: 'data2' } });

      const syncing = await waitFor('applier status of follower-01', async () => {
        const s = applierStatus(h, follower01);
        return s && s.shards[0] && s.shards[0].applied >= 3 ? s : undefined;
      });
      expect(syncing.state).toBe('syncing');
      expect(syncing.shards[0]!.deadLettered).toBe(0);

      await h.store.setState(h.names.followerCluster, follower01, 'stopped', 'test');
      await waitFor('applier to report follower-01 stopped', async () => applierStatus(h, follower01)?.state === 'stopped');

      // Failover: the follower index is an ordinary writable index.
      const written = await h.follower.request('PUT', `/${follower01}/_doc/3`, { body: { value: 'written on the follower' }, query: { refresh: 'true' } });
      expect(written.status).toBe(201);

      // Leader changes no longer reach follower-01, while follower-02 still gets its own.
      await h.leader.bulk(
        bulkLines(leader01, [
          { id: '1', source: { value: 'after-stop' } },
          { id: '4', source: { value: 'data4' } },
        ]),
      );
      await h.leader.request('POST', `/${leader02}/_doc/b`, { body: { value: 'after-stop' } });
      await waitForDocuments(h.follower, follower02, { a: { value: 'canary' }, b: { value: 'after-stop' } });
      expect(await documents(h.follower, follower01)).toEqual({
        1: { value: 'data1-modified' },
        2: { value: 'data2' },
        3: { value: 'written on the follower' },
      });
    });

    it('replicates deletes through reconciliation', async () => {
      const leader = uniqueName('leader-del');
      const follower = uniqueName('follower-del');
      await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 2, number_of_replicas: 0 } } });
      await h.leader.bulk(
        bulkLines(
          leader,
          [1, 2, 3, 4, 5].map((i) => ({ id: String(i), source: { n: i } })),
        ),
        { refresh: 'true' },
      );
      await startReplication(h, leader, follower);
      await waitForDocuments(h.follower, follower, Object.fromEntries([1, 2, 3, 4, 5].map((i) => [String(i), { n: i }])));
      await h.leader.bulk(
        bulkLines(leader, [
          { id: '2', delete: true },
          { id: '4', delete: true },
        ]),
      );
      await waitForDocuments(h.follower, follower, Object.fromEntries([1, 3, 5].map((i) => [String(i), { n: i }])), 60_000);
    });
  },
);
