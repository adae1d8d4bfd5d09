/**
 * Moving a follower's position in its topic through the real control app, with real extractor and applier processes:
 * replay from the start into a follower index emptied by hand, skip to the end, replay from a time, and a request
 * applied once only across a restart of the applier.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerIndexName } from '../../services/applier/ledger.js';
import type { LedgerMappings } from '../../services/applier/ledger.js';
import type { ApplierStatus } from '../../services/shared/replication.js';
import { runCli } from '../../services/cli/main.js';
import { verifyIndex } from '../../services/verifier/verify.js';
import { ADMIN, closeControlledHarness, startControlledHarness } from '../support/control.js';
import type { Control } from '../support/control.js';
import { applierStatus, bulkLines, documents, extractorStatus, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { uniqueName, waitFor } from '../support/stack.js';

interface OffsetsView {
  topic: string;
  position?: { request_id: string; to: string; applied_at: string | null; offsets: { partition: number; offset: string }[] };
  partitions: { partition: number; committed: string | null; low: string; high: string; behind: number | null }[];
}

describe('offsets: replay and skip (plain stack, real extractor and applier)', () => {
  let h: Harness;
  let control: Control;
  let url: string;

  beforeAll(async () => {
    ({ h, control, url } = await startControlledHarness('offsets', { listen: true }));
  });
  afterAll(async () => {
    await closeControlledHarness(h, control);
  });

  async function replicate(docs: Record<string, unknown>, shards = 1): Promise<{ leader: string; follower: string }> {
    const leader = uniqueName('off-leader');
    const follower = uniqueName('off-follower');
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: shards, number_of_replicas: 0 } } });
    const entries = Object.entries(docs);
    if (entries.length)
      await h.leader.bulk(
        bulkLines(
          leader,
          entries.map(([id, source]) => ({ id, source })),
        ),
        { refresh: 'true' },
      );
    const r = await control.call('PUT', `/_plugins/_replication/${follower}/_start`, { leader_alias: h.names.leaderCluster, leader_index: leader });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await waitForDocuments(h.follower, follower, docs);
    return { leader, follower };
  }

  async function identical(leader: string, follower: string): Promise<void> {
    await waitFor(
      `${follower} to be identical to ${leader}`,
      async () => {
        const r = await verifyIndex(h.leader, h.follower, { leaderIndex: leader, followerIndex: follower });
        return r.identical || (false as const);
      },
      90_000,
      1000,
    );
  }

  async function moveTo(follower: string, to: unknown, prefix = '/_plugins/_replication'): Promise<string> {
    const r = await control.call('POST', `${prefix}/${follower}/_offsets`, { to });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ acknowledged: true });
    // The control service's own store wrote the request and has seen it; other readers of the table follow later.
    const requestId = control.state.deps.replications.store.get(h.names.followerCluster, follower)?.position?.requestId;
    expect(requestId).toBeDefined();
    return requestId!;
  }

  async function applied(follower: string, requestId: string): Promise<ApplierStatus> {
    return waitFor(`the applier to apply position request ${requestId}`, async () => {
      const s = applierStatus(h, follower);
      return s?.position?.requestId === requestId ? s : undefined;
    });
  }

  it('earliest: a follower index deleted and recreated empty by hand becomes identical again', async () => {
    const docs = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`d${i}`, { n: i, text: `document ${i}` }]));
    const { leader, follower } = await replicate(docs, 2);
    // Updates and a delete, so that the replay carries more than creations.
    await h.leader.bulk(
      bulkLines(leader, [
        { id: 'd1', source: { n: 1, text: 'updated' } },
        { id: 'd2', delete: true },
      ]),
      { refresh: 'true' },
    );
    await identical(leader, follower);

    await h.follower.deleteIndex(follower);
    await h.follower.createIndex(follower, { settings: { index: { number_of_shards: 2, number_of_replicas: 0 } } });
    expect(await documents(h.follower, follower)).toEqual({});

    // Refusals first: a time in the future, a malformed target, an unknown follower index.
    const future = await control.call('POST', `/_plugins/_replication/${follower}/_offsets`, { to: new Date(Date.now() + 3_600_000).toISOString() });
    expect(future.status).toBe(400);
    expect(JSON.stringify(future.body)).toMatch(/in the future/);
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_offsets`, { to: 'beginning' })).status).toBe(400);
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_offsets`, {})).status).toBe(400);
    expect((await control.call('POST', `/_plugins/_replication/${uniqueName('none')}/_offsets`, { to: 'earliest' })).status).toBe(404);

    const requestId = await moveTo(follower, 'earliest', '/_opendistro/_replication');
    const status = await applied(follower, requestId);
    expect(status.position!.offsets.map((o) => o.offset)).toEqual(['0', '0']);
    await identical(leader, follower);

    const view = await control.call<OffsetsView>('GET', `/_plugins/_replication/${follower}/_offsets`);
    expect(view.status).toBe(200);
    expect(view.body.position).toMatchObject({ request_id: requestId, to: 'earliest', applied_at: expect.any(String) });
    expect(view.body.partitions).toHaveLength(2);
    expect(view.body.partitions.every((p) => p.committed !== null)).toBe(true);
  });

  it('latest: what waits in the topic is skipped, later writes arrive', async () => {
    const { leader, follower } = await replicate({ a: { v: 1 }, b: { v: 2 } });
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_pause`, {})).status).toBe(200);
    await waitFor('the applier to confirm the pause', async () => applierStatus(h, follower)?.state === 'paused');
    const cursor = extractorStatus(h, leader)?.shards[0]?.cursor ?? -1;
    await h.leader.bulk(
      bulkLines(
        leader,
        Array.from({ length: 5 }, (_, i) => ({ id: `skipped${i}`, source: { v: i } })),
      ),
      { refresh: 'true' },
    );
    await waitFor('the extractor to publish the writes made while paused', async () => (extractorStatus(h, leader)?.shards[0]?.cursor ?? -1) >= cursor + 5);

    // Moved while paused: resume then goes on from the end.
    const requestId = await moveTo(follower, 'latest');
    await applied(follower, requestId);
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_resume`, {})).status).toBe(200);
    await h.leader.request('PUT', `/${leader}/_doc/later`, { body: { v: 99 } });
    await waitForDocuments(h.follower, follower, { a: { v: 1 }, b: { v: 2 }, later: { v: 99 } });
  });

  it('a time: documents written after it are applied again, those written before are not', async () => {
    const { leader, follower } = await replicate({ base: { v: 0 } });
    await h.leader.request('PUT', `/${leader}/_doc/before`, { body: { v: 1 } });
    await waitForDocuments(h.follower, follower, { base: { v: 0 }, before: { v: 1 } });
    // Everything before this instant is on the follower, so its records in the topic are older.
    const at = Date.now();
    await waitFor('the clock to move past the chosen time', async () => Date.now() > at + 5);
    await h.leader.request('PUT', `/${leader}/_doc/after`, { body: { v: 2 } });
    await waitForDocuments(h.follower, follower, { base: { v: 0 }, before: { v: 1 }, after: { v: 2 } });

    // Deleted on the follower by hand. A delete leaves a tombstone with a higher version that keeps replays out for
    // index.gc_deletes (24h on follower indices): this test shortens it so that a replay can bring documents back.
    await h.follower.request('PUT', `/${follower}/_settings`, { body: { index: { gc_deletes: '0s' } } });
    // A probe deleted with them, with an external version: its tombstone goes when theirs do (a refresh prunes the
    // tombstones older than gc_deletes, by a clock that moves in steps: one made in the same step survives it).
    await h.follower.request('PUT', `/${follower}/_doc/probe`, { body: { v: -1 }, query: { version: 1, version_type: 'external' } });
    for (const id of ['before', 'after']) await h.follower.request('DELETE', `/${follower}/_doc/${id}`, { query: { refresh: 'true' } });
    await h.follower.request('DELETE', `/${follower}/_doc/probe`, { query: { version: 2, version_type: 'external', refresh: 'true' } });
    await waitFor('the tombstones to be pruned', async () => {
      await h.follower.refresh(follower);
      const r = await h.follower.request('PUT', `/${follower}/_doc/probe`, { body: { v: -1 }, query: { version: 2, version_type: 'external' }, ignore: [409] });
      return r.status === 201;
    });
    await h.follower.request('DELETE', `/${follower}/_doc/probe`, { query: { refresh: 'true' } });
    expect(Object.keys(await documents(h.follower, follower))).toEqual(['base']);

    const requestId = await moveTo(follower, new Date(at).toISOString());
    await applied(follower, requestId);
    // One shard, one partition, in order: once a write made after the request is there, the replay is done.
    await h.leader.request('PUT', `/${leader}/_doc/marker`, { body: { v: 3 } });
    await waitForDocuments(h.follower, follower, { base: { v: 0 }, after: { v: 2 }, marker: { v: 3 } });
  });

  it('applies a position request once: a restarted applier does not replay it again', async () => {
    const docs = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`r${i}`, { n: i }]));
    const { follower } = await replicate(docs);
    const requestId = await moveTo(follower, 'earliest');
    const first = await applied(follower, requestId);
    // The replay itself: every document is already there with its version, so each write is skipped.
    await waitFor('the replay to be applied', async () => {
      const s = applierStatus(h, follower);
      return s?.position?.requestId === requestId && (s.shards[0]?.skipped ?? 0) >= 20;
    });

    const { code } = await h.applier.stop();
    expect(code).toBe(0);
    const restartedAt = Date.now();
    h.applier.start();
    const after = await waitFor(
      'the restarted applier to report the follower index with a checkpoint',
      async () => {
        const s = applierStatus(h, follower);
        return s && s.updatedAt > restartedAt && s.shards.length > 0 && s.shards[0]!.appliedObservedAt !== null ? s : undefined;
      },
      60_000,
    );
    expect(after.position).toEqual(first.position);
    // Several status rows later, still nothing applied or skipped: no replay happened.
    const later = await waitFor('a few more status rows', async () => {
      const s = applierStatus(h, follower);
      return s && s.updatedAt > after.updatedAt + 2000 ? s : undefined;
    });
    expect(later.position).toEqual(first.position);
    expect(later.shards.reduce((n, s) => n + s.applied + s.skipped, 0)).toBe(0);
    expect(Object.keys(await documents(h.follower, follower))).toHaveLength(20);
  });

  it('kccr offsets: moves the position through the CLI; a bad --to is a usage error (exit 2)', async () => {
    const { leader, follower } = await replicate({ c1: { v: 1 } });
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l), stdin: process.stdin, stderr: process.stderr };
    const env = { KCCR_CONTROL_URL: url, KCCR_CONTROL_USER: ADMIN.name, KCCR_CONTROL_PASSWORD: ADMIN.password };
    expect(await runCli(['offsets', follower, '--to', 'earliest', '--follower-cluster', h.names.followerCluster], env, io), lines.join('\n')).toBe(0);
    expect(lines.join('\n')).toContain(`${follower}: the applier moves to earliest`);
    await applied(follower, control.state.deps.replications.store.get(h.names.followerCluster, follower)!.position!.requestId);
    expect(await runCli(['offsets', follower, '--to', 'tomorrow'], env, io)).toBe(2);
    expect(await runCli(['offsets', follower, '--to', String(Date.now() - 60_000), '--json'], env, io), lines.join('\n')).toBe(0);
    expect(JSON.parse(lines.at(-1)!)).toEqual({ acknowledged: true });
    await identical(leader, follower);
  });

  it('a leader index replicated again into the same follower cluster after a stop reads its topic from the start', async () => {
    const docs = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`r${i}`, { n: i }]));
    const { leader, follower } = await replicate(docs, 2);
    const first = control.state.deps.replications.store.get(h.names.followerCluster, follower)!;
    expect(first.position).toBeUndefined();
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_stop`, {})).status).toBe(200);
    await h.follower.deleteIndex(follower);
    await h.leader.bulk(
      bulkLines(leader, [
        { id: 'r40', source: { n: 40 } },
        { id: 'r3', delete: true },
      ]),
      { refresh: 'true' },
    );
    // The group committed offsets at the end of the topic while following the first index: the second starts earliest.
    const again = uniqueName('off-again');
    const r = await control.call('PUT', `/_plugins/_replication/${again}/_start`, { leader_alias: h.names.leaderCluster, leader_index: leader });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const spec = control.state.deps.replications.store.get(h.names.followerCluster, again)!;
    expect(spec.position?.to).toBe('earliest');
    await applied(again, spec.position!.requestId);
    // The replay runs per partition: until every record of the topic (the 40 first, r40) is read, the follower can
    // look identical for a moment (a partition done, r3 not yet read again), then r3 comes back until reconciliation.
    await waitFor('the replay to read the whole topic', async () => {
      const st = applierStatus(h, again);
      return st && st.shards.reduce((n, x) => n + x.applied + x.skipped, 0) >= 41 ? st : undefined;
    });
    await identical(leader, again);
    expect(Object.keys(await documents(h.follower, again))).toHaveLength(40);
  });

  it('a stopped follower index started again goes on where it stopped, without reading the topic again', async () => {
    const docs = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`s${i}`, { n: i }]));
    const { leader, follower } = await replicate(docs, 2);
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_stop`, {})).status).toBe(200);
    await h.leader.bulk(
      bulkLines(leader, [
        { id: 's40', source: { n: 40 } },
        { id: 's1', source: { n: -1 } },
      ]),
      { refresh: 'true' },
    );
    const r = await control.call('PUT', `/_plugins/_replication/${follower}/_start`, { leader_alias: h.names.leaderCluster, leader_index: leader });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(control.state.deps.replications.store.get(h.names.followerCluster, follower)!.position).toBeUndefined();
    await identical(leader, follower);
    // Only the two changes made while it was stopped were read and written again.
    const s = await waitFor('the applier status of the restarted replication', async () => {
      const st = applierStatus(h, follower);
      return st && st.shards.reduce((n, x) => n + x.applied, 0) >= 2 ? st : undefined;
    });
    expect(s.shards.reduce((n, x) => n + x.applied + x.skipped, 0)).toBeLessThan(10);
  });

  it('a replication stopped while the applier is down loses its ledger when the applier is back; started again, it gets one built from its documents, and deletes still reach it', async () => {
    const docs = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`l${i}`, { n: i }]));
    const { leader, follower } = await replicate(docs);
    const ledger = ledgerIndexName(follower);
    expect(await h.follower.indexExists(ledger)).toBe(true);
    expect((await h.applier.stop()).code).toBe(0);
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_stop`, {})).status).toBe(200);
    h.applier.start();
    await waitFor("the restarted applier to drop the stopped replication's ledger", async () => !(await h.follower.indexExists(ledger)), 60_000);
    expect(await h.follower.indexExists(follower)).toBe(true);

    // Deleted on the leader while stopped: only reconciliation can find it, through the new ledger.
    await h.leader.bulk(
      bulkLines(leader, [
        { id: 'l1', delete: true },
        { id: 'l30', source: { n: 30 } },
      ]),
      { refresh: 'true' },
    );
    const r = await control.call('PUT', `/_plugins/_replication/${follower}/_start`, { leader_alias: h.names.leaderCluster, leader_index: leader });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const again = control.state.deps.replications.store.get(h.names.followerCluster, follower)!;
    await identical(leader, follower);
    expect(Object.keys(await documents(h.follower, follower))).toHaveLength(30);
    const meta = (await h.follower.request<LedgerMappings>('GET', `/${ledger}/_mapping`)).body[ledger]?.mappings?._meta;
    expect(meta).toMatchObject({ complete: true, follower, replication: again.createdAt });
  });

  it('refuses to move a stopped replication (409)', async () => {
    const { follower } = await replicate({ s: { v: 1 } });
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_stop`, {})).status).toBe(200);
    const r = await control.call('POST', `/_plugins/_replication/${follower}/_offsets`, { to: 'earliest' });
    expect(r.status).toBe(409);
    expect(JSON.stringify(r.body)).toMatch(/was stopped/);
  });
});
