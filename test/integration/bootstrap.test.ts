/**
 * Bootstrap modes through the control service, with real extractor and applier processes: `scan` streams the
 * leader's documents through the topic (READ events, progress in _status), `snapshot` restores a snapshot of the
 * leader on the follower and replicates only what came after it, `none` replicates only changes after the start.
 * Each follower must be what the verifier calls identical.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyIndex } from '../../services/verifier/verify.js';
import type { StatusView } from '../../services/control/status/status.js';
import { closeControlledHarness, startControl, startControlledHarness } from '../support/control.js';
import type { Control } from '../support/control.js';
import { applierStatus, bulkLines, documents, extractorStatus, leaderWithDocuments as makeLeader } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { loadStack, uniqueName, waitFor } from '../support/stack.js';

const DOCS = 3000;

describe('bootstrap modes', () => {
  let h: Harness;
  let control: Control;

  beforeAll(async () => {
    ({ h, control } = await startControlledHarness('bootstrap'));
  });
  afterAll(async () => {
    await closeControlledHarness(h, control);
  });

  async function leaderWithDocuments(prefix: string): Promise<string> {
    const index = uniqueName(prefix);
    await makeLeader(h.leader, index, DOCS);
    return index;
  }

  const status = async (follower: string) =>
    (await control.call<StatusView>('GET', `/_plugins/_replication/${follower}/_status?follower_cluster=${h.names.followerCluster}`)).body;

  async function waitIdentical(leaderIndex: string, followerIndex: string): Promise<number> {
    const t0 = Date.now();
    await waitFor(
      `${followerIndex} identical to ${leaderIndex}`,
      async () => {
        const s = await status(followerIndex);
        if (s.status !== 'SYNCING' || s.lag_operations !== 0) return false;
        const r = await verifyIndex(h.leader, h.follower, { leaderIndex, followerIndex });
        return r.identical && r.shards.every((x) => x.leaderCount === x.followerCount);
      },
      120_000,
      1000,
    );
    return Date.now() - t0;
  }

  it('scan: streams every document through the topic and reports its progress', async () => {
    const leader = await leaderWithDocuments('boot-scan');
    const follower = uniqueName('boot-scan-f');
    const r = await control.call('PUT', `/_plugins/_replication/${follower}/_start`, {
      leader_alias: h.names.leaderCluster,
      leader_index: leader,
      bootstrap: 'scan',
    });
    expect(r.status).toBe(200);
    await waitIdentical(leader, follower);
    const s = await status(follower);
    expect(s.bootstrap).toBe('scan');
    expect(s.bootstrap_progress).toMatchObject({ mode: 'scan', phase: 'done', documents: DOCS, documents_total: DOCS, percent: 100, eta_seconds: 0 });
    expect(s.bootstrap_progress!.bytes).toBeGreaterThan(DOCS * 20);
    expect(extractorStatus(h, leader)?.bootstrap?.finishedAt).not.toBeNull();
  });

  it('snapshot: restores the leader on the follower, then replicates only what came after', async () => {
    const leader = await leaderWithDocuments('boot-snap');
    const follower = uniqueName('boot-snap-f');
    const r = await control.call('PUT', `/_plugins/_replication/${follower}/_start`, {
      leader_alias: h.names.leaderCluster,
      leader_index: leader,
      bootstrap: 'snapshot',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    // Changes during the bootstrap: the snapshot may or may not hold them; the topic does.
    await h.leader.bulk(
      bulkLines(leader, [
        { id: 'd1', source: { n: -1, text: 'changed during bootstrap' } },
        { id: 'new-1', source: { n: -2 } },
        { id: 'd2', delete: true },
      ]),
    );
    await waitIdentical(leader, follower);
    const s = await status(follower);
    expect(s.bootstrap).toBe('snapshot');
    expect(s.bootstrap_progress).toMatchObject({ mode: 'snapshot', phase: 'done', percent: 100 });
    expect(s.bootstrap_progress!.bytes_total).toBeGreaterThan(0);
    // The bootstrap's snapshot is deleted once restored: no copy of the index stays in the repository.
    const repository = loadStack('plain').snapshotRepository.name;
    await waitFor(
      'the bootstrap snapshot deleted',
      async () => {
        const snaps = (await h.leader.request<{ snapshots: { indices: string[] }[] }>('GET', `/_snapshot/${repository}/_all`)).body.snapshots;
        return !snaps.some((x) => x.indices.includes(leader));
      },
      30_000,
      500,
    );
    // The extractor did not stream the documents that the snapshot carried.
    const published = extractorStatus(h, leader)!.shards.reduce((n, x) => n + x.published, 0);
    expect(published).toBeLessThan(100);
    expect(extractorStatus(h, leader)!.bootstrap).toBeUndefined();
    // And later changes flow as usual.
    await h.leader.request('PUT', `/${leader}/_doc/after`, { body: { n: 424242, text: 'after' } });
    await waitIdentical(leader, follower);
  });

  it('snapshot of a leader index replicated before (its topic full): reads the topic from its start, writes only what came after the start', async () => {
    const leader = await leaderWithDocuments('boot-again');
    const first = uniqueName('boot-again-scan');
    expect((await control.call('PUT', `/_plugins/_replication/${first}/_start`, { leader_alias: h.names.leaderCluster, leader_index: leader })).status).toBe(
      200,
    );
    await waitIdentical(leader, first);
    expect((await control.call('POST', `/_plugins/_replication/${first}/_stop`, {})).status).toBe(200);
    const second = uniqueName('boot-again-snap');
    expect(
      (
        await control.call('PUT', `/_plugins/_replication/${second}/_start`, {
          leader_alias: h.names.leaderCluster,
          leader_index: leader,
          bootstrap: 'snapshot',
        })
      ).status,
    ).toBe(200);
    const spec = control.state.deps.replications.store.get(h.names.followerCluster, second)!;
    expect(spec.position?.to).toBe('earliest');
    await h.leader.bulk(
      bulkLines(leader, [
        { id: 'd5', source: { n: -5, text: 'changed after the start' } },
        { id: 'd6', delete: true },
      ]),
    );
    await waitIdentical(leader, second);
    // The topic holds every document from the first replication's scan; the snapshot carried them, so the applier
    // wrote only the changes since the start (it reads the earlier records, at or below the start's checkpoints,
    // and leaves them).
    // Partitions are read at their own pace, and status rows come every few hundred milliseconds: wait for a row
    // where every partition went past the earlier records and the change to d5 is counted.
    const shards = await waitFor('the applier to read every earlier record of the topic and write d5', async () => {
      const st = applierStatus(h, second);
      return st && st.shards.reduce((n, x) => n + x.skipped, 0) >= DOCS && st.shards.some((x) => x.applied > 0) ? st.shards : undefined;
    });
    expect(shards.reduce((n, x) => n + x.applied, 0)).toBeLessThan(10);
  });

  it('scan of a leader index first replicated with a snapshot: the extractor publishes the documents its topic lacked', async () => {
    const leader = await leaderWithDocuments('boot-fill');
    const first = uniqueName('boot-fill-snap');
    expect(
      (
        await control.call('PUT', `/_plugins/_replication/${first}/_start`, {
          leader_alias: h.names.leaderCluster,
          leader_index: leader,
          bootstrap: 'snapshot',
        })
      ).status,
    ).toBe(200);
    await waitIdentical(leader, first);
    // The topic holds only what followed the snapshot's checkpoints.
    expect(extractorStatus(h, leader)!.shards.reduce((n, x) => n + x.published, 0)).toBeLessThan(100);
    expect((await control.call('POST', `/_plugins/_replication/${first}/_stop`, {})).status).toBe(200);
    await h.leader.bulk(
      bulkLines(leader, [
        { id: 'd7', source: { n: -7, text: 'changed while stopped' } },
        { id: 'd8', delete: true },
      ]),
      { refresh: 'true' },
    );
    const second = uniqueName('boot-fill-scan');
    expect(
      (await control.call('PUT', `/_plugins/_replication/${second}/_start`, { leader_alias: h.names.leaderCluster, leader_index: leader, bootstrap: 'scan' }))
        .status,
    ).toBe(200);
    await waitIdentical(leader, second);
    expect(Object.keys(await documents(h.follower, second))).toHaveLength(DOCS - 1);
    // The documents below the snapshot's checkpoint were published (status rows come every few hundred ms).
    await waitFor(
      'the extractor to report the documents it published',
      async () => (extractorStatus(h, leader)?.shards.reduce((n, x) => n + x.published, 0) ?? 0) >= DOCS - 1,
    );
  });

  it('none: replicates only changes made after the start', async () => {
    const leader = uniqueName('boot-none');
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    await h.leader.bulk(bulkLines(leader, [{ id: 'old', source: { v: 'before' } }]), { refresh: 'true' });
    const follower = uniqueName('boot-none-f');
    expect(
      (await control.call('PUT', `/_plugins/_replication/${follower}/_start`, { leader_alias: h.names.leaderCluster, leader_index: leader, bootstrap: 'none' }))
        .status,
    ).toBe(200);
    await h.leader.request('PUT', `/${leader}/_doc/new`, { body: { v: 'after' } });
    await waitFor(
      'the new document on the follower',
      async () => JSON.stringify(await documents(h.follower, follower)) === JSON.stringify({ new: { v: 'after' } }),
      60_000,
      500,
    );
  });

  it('refuses a snapshot bootstrap without a shared repository, saying what to do', async () => {
    const other = await startControl(loadStack('plain'), { followerCluster: h.names.followerCluster, snapshotRepository: 'no-such-repository' });
    try {
      const leader = uniqueName('boot-norepo');
      await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
      const r = await other.call<{ error: { code: string; message: string } }>('PUT', `/_plugins/_replication/${uniqueName('boot-norepo-f')}/_start`, {
        leader_alias: h.names.leaderCluster,
        leader_index: leader,
        bootstrap: 'snapshot',
      });
      expect(r.status).toBe(400);
      expect(r.body.error.message).toMatch(/snapshot repository named no-such-repository.*register it there or choose bootstrap "scan"/);
    } finally {
      await other.close();
    }
  });
});
