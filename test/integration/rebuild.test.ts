/**
 * Rebuild through the real control app, with real extractor and applier processes: a fresh follower index built from
 * the topic, identical to the leader, following on, with the alias moved to it once caught up; the old index kept
 * as it was and no longer written. Also the refusals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerIndexName } from '../../services/applier/ledger.js';
import { runCli } from '../../services/cli/main.js';
import { verifyIndex } from '../../services/verifier/verify.js';
import { ADMIN, closeControlledHarness, startControlledHarness } from '../support/control.js';
import type { Control } from '../support/control.js';
import { applierStatus, bulkLines } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { uniqueName, waitFor } from '../support/stack.js';

/** Documents in the timed rebuild (KCCR_REBUILD_DOCS to measure another size). */
const N = Number(process.env.KCCR_REBUILD_DOCS ?? 5000);

interface RebuildBody {
  from: string;
  alias: string;
  offsets_done: number;
  offsets_total: number | null;
  percent: number | null;
  caught_up_at: string | null;
  alias_moved_at: string | null;
  waiting_for?: string;
}

describe('rebuild (plain stack, real extractor and applier)', () => {
  let h: Harness;
  let control: Control;
  let url: string;

  beforeAll(async () => {
    ({ h, control, url } = await startControlledHarness('rebuild', { listen: true }));
  });
  afterAll(async () => {
    await closeControlledHarness(h, control);
  });

  async function identical(leader: string, follower: string, timeoutMs = 120_000): Promise<void> {
    await waitFor(
      `${follower} to be identical to ${leader}`,
      async () => {
        const r = await verifyIndex(h.leader, h.follower, { leaderIndex: leader, followerIndex: follower });
        return r.identical || (false as const);
      },
      timeoutMs,
      1000,
    );
  }

  async function replicate(shards: number): Promise<{ leader: string; follower: string }> {
    const leader = uniqueName('rb-leader');
    const follower = uniqueName('rb-follower');
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: shards, number_of_replicas: 0 } } });
    const r = await control.call('PUT', `/_plugins/_replication/${follower}/_start`, { leader_alias: h.names.leaderCluster, leader_index: leader });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return { leader, follower };
  }

  async function aliasTargets(alias: string): Promise<string[]> {
    const r = await h.follower.request<Record<string, unknown>>('GET', `/_alias/${alias}`, { ignore: [404] });
    return r.status === 404 ? [] : Object.keys(r.body).sort();
  }

  it(`rebuilds ${N} documents into a new index, moves the alias once caught up, and follows on`, async () => {
    const { leader, follower } = await replicate(2);
    const docs = Array.from({ length: N }, (_, i) => ({
      id: `doc-${i}`,
      routing: i % 7 === 0 ? `r${i % 3}` : undefined,
      source: { n: i, text: `document number ${i}`, tags: ['a', 'b'] },
    }));
    for (let i = 0; i < docs.length; i += 1000) await h.leader.bulk(bulkLines(leader, docs.slice(i, i + 1000)));
    // Updates and deletes too: the topic holds the latest of each document, deletes included.
    await h.leader.bulk(
      bulkLines(leader, [
        { id: 'doc-1', source: { n: 1, text: 'updated' } },
        { id: 'doc-2', delete: true },
        { id: 'doc-3', delete: true },
      ]),
      { refresh: 'true' },
    );
    await identical(leader, follower);

    // No alias on the old index and none given: 400 asking for it.
    const noAlias = await control.call('POST', `/_plugins/_replication/${follower}/_rebuild`, {});
    expect(noAlias.status).toBe(400);
    expect(JSON.stringify(noAlias.body)).toMatch(/has no alias: give \\"alias\\"/);

    const alias = uniqueName('rb-alias');
    await h.follower.request('POST', '/_aliases', { body: { actions: [{ add: { index: follower, alias } }] } });
    // The verifier reads documents in real time; a count reads what a refresh made visible.
    await h.follower.refresh(follower);
    const oldCount = (await h.follower.request<{ count: number }>('GET', `/${follower}/_count`)).body.count;
    expect(oldCount).toBe(N - 2);

    const t0 = Date.now();
    const started = await control.call<{ acknowledged: boolean; new_index: string; alias: string; old_index: string }>(
      'POST',
      `/_opendistro/_replication/${follower}/_rebuild`,
      {},
    );
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    expect(started.body).toMatchObject({
      acknowledged: true,
      alias,
      old_index: follower,
      new_index: expect.stringMatching(new RegExp(`^${follower}-rebuilt-\\d{14}$`)),
    });
    const rebuilt = started.body.new_index;

    // The replication moved: the old one is stopped (and says into what), the new one bootstraps from the topic.
    const store = control.state.deps.replications.store;
    expect(store.get(h.names.followerCluster, follower)).toMatchObject({ state: 'stopped', rebuiltInto: rebuilt });
    const oldStatus = await control.call<{ status: string; reason?: string }>('GET', `/_plugins/_replication/${follower}/_status`);
    expect(oldStatus.body).toMatchObject({ status: 'STOPPED', reason: expect.stringContaining(`rebuilt into ${rebuilt}`) });
    expect(store.get(h.names.followerCluster, rebuilt)).toMatchObject({ state: 'active', position: { to: 'earliest' }, rebuild: { from: follower, alias } });
    const during = await control.call<{ status: string; reason?: string }>('GET', `/_plugins/_replication/${rebuilt}/_status`);
    expect(during.body).toMatchObject({ status: 'BOOTSTRAPPING', reason: expect.stringMatching(/^rebuilding from /) });
    // A second rebuild of either is refused while this one runs.
    expect((await control.call('POST', `/_plugins/_replication/${rebuilt}/_rebuild`, { alias })).status).toBe(409);
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_rebuild`, { alias })).status).toBe(409);

    // Leader writes during the rebuild are part of what it catches up with.
    await h.leader.bulk(
      bulkLines(leader, [
        { id: 'during-1', source: { n: -1, text: 'written during the rebuild' } },
        { id: 'doc-4', delete: true },
      ]),
    );

    let sawProgress = false;
    const done = await waitFor(
      'the alias to move to the rebuilt index',
      async () => {
        const r = await control.call<RebuildBody>('GET', `/_plugins/_replication/${rebuilt}/_rebuild`);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        if (r.body.offsets_total !== null && r.body.alias_moved_at === null) sawProgress = true;
        return r.body.alias_moved_at !== null ? r.body : undefined;
      },
      300_000,
      250,
    );
    const tookMs = Date.parse(done.alias_moved_at!) - t0;
    const takenUpMs = (applierStatus(h, rebuilt)?.position?.appliedAt ?? NaN) - t0;
    console.log(
      `rebuild of ${N} documents (2 shards): offsets set ${takenUpMs} ms, caught up ${Date.parse(done.caught_up_at!) - t0} ms, alias moved ${tookMs} ms after the request`,
    );
    expect(done.percent).toBe(100);
    expect(sawProgress || done.offsets_total !== null).toBe(true);
    // Caught up when the alias moved: everything the leader held when the rebuild started is there already (only
    // the writes made during the rebuild may still be on their way through the extractor).
    const early: string[] = [];
    await verifyIndex(h.leader, h.follower, { leaderIndex: leader, followerIndex: rebuilt, onDifference: (d) => early.push(d.id) });
    expect(early.filter((id) => id !== 'during-1' && id !== 'doc-4')).toEqual([]);

    await identical(leader, rebuilt);
    expect(await aliasTargets(alias)).toEqual([rebuilt]);
    const after = await control.call<{ status: string; reason?: string }>('GET', `/_plugins/_replication/${rebuilt}/_status`);
    expect(after.body.status).toBe('SYNCING');
    expect(after.body.reason ?? '').not.toMatch(/rebuilding/);

    // Leader writes after the rebuild reach the new index, through the alias too; the old index no longer moves.
    await h.leader.request('PUT', `/${leader}/_doc/after-rebuild`, { body: { n: -2, text: 'after' } });
    await waitFor(
      'the write after the rebuild on the new index',
      async () => (await h.follower.request('GET', `/${alias}/_doc/after-rebuild`, { ignore: [404] })).status === 200,
    );
    await identical(leader, rebuilt);
    expect((await h.follower.request('GET', `/${follower}/_doc/after-rebuild`, { ignore: [404] })).status).toBe(404);
    expect((await h.follower.request('GET', `/${follower}/_doc/during-1`, { ignore: [404] })).status).toBe(404);
    await h.follower.refresh(follower);
    expect((await h.follower.request<{ count: number }>('GET', `/${follower}/_count`)).body.count).toBe(oldCount);
    // The old index is kept (kccr never deletes it) and is an ordinary index now: its ledger is dropped, the new
    // index has its own.
    expect(await h.follower.indexExists(follower)).toBe(true);
    await waitFor("the old index's ledger to be dropped", async () => !(await h.follower.indexExists(ledgerIndexName(follower))));
    expect(await h.follower.indexExists(ledgerIndexName(rebuilt))).toBe(true);
    // A replication, a rebuild and three waits for identical indices: more than the default 120 s on a loaded machine.
  }, 300_000);

  it('takes the alias given, and new_index (through kccr rebuild)', async () => {
    const { leader, follower } = await replicate(1);
    await h.leader.bulk(bulkLines(leader, [{ id: 'x', source: { v: 1 } }]), { refresh: 'true' });
    await identical(leader, follower);
    // Two aliases: it cannot choose, the request names one; the alias's filter is carried over.
    const [keep, move] = [uniqueName('rb-keep'), uniqueName('rb-move')];
    await h.follower.request('POST', '/_aliases', {
      body: { actions: [{ add: { index: follower, alias: keep } }, { add: { index: follower, alias: move, filter: { term: { v: 1 } } } }] },
    });
    const ambiguous = await control.call('POST', `/_plugins/_replication/${follower}/_rebuild`, {});
    expect(ambiguous.status).toBe(400);
    expect(JSON.stringify(ambiguous.body)).toMatch(/has 2 aliases/);
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_rebuild`, { alias: follower })).status).toBe(400);

    const named = uniqueName('rb-named');
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l), stdin: process.stdin, stderr: process.stderr };
    const env = { KCCR_CONTROL_URL: url, KCCR_CONTROL_USER: ADMIN.name, KCCR_CONTROL_PASSWORD: ADMIN.password };
    expect(await runCli(['rebuild', follower, '--alias', move, '--new-index', named, '--json'], env, io), lines.join('\n')).toBe(0);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ acknowledged: true, new_index: named, alias: move, old_index: follower });
    await waitFor('the alias to move', async () => (await aliasTargets(move)).join() === named, 60_000, 250);
    expect(await aliasTargets(keep)).toEqual([follower]);
    const def = await h.follower.request<Record<string, { aliases: Record<string, { filter?: unknown }> }>>('GET', `/${named}/_alias/${move}`);
    expect(def.body[named]!.aliases[move]!.filter).toEqual({ term: { v: 1 } });
    await identical(leader, named);
    // An existing index is not overwritten.
    const clash = await control.call('POST', `/_plugins/_replication/${named}/_rebuild`, { alias: move, new_index: follower });
    expect(clash.status).toBe(409);
  });

  it('refuses a replication bootstrapped from a snapshot (409) and a stopped one (409)', async () => {
    const store = control.state.deps.replications.store;
    const snapshotLeader = uniqueName('rb-snap-leader');
    await h.leader.createIndex(snapshotLeader, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    const snapshotFollower = uniqueName('rb-snap');
    // A spec as a snapshot bootstrap leaves it (the bootstrap itself is not what this test is about), then paused.
    await store.start({
      followerCluster: h.names.followerCluster,
      followerIndex: snapshotFollower,
      leaderCluster: h.names.leaderCluster,
      leaderIndex: snapshotLeader,
      bootstrap: 'snapshot',
      requestedBy: 'test',
    });
    await store.setState(h.names.followerCluster, snapshotFollower, 'paused', 'test');
    const snap = await control.call('POST', `/_plugins/_replication/${snapshotFollower}/_rebuild`, { alias: 'whatever' });
    expect(snap.status).toBe(409);
    expect(JSON.stringify(snap.body)).toMatch(/bootstrapped from a snapshot: its topic does not hold the documents older than the snapshot/);
    await store.setState(h.names.followerCluster, snapshotFollower, 'stopped', 'test');

    const stopped = await control.call('POST', `/_plugins/_replication/${snapshotFollower}/_rebuild`, { alias: 'whatever' });
    expect(stopped.status).toBe(409);
    expect((await control.call('POST', `/_plugins/_replication/${uniqueName('rb-none')}/_rebuild`, { alias: 'a' })).status).toBe(404);
  });
});
