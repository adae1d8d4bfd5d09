/**
 * The control service against the real plain stack, with real extractor and applier processes that follow what it
 * writes to Kafka: the announcement's calls verbatim (host and port aside), the lifecycle, the refusals, the roles,
 * and a restart of the control service that loses nothing.
 */
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerIndexName } from '../../services/applier/ledger.js';
import type { ReplicationSpec } from '../../services/shared/replication.js';
import { adminHeaders, forgetClusters, readerHeaders, registerPlainClusters, startControl } from '../support/control.js';
import type { Control } from '../support/control.js';
import { bulkLines, documents, extractorStatus, startHarness, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { loadStack, uniqueName, waitFor } from '../support/stack.js';

interface StatusBody {
  status: string;
  reason?: string;
  leader_alias: string;
  leader_index: string;
  follower_index: string;
  requested_by: string;
  lag_seconds: number | null;
  shards: {
    shard: number;
    leader_checkpoint: number | null;
    follower_checkpoint: number | null;
    lag_operations: number | null;
    lag_seconds: number | null;
    applied: number;
    dead_lettered: number;
  }[];
}

describe('control service (plain stack, real extractor and applier)', () => {
  let h: Harness;
  let control: Control;
  const env = { ...process.env, KCCR_SECRET_TEST_REF: 'not-a-real-password' };

  beforeAll(async () => {
    h = await startHarness(loadStack('plain'), 'control');
    control = await startControl(h.stack, { followerCluster: h.names.followerCluster, env });
    await registerPlainClusters(control, h.stack, h.names);
  });
  afterAll(async () => {
    // The harness stops this test's replications first; then this test's clusters leave the registry.
    await h?.close();
    if (control) await forgetClusters(control, h ? [h.names.leaderCluster, h.names.followerCluster] : []);
  });

  /** The announcement's call: PUT /_opendistro/_replication/<follower>/_start?pretty with remote_cluster / remote_index. */
  async function announcementStart(follower: string, leader: string, headers: Record<string, string> = adminHeaders) {
    const r = await control.app.inject({
      method: 'PUT',
      url: `/_opendistro/_replication/${follower}/_start?pretty`,
      headers: { ...headers, 'Content-type': 'application/json' },
      payload: `{"remote_cluster":"${h.names.leaderCluster}", "remote_index": "${leader}"}`,
    });
    return { status: r.statusCode, text: r.body, body: JSON.parse(r.body) as Record<string, unknown> };
  }

  async function status(follower: string, c: Control = control): Promise<StatusBody> {
    const r = await c.call<StatusBody>('GET', `/_plugins/_replication/${follower}/_status`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  }

  async function leaderIndex(docs: Record<string, unknown> = {}, shards = 1): Promise<string> {
    const index = uniqueName('ctl-leader');
    await h.leader.createIndex(index, { settings: { index: { number_of_shards: shards, number_of_replicas: 0 } } });
    const entries = Object.entries(docs);
    if (entries.length)
      await h.leader.bulk(
        bulkLines(
          index,
          entries.map(([id, source]) => ({ id, source })),
        ),
        { refresh: 'true' },
      );
    return index;
  }

  it('registers clusters with credential references and never shows their values', async () => {
    const name = uniqueName('ref');
    const put = await control.call('PUT', `/_kccr/clusters/${name}`, {
      url: h.stack.clusters.leader.url,
      username: 'reader',
      password_env: 'KCCR_SECRET_TEST_REF',
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ acknowledged: true, created: true, cluster: { name, username: 'reader', password_env: 'KCCR_SECRET_TEST_REF' } });
    const got = await control.call('GET', `/_kccr/clusters/${name}`, undefined, readerHeaders);
    expect(got.status).toBe(200);
    expect(JSON.stringify(got.body)).not.toContain('not-a-real-password');
    const list = await control.call<{ clusters: { name: string }[] }>('GET', '/_kccr/clusters');
    expect(list.body.clusters.map((c) => c.name)).toEqual(expect.arrayContaining([name, h.names.leaderCluster, h.names.followerCluster]));

    const unresolvable = await control.call('PUT', `/_kccr/clusters/${name}`, {
      url: h.stack.clusters.leader.url,
      username: 'reader',
      password_env: 'KCCR_SECRET_TEST_NOT_SET',
      ca_file: '/nonexistent/ca.crt',
    });
    expect(unresolvable.status).toBe(400);
    expect(JSON.stringify(unresolvable.body)).toMatch(/KCCR_SECRET_TEST_NOT_SET is not set.*|ca_file/);
    const ownSecret = await control.call('PUT', `/_kccr/clusters/${name}`, { url: h.stack.clusters.leader.url, api_key_env: 'KCCR_KAFKA_SASL_PASSWORD' });
    expect(ownSecret.status).toBe(400);
    expect(JSON.stringify(ownSecret.body)).toMatch(/api_key_env: expected the name of a variable starting with KCCR_SECRET_/);
    // A host file outside the secrets directory, directly or through a link inside it: refused, the same answer as a
    // missing file (nothing tells which files exist), and nothing is sent anywhere.
    const hostFile = join(control.secretsDir, '..', `${name}-host.key`);
    writeFileSync(hostFile, '-----BEGIN PRIVATE KEY-----\n');
    symlinkSync(hostFile, join(control.secretsDir, 'link-out'));
    try {
      for (const path of [hostFile, join(control.secretsDir, 'link-out'), join(control.secretsDir, 'missing')]) {
        const r = await control.call<{ error: { message: string } }>('PUT', `/_kccr/clusters/${name}`, {
          url: h.stack.clusters.leader.url,
          username: 'x',
          password_file: path,
        });
        expect(r.status).toBe(400);
        expect(r.body.error.message).toBe(
          `cluster ${name} is not registered: password_file: ${path} is not a readable file under KCCR_CONTROL_SECRETS_DIR (${control.secretsDir}); put the file there (links that lead out of it are refused)`,
        );
      }
    } finally {
      rmSync(hostFile, { force: true });
    }

    expect((await control.call('DELETE', `/_kccr/clusters/${name}`)).status).toBe(200);
    expect((await control.call('GET', `/_kccr/clusters/${name}`)).status).toBe(404);
  });

  it("runs the announcement's lifecycle: start, status with lag, pause without loss, stop and failover", async () => {
    const leader = await leaderIndex({ 1: { value: 'data1' } });
    const follower = uniqueName('ctl-follower');
    // A second replication through the same services: when its change arrives, a change to a stopped one would have too.
    const canaryLeader = await leaderIndex({ a: { value: 'canary' } });
    const canary = uniqueName('ctl-canary');

    const started = await announcementStart(follower, leader);
    expect(started.status).toBe(200);
    expect(started.body).toEqual({ acknowledged: true });
    expect(started.text).toContain('\n  "acknowledged": true');
    expect(
      (await control.call('PUT', `/_plugins/_replication/${canary}/_start`, { leader_alias: h.names.leaderCluster, leader_index: canaryLeader })).status,
    ).toBe(200);

    await waitForDocuments(h.follower, follower, { 1: { value: 'data1' } });
    await h.leader.request('POST', `/${leader}/_doc/1`, { body: { value: 'data1-modified' } });
    await h.leader.request('POST', `/${leader}/_doc/2`, { body: { value: 'data2' } });
    await waitForDocuments(h.follower, follower, { 1: { value: 'data1-modified' }, 2: { value: 'data2' } });

    const syncing = await waitFor('SYNCING with the leader checkpoint applied', async () => {
      const s = await status(follower);
      // The extractor's report may still be of the checkpoint before the two writes: wait for the one after them.
      return s.status === 'SYNCING' && s.shards[0]?.lag_operations === 0 && (s.shards[0]?.leader_checkpoint ?? -1) >= 2 ? s : undefined;
    });
    expect(syncing).toMatchObject({ leader_alias: h.names.leaderCluster, leader_index: leader, follower_index: follower, requested_by: 'ops-admin' });
    expect(syncing.shards).toHaveLength(1);
    expect(syncing.shards[0]).toMatchObject({ shard: 0, lag_seconds: 0, dead_lettered: 0 });
    expect(syncing.shards[0]!.leader_checkpoint).toBeGreaterThanOrEqual(2);
    expect(syncing.shards[0]!.applied).toBeGreaterThanOrEqual(1);
    // The Open Distro prefix answers the same.
    expect((await control.call('GET', `/_opendistro/_replication/${follower}/_status`)).body).toMatchObject({ status: 'SYNCING', follower_index: follower });

    // Pause, write 20 documents, see the extractor publish them while the follower does not move, resume: all arrive.
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_pause`, {})).body).toEqual({ acknowledged: true });
    expect((await status(follower)).status).toBe('PAUSED');
    await waitFor(
      'the applier to confirm the pause',
      async () => (h.status.get(`applier/${h.names.followerCluster}/${follower}`) as { state?: string } | undefined)?.state === 'paused',
    );
    const before = await extractorStatus(h, leader);
    const checkpointBefore = before?.shards[0]?.globalCheckpoint ?? -1;
    const twenty = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`p${i}`, { n: i }]));
    await h.leader.bulk(
      bulkLines(
        leader,
        Object.entries(twenty).map(([id, source]) => ({ id, source })),
      ),
    );
    await waitFor('the extractor to publish the 20 documents', async () => (extractorStatus(h, leader)?.shards[0]?.cursor ?? -1) >= checkpointBefore + 20);
    expect(Object.keys(await documents(h.follower, follower)).sort()).toEqual(['1', '2']);
    expect((await control.call('POST', `/_opendistro/_replication/${follower}/_resume`, {})).body).toEqual({ acknowledged: true });
    await waitForDocuments(h.follower, follower, { 1: { value: 'data1-modified' }, 2: { value: 'data2' }, ...twenty });
    await waitFor('SYNCING again after resume', async () => (await status(follower)).status === 'SYNCING');

    // The announcement's stop: POST .../_stop?pretty with {}.
    const stop = await control.app.inject({
      method: 'POST',
      url: `/_opendistro/_replication/${follower}/_stop?pretty`,
      headers: { ...adminHeaders, 'Content-type': 'application/json' },
      payload: '{}',
    });
    expect(stop.statusCode).toBe(200);
    expect(JSON.parse(stop.body)).toEqual({ acknowledged: true });
    expect(await h.follower.indexExists(ledgerIndexName(follower))).toBe(true);
    expect((await status(follower)).status).toBe('STOPPED');
    await waitFor(
      'the applier to let go of the follower index',
      async () => (h.status.get(`applier/${h.names.followerCluster}/${follower}`) as { state?: string } | undefined)?.state === 'stopped',
    );
    // Its ledger goes with the replication; the follower index stays, and so does the ledger of the one still followed.
    await waitFor('the ledger of the stopped replication to be dropped', async () => !(await h.follower.indexExists(ledgerIndexName(follower))));
    expect(await h.follower.indexExists(follower)).toBe(true);
    expect(await h.follower.indexExists(ledgerIndexName(canary))).toBe(true);

    // Failover: the follower index takes writes; later leader changes do not reach it.
    const written = await h.follower.request('PUT', `/${follower}/_doc/3`, { body: { value: 'written on the follower' }, query: { refresh: 'true' } });
    expect(written.status).toBe(201);
    await h.leader.request('POST', `/${leader}/_doc/1`, { body: { value: 'after-stop' } });
    await h.leader.request('POST', `/${canaryLeader}/_doc/b`, { body: { value: 'after-stop' } });
    await waitForDocuments(h.follower, canary, { a: { value: 'canary' }, b: { value: 'after-stop' } });
    const after = await documents(h.follower, follower);
    expect(after['1']).toEqual({ value: 'data1-modified' });
    expect(after['3']).toEqual({ value: 'written on the follower' });

    // Stopped replications stay listed; a stopped one cannot be paused.
    const listed = await control.call<{ replications: { follower_index: string; state: string; status: string }[] }>(
      'GET',
      `/_kccr/replications?follower_cluster=${h.names.followerCluster}`,
      undefined,
      readerHeaders,
    );
    expect(listed.body.replications).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ follower_index: follower, state: 'stopped', status: 'STOPPED' }),
        expect.objectContaining({ follower_index: canary, state: 'active' }),
      ]),
    );
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_pause`, {})).status).toBe(409);
  });

  it('lets a read-only token read status but not start (403)', async () => {
    const leader = await leaderIndex({ x: { v: 1 } });
    const follower = uniqueName('ctl-ro');
    const refused = await announcementStart(follower, leader, readerHeaders);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect(h.store.get(h.names.followerCluster, follower)).toBeUndefined();
    expect((await announcementStart(follower, leader)).status).toBe(200);
    await waitFor('status for the reader', async () => {
      const r = await control.call<StatusBody>('GET', `/_opendistro/_replication/${follower}/_status`, undefined, readerHeaders);
      return r.status === 200 && r.body.status === 'SYNCING';
    });
    const stats = await control.call<Record<string, unknown>>('GET', '/_plugins/_replication/follower_stats', undefined, readerHeaders);
    expect(stats.status).toBe(200);
    expect((stats.body.index_stats as Record<string, unknown>)[follower]).toMatchObject({ status: 'SYNCING' });
    const leaderStats = await control.call<{ index_stats: Record<string, unknown> }>('GET', '/_plugins/_replication/leader_stats', undefined, readerHeaders);
    expect(leaderStats.body.index_stats[`${h.names.leaderCluster}:${leader}`]).toMatchObject({ leader_index: leader, shards: 1 });
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_stop`, {}, readerHeaders)).status).toBe(403);
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_stop`, {})).status).toBe(200);
  });

  it('refuses clearly: existing non-kccr index (409), missing leader index (404), unknown cluster, already followed (409)', async () => {
    const leader = await leaderIndex({ x: { v: 1 } });

    const occupied = uniqueName('ctl-occupied');
    await h.follower.createIndex(occupied, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    const conflict = await announcementStart(occupied, leader);
    expect(conflict.status).toBe(409);
    expect(conflict.body).toMatchObject({ error: { code: 'CONFLICT', retriable: false } });
    expect((conflict.body.error as { message: string }).message).toMatch(/already exists on follower cluster .* not a kccr follower index/);

    const missing = uniqueName('ctl-missing');
    const notThere = await announcementStart(uniqueName('ctl-f'), missing);
    expect(notThere.status).toBe(404);
    expect(notThere.body).toMatchObject({ error: { code: 'ES_NOT_FOUND' } });
    expect((notThere.body.error as { message: string }).message).toContain(`leader index ${missing} does not exist on leader cluster ${h.names.leaderCluster}`);

    const unknownCluster = await control.call('PUT', `/_plugins/_replication/${uniqueName('ctl-f')}/_start`, {
      leader_alias: 'no-such-cluster',
      leader_index: leader,
    });
    expect(unknownCluster.status).toBe(404);
    expect(JSON.stringify(unknownCluster.body)).toMatch(/leader cluster no-such-cluster is not registered/);

    const follower = uniqueName('ctl-twice');
    expect((await announcementStart(follower, leader)).status).toBe(200);
    const twice = await announcementStart(follower, leader);
    expect(twice.status).toBe(409);
    expect(JSON.stringify(twice.body)).toMatch(/already following/);
    // One follower index per leader index and follower cluster.
    const second = await announcementStart(uniqueName('ctl-second'), leader);
    expect(second.status).toBe(409);

    // A cluster in use cannot be removed.
    const remove = await control.call('DELETE', `/_kccr/clusters/${h.names.leaderCluster}`);
    expect(remove.status).toBe(409);
    expect(JSON.stringify(remove.body)).toMatch(/stop them first/);

    expect((await control.call('POST', `/_plugins/_replication/${uniqueName('ctl-none')}/_stop`, {})).status).toBe(404);
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_stop`, {})).status).toBe(200);
  });

  it('refuses at the start what cannot be copied exactly: _source disabled or partial, an alias (400, with what to do)', async () => {
    const noSource = uniqueName('ctl-nosource');
    await h.leader.createIndex(noSource, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } }, mappings: { _source: { enabled: false } } });
    const partial = uniqueName('ctl-partial');
    await h.leader.createIndex(partial, {
      settings: { index: { number_of_shards: 1, number_of_replicas: 0 } },
      mappings: { _source: { excludes: ['secret'] } },
    });
    const concrete = await leaderIndex({ a: { v: 1 } });
    const alias = uniqueName('ctl-alias');
    await h.leader.request('POST', '/_aliases', { body: { actions: [{ add: { index: concrete, alias } }] } });
    for (const [index, message] of [
      [noSource, /_source disabled/],
      [partial, /only part of _source .*"secret"/],
      [alias, new RegExp(`is an alias \\(it resolves to ${concrete}\\); replicate the concrete index`)],
    ] as const) {
      const r = await announcementStart(uniqueName('ctl-f'), index);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ error: { code: 'BAD_REQUEST' } });
      expect((r.body.error as { message: string }).message).toMatch(message);
    }
    await Promise.all([noSource, partial, concrete].map((i) => h.leader.deleteIndex(i)));
  });

  it('applies _update settings to the follower index and keeps them in the spec', async () => {
    const leader = await leaderIndex({ x: { v: 1 } });
    const follower = uniqueName('ctl-update');
    expect(
      (
        await control.call('PUT', `/_plugins/_replication/${follower}/_start`, {
          leader_alias: h.names.leaderCluster,
          leader_index: leader,
          settings: { index: { number_of_replicas: 0 } },
          bootstrap: 'scan',
        })
      ).status,
    ).toBe(200);
    expect(control.state.deps.replications.store.get(h.names.followerCluster, follower)).toMatchObject({
      bootstrap: 'scan',
      followerSettings: { number_of_replicas: 0 },
      requestedBy: 'ops-admin',
    });
    await waitForDocuments(h.follower, follower, { x: { v: 1 } });
    const update = await control.call('PUT', `/_plugins/_replication/${follower}/_update`, { settings: { 'index.refresh_interval': '7s' } });
    expect(update.status, JSON.stringify(update.body)).toBe(200);
    const meta = await h.follower.indexMeta(follower);
    expect(meta.settings.refresh_interval).toBe('7s');
    expect(control.state.deps.replications.store.get(h.names.followerCluster, follower)?.followerSettings).toEqual({
      number_of_replicas: 0,
      refresh_interval: '7s',
    });
    const refused = await control.call('PUT', `/_plugins/_replication/${follower}/_update`, { settings: { 'index.no_such_setting': 1 } });
    expect(refused.status).toBe(400);
    expect((await control.call('PUT', `/_plugins/_replication/${follower}/_update`, { settings: { number_of_shards: 3 } })).status).toBe(400);
    // Replication goes on after the update.
    await h.leader.request('PUT', `/${leader}/_doc/y`, { body: { v: 2 } });
    await waitForDocuments(h.follower, follower, { x: { v: 1 }, y: { v: 2 } });
    await control.call('POST', `/_plugins/_replication/${follower}/_stop`, {});
  });

  it('keeps every replication listed and running across a restart of the control service', async () => {
    const leader = await leaderIndex({ r1: { v: 1 } });
    const follower = uniqueName('ctl-restart');
    expect((await announcementStart(follower, leader)).status).toBe(200);
    await waitForDocuments(h.follower, follower, { r1: { v: 1 } });
    const mine = (specs: ReplicationSpec[]) =>
      specs
        .filter((s) => s.followerCluster === h.names.followerCluster)
        .map((s) => `${s.followerIndex}:${s.state}`)
        .sort();
    const before = mine(control.state.deps.replications.list());

    await control.close();
    control = await startControl(h.stack, { followerCluster: h.names.followerCluster, env });
    expect(mine(control.state.deps.replications.list())).toEqual(before);
    const listed = await control.call<{ replications: { follower_index: string; state: string }[] }>(
      'GET',
      `/_kccr/replications?follower_cluster=${h.names.followerCluster}`,
    );
    expect(listed.body.replications.map((r) => `${r.follower_index}:${r.state}`).sort()).toEqual(before);
    expect((await control.call('GET', `/_kccr/clusters/${h.names.leaderCluster}`)).status).toBe(200);

    await h.leader.request('PUT', `/${leader}/_doc/r2`, { body: { v: 2 } });
    await waitForDocuments(h.follower, follower, { r1: { v: 1 }, r2: { v: 2 } });
    await waitFor('SYNCING through the new instance', async () => (await status(follower)).status === 'SYNCING');
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_stop`, {})).status).toBe(200);
  });

  it('runs the announcement with its exact index names leader-01 and follower-01', async () => {
    // Leftovers of earlier runs: any spec of these names is stopped, the indices are deleted on both clusters.
    for (const spec of h.store.list()) {
      if ((spec.followerIndex === 'follower-01' || spec.leaderIndex === 'leader-01') && spec.state !== 'stopped') {
        await h.store.setState(spec.followerCluster, spec.followerIndex, 'stopped', 'control test cleanup');
      }
    }
    for (const es of [h.leader, h.follower]) for (const index of ['leader-01', 'follower-01']) await es.deleteIndex(index);

    await h.leader.request('PUT', '/leader-01', { body: { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } } });
    await h.leader.request('POST', '/leader-01/_doc/1', { body: { value: 'data1' } });
    const started = await control.app.inject({
      method: 'PUT',
      url: '/_opendistro/_replication/follower-01/_start?pretty',
      headers: { ...adminHeaders, 'Content-type': 'application/json' },
      payload: `{"remote_cluster":"${h.names.leaderCluster}", "remote_index": "leader-01"}`,
    });
    expect(started.statusCode, started.body).toBe(200);
    await waitForDocuments(h.follower, 'follower-01', { 1: { value: 'data1' } });
    const cat = await h.follower.request<string>('GET', '/_cat/indices', { query: { h: 'index' } });
    expect(String(cat.body).split('\n')).toContain('follower-01');
    await h.leader.request('POST', '/leader-01/_doc/1', { body: { value: 'data1-modified' } });
    await h.leader.request('POST', '/leader-01/_doc/2', { body: { value: 'data2' } });
    await waitForDocuments(h.follower, 'follower-01', { 1: { value: 'data1-modified' }, 2: { value: 'data2' } });

    const stop = await control.app.inject({
      method: 'POST',
      url: '/_opendistro/_replication/follower-01/_stop?pretty',
      headers: { ...adminHeaders, 'Content-type': 'application/json' },
      payload: '{}',
    });
    expect(stop.statusCode).toBe(200);
    await waitFor(
      'the applier to let go of follower-01',
      async () => (h.status.get(`applier/${h.names.followerCluster}/follower-01`) as { state?: string } | undefined)?.state === 'stopped',
    );
    const written = await h.follower.request('PUT', '/follower-01/_doc/3', { body: { value: 'failover write' }, query: { refresh: 'true' } });
    expect(written.status).toBe(201);
  });
});
