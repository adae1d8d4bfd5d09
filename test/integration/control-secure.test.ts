/**
 * The control service against the secure stack (HTTPS clusters, file-realm users): clusters registered with
 * credentials by reference only (a user name, a password file, the CA file), used with least-privilege users,
 * while the real extractor and applier replicate what it starts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminHeaders, forgetClusters, startControl } from '../support/control.js';
import type { Control } from '../support/control.js';
import { startHarness, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { loadStack, uniqueName, waitFor } from '../support/stack.js';

describe('control service (secure stack, credentials by reference)', () => {
  let h: Harness;
  let control: Control;

  beforeAll(async () => {
    h = await startHarness(loadStack('secure'), 'control-secure');
    control = await startControl(h.stack, { followerCluster: h.names.followerCluster });
    const { leader, follower } = h.stack.clusters;
    for (const [name, cluster, user] of [
      [h.names.leaderCluster, leader, 'kccr-extractor'],
      [h.names.followerCluster, follower, 'kccr-applier'],
    ] as const) {
      const r = await control.call('PUT', `/_kccr/clusters/${name}`, {
        url: cluster.url,
        ca_file: control.secret(cluster.caFile!),
        username: user,
        password_file: control.secret(cluster.users[user]!.passwordFile),
      });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
  });
  afterAll(async () => {
    // The harness stops this test's replications first; then this test's clusters leave the registry.
    await h?.close();
    if (control) await forgetClusters(control, h ? [h.names.leaderCluster, h.names.followerCluster] : []);
  });

  it('starts over HTTPS clusters with least-privilege users and never shows the passwords', async () => {
    const leader = uniqueName('sec-leader');
    const follower = uniqueName('sec-follower');
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    await h.leader.request('POST', `/${leader}/_doc/1`, { body: { value: 'data1' } });
    const r = await control.app.inject({
      method: 'PUT',
      url: `/_opendistro/_replication/${follower}/_start?pretty`,
      headers: { ...adminHeaders, 'Content-type': 'application/json' },
      payload: `{"remote_cluster":"${h.names.leaderCluster}", "remote_index": "${leader}"}`,
    });
    expect(r.statusCode, r.body).toBe(200);
    await waitForDocuments(h.follower, follower, { 1: { value: 'data1' } });
    await waitFor(
      'SYNCING',
      async () => (await control.call<{ status: string }>('GET', `/_plugins/_replication/${follower}/_status`)).body.status === 'SYNCING',
    );

    const shown = JSON.stringify((await control.call('GET', '/_kccr/clusters')).body);
    for (const role of ['leader', 'follower'] as const) {
      for (const u of Object.values(h.stack.clusters[role].users)) {
        const { readFileSync } = await import('node:fs');
        expect(shown).not.toContain(readFileSync(u.passwordFile, 'utf8').trim());
      }
    }
    expect((await control.call('POST', `/_plugins/_replication/${follower}/_stop`, {})).status).toBe(200);
  });

  it('checks the leader and follower indices through those users', async () => {
    const missing = await control.call('PUT', `/_plugins/_replication/${uniqueName('sec-f')}/_start`, {
      leader_alias: h.names.leaderCluster,
      leader_index: uniqueName('sec-missing'),
    });
    expect(missing.status).toBe(404);
    const occupied = uniqueName('sec-occupied');
    await h.follower.createIndex(occupied, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    const leader = uniqueName('sec-leader');
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    const conflict = await control.call('PUT', `/_plugins/_replication/${occupied}/_start`, { leader_alias: h.names.leaderCluster, leader_index: leader });
    expect(conflict.status).toBe(409);
  });

  it('names the cluster whose credentials are refused', async () => {
    const wrong = uniqueName('sec-wrong');
    const { leader, follower } = h.stack.clusters;
    // A real user with another user's password: Elasticsearch refuses it.
    expect(
      (
        await control.call('PUT', `/_kccr/clusters/${wrong}`, {
          url: leader.url,
          ca_file: control.secret(leader.caFile!),
          username: 'kccr-extractor',
          password_file: control.secret(follower.users['kccr-applier']!.passwordFile),
        })
      ).status,
    ).toBe(200);
    const r = await control.call<{ error: { code: string; message: string } }>('PUT', `/_plugins/_replication/${uniqueName('sec-f')}/_start`, {
      leader_alias: wrong,
      leader_index: 'anything',
    });
    expect(r.status).toBe(502);
    expect(r.body.error.code).toBe('ES_UNAUTHENTICATED');
    expect(r.body.error.message).toMatch(/refused the credentials/);
    expect((await control.call('DELETE', `/_kccr/clusters/${wrong}`)).status).toBe(200);
  });
});
