/**
 * The `kccr` command as a user runs it: a child process (bin/kccr.js) against a control service listening on a
 * random port in this process, over the real Kafka tables, with real extractor and applier processes.
 * Exit codes: 0 ok, 1 failed, 2 usage, 3 unreachable, 4 refused.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kccr } from '../support/cli.js';
import { ADMIN, forgetClusters, READER_TOKEN, startControl } from '../support/control.js';
import type { Control } from '../support/control.js';
import { bulkLines, startHarness, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { loadStack, uniqueName, waitFor } from '../support/stack.js';

async function closedPort(): Promise<number> {
  return new Promise((res) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

describe('kccr CLI against a listening control service', () => {
  let h: Harness;
  let control: Control;
  let url: string;
  let admin: Record<string, string>;

  beforeAll(async () => {
    h = await startHarness(loadStack('plain'), 'cli');
    control = await startControl(h.stack, { followerCluster: h.names.followerCluster });
    url = await control.app.listen({ host: '127.0.0.1', port: 0 });
    admin = { KCCR_CONTROL_URL: url, KCCR_CONTROL_USER: ADMIN.name, KCCR_CONTROL_PASSWORD: ADMIN.password };
  });
  afterAll(async () => {
    // The harness stops this test's replications first; then this test's clusters leave the registry.
    await h?.close();
    if (control) await forgetClusters(control, h ? [h.names.leaderCluster, h.names.followerCluster] : []);
  });

  it('registers clusters, starts, shows status, pauses, resumes and stops a replication', async () => {
    for (const [name, role] of [
      [h.names.leaderCluster, 'leader'],
      [h.names.followerCluster, 'follower'],
    ] as const) {
      const add = await kccr(['clusters', 'add', name, h.stack.clusters[role].url], admin);
      expect(add.code, add.stderr).toBe(0);
      expect(add.stdout).toContain(`registered: ${name}`);
    }
    const clusters = await kccr(['clusters', 'list', '--json'], admin);
    expect(clusters.code).toBe(0);
    expect((JSON.parse(clusters.stdout) as { clusters: { name: string }[] }).clusters.map((c) => c.name)).toEqual(
      expect.arrayContaining([h.names.leaderCluster, h.names.followerCluster]),
    );

    const leader = uniqueName('cli-leader');
    const follower = uniqueName('cli-follower');
    await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 2, number_of_replicas: 0 } } });
    await h.leader.bulk(
      bulkLines(leader, [
        { id: '1', source: { v: 1 } },
        { id: '2', source: { v: 2 } },
      ]),
      { refresh: 'true' },
    );

    const start = await kccr(['start', follower, '--leader-cluster', h.names.leaderCluster, '--leader-index', leader, '--bootstrap', 'scan'], admin);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toContain(`started: ${follower} follows ${h.names.leaderCluster}:${leader}`);
    await waitForDocuments(h.follower, follower, { 1: { v: 1 }, 2: { v: 2 } });

    const text = await waitFor('a SYNCING status table', async () => {
      const r = await kccr(['status', follower], admin);
      return r.code === 0 && r.stdout.includes('status: SYNCING') ? r.stdout : undefined;
    });
    expect(text).toMatch(/shard\s+leader cp\s+leader max seq\s+follower cp\s+lag ops\s+lag\s+applied/);
    expect(text).toMatch(/^0\s+-?\d+/m);
    expect(text).toMatch(/^1\s+-?\d+/m);
    expect(text).toMatch(/lag: 0 operations, 0 s/);

    const json = await kccr(['status', follower, '--json'], admin);
    expect(json.code).toBe(0);
    const status = JSON.parse(json.stdout) as { status: string; shards: { lag_seconds: number }[] };
    expect(status.status).toBe('SYNCING');
    expect(status.shards).toHaveLength(2);

    expect((await kccr(['pause', follower], admin)).code).toBe(0);
    expect(control.state.deps.replications.store.get(h.names.followerCluster, follower)?.state).toBe('paused');
    expect((await kccr(['status', follower], admin)).stdout).toContain('status: PAUSED');
    await h.leader.request('PUT', `/${leader}/_doc/3`, { body: { v: 3 } });
    const resume = await kccr(['resume', follower, '--json'], admin);
    expect(resume.code).toBe(0);
    expect(JSON.parse(resume.stdout)).toEqual({ acknowledged: true });
    await waitForDocuments(h.follower, follower, { 1: { v: 1 }, 2: { v: 2 }, 3: { v: 3 } });

    const list = await kccr(['replications'], admin);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${h.names.followerCluster}:${follower}\\s+${h.names.leaderCluster}:${leader}`));

    const stop = await kccr(['stop', follower], admin);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain('stopped');
    expect((await kccr(['status', follower], admin)).stdout).toContain('status: STOPPED');

    // verify, mounted from the verifier: the stopped follower holds exactly the leader's documents.
    const verify = await kccr(['verify', '--leader-index', leader, '--follower-index', follower], {
      KCCR_LEADER_URL: h.stack.clusters.leader.url,
      KCCR_FOLLOWER_URL: h.stack.clusters.follower.url,
    });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toContain('verdict: identical');
  });

  it('exits 2 on usage errors, before and after asking the service', async () => {
    const missing = await kccr(['start', 'f1', '--leader-cluster', 'x'], admin);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('kccr start needs --leader-index');
    expect((await kccr(['frobnicate'], admin)).code).toBe(2);
    expect((await kccr(['status'], admin)).code).toBe(2);
    expect((await kccr(['status', 'x', '--leader-index', 'y'], admin)).stderr).toContain('does not take --leader-index');
    const server = await kccr(['status', 'Not_A_Valid_Index'], admin);
    expect(server.code).toBe(2);
    expect(server.stderr).toMatch(/is not valid: expected an index name/);
    const json = await kccr(['--json', 'start', 'x'], admin);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ exit_code: 2 });
    expect((await kccr(['--help'])).code).toBe(0);
  });

  it('exits 1 when the operation fails, with the service message', async () => {
    const notFollower = await kccr(['stop', uniqueName('cli-none')], admin);
    expect(notFollower.code).toBe(1);
    expect(notFollower.stderr).toMatch(/is not a kccr follower index/);
    const noLeader = await kccr(['start', uniqueName('cli-f'), '--leader-cluster', h.names.leaderCluster, '--leader-index', uniqueName('cli-missing')], admin);
    expect(noLeader.code).toBe(1);
    expect(noLeader.stderr).toMatch(/does not exist on leader cluster/);
  });

  it('exits 3 when the service cannot be reached', async () => {
    const r = await kccr(['replications', '--url', `http://127.0.0.1:${await closedPort()}`], admin);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot reach the control service .*ECONNREFUSED.*KCCR_CONTROL_URL/);
  });

  it('exits 4 when credentials or the role are refused', async () => {
    const wrong = await kccr(['replications'], { ...admin, KCCR_CONTROL_PASSWORD: 'wrong' });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/credentials were refused/);
    const none = await kccr(['replications', '--url', url]);
    expect(none.code).toBe(4);
    expect(none.stderr).toMatch(/--token/);
    const reader = { KCCR_CONTROL_URL: url, KCCR_CONTROL_TOKEN: READER_TOKEN };
    expect((await kccr(['replications'], reader)).code).toBe(0);
    const forbidden = await kccr(['pause', 'anything'], reader);
    expect(forbidden.code).toBe(4);
    expect(forbidden.stderr).toMatch(/FORBIDDEN|role read/);
  });

  it('talks HTTPS with --ca-file, and says so when the certificate is not trusted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kccr-cli-tls-'));
    const { execFileSync } = await import('node:child_process');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const tls = await startControl(h.stack, {
      followerCluster: h.names.followerCluster,
      app: { https: { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') } },
    });
    try {
      const httpsUrl = await tls.app.listen({ host: '127.0.0.1', port: 0 });
      expect(httpsUrl).toMatch(/^https:/);
      const env = { ...admin, KCCR_CONTROL_URL: httpsUrl };
      const trusted = await kccr(['clusters', 'list', '--ca-file', join(dir, 'cert.pem')], env);
      expect(trusted.code, trusted.stderr).toBe(0);
      expect(trusted.stdout).toContain(h.names.leaderCluster);
      const untrusted = await kccr(['clusters', 'list'], env);
      expect(untrusted.code).toBe(3);
      expect(untrusted.stderr).toMatch(/--ca-file/);
    } finally {
      await tls.close();
    }
  });

  it('hashes passwords for the users file', async () => {
    const r = await kccr(['users', 'hash-password', '--name', 'ops', '--role', 'read'], {}, 'a-long-password\n');
    expect(r.code, r.stderr).toBe(0);
    const opsEntry = JSON.parse(r.stdout) as { name: string; role: string; password_scrypt: string };
    expect(opsEntry).toMatchObject({ name: 'ops', role: 'read' });
    expect(opsEntry.password_scrypt).toMatch(/^scrypt\$15\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(opsEntry.password_scrypt).not.toContain('a-long-password');
    expect((await kccr(['users', 'hash-password'], {}, 'short')).code).toBe(2);
    const token = await kccr(['users', 'new-token', '--name', 'ci', '--json']);
    const { token: t, entry } = JSON.parse(token.stdout) as { token: string; entry: { token_sha256: string } };
    expect(entry.token_sha256).toBe(createHash('sha256').update(t).digest('hex'));
    const users = join(mkdtempSync(join(tmpdir(), 'kccr-users-')), 'users.json');
    writeFileSync(users, JSON.stringify([JSON.parse(r.stdout), { ...entry, name: 'ci', role: 'admin' }]));
    const { readControlConfig } = await import('../../services/control/config.js');
    const auth = readControlConfig({ KCCR_CONTROL_USERS_FILE: users }).auth;
    expect(auth).toMatchObject({
      mode: 'users',
      principals: [
        { name: 'ops', role: 'read' },
        { name: 'ci', role: 'admin' },
      ],
    });
    // The entry made by the CLI lets that password in, and no other.
    const { Authenticator } = await import('../../services/control/http/principals.js');
    if (auth.mode !== 'users') throw new Error('expected users from the file');
    const authenticator = new Authenticator(auth.principals);
    const basic = (pw: string) => `Basic ${Buffer.from(`ops:${pw}`).toString('base64')}`;
    expect(await authenticator.authenticate(basic('a-long-password'))).toMatchObject({ ok: true, principal: { name: 'ops' } });
    expect(await authenticator.authenticate(basic('a-long-passwore'))).toEqual({ ok: false, reason: 'refused' });
  });
});
