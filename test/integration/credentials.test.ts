/**
 * Refused privileges against the secure stack, as docs/operations/faults.md promises: an extractor or applier whose user lacks
 * a privilege it needs shows FAILED with the refusal as the reason, is probed again every KCCR_FAILED_PROBE_MS
 * (2 s in tests), and resumes once the privilege is granted, without a restart of any kccr process, with the
 * follower holding exactly the leader's documents and nothing dead-lettered.
 *
 * The users and roles are added to the running clusters' file realm (config/users, users_roles, roles.yml), which
 * Elasticsearch reloads by itself within seconds (resource.reload.interval.high, 5 s) — the realm the stack's own
 * kccr users live in. The security API (PUT /_security/role, /_security/user) is not used: it stores into the
 * .security system index, which the stack's integration-test distribution of Elasticsearch cannot create (it lacks
 * the analysis-common module: "Unknown filter type [pattern_capture]").
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { ledgerIndexName } from '../../services/applier/ledger.js';
import type { ApplierStatus, ExtractorStatus } from '../../services/shared/replication.js';
import { changeTopic, deadLetterTopic } from '../../services/shared/topics.js';
import { startControl } from '../support/control.js';
import type { Control } from '../support/control.js';
import { applierStatus, bulkLines, documents, extractorStatus, startHarness, startReplication, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import type { ServiceOptions } from '../support/services.js';
import { esConnection, loadStack, uniqueName, waitFor } from '../support/stack.js';

type Role = 'leader' | 'follower';

interface RoleDescriptor {
  readonly cluster: readonly string[];
  readonly indices: readonly { readonly names: readonly string[]; readonly privileges: readonly string[] }[];
}

const ROOT = resolve(import.meta.dirname, '..', '..');
const STATE_FILE = process.env.KCCR_SECURE_STACK_STATE ?? join(ROOT, '.stack-secure', 'stack.json');

/** The secure stack's clusters keep their file realm in <stack>/es/<role>/config (deploy/local/lib/config.ts). */
function realmDir(role: Role): string {
  return join(dirname(STATE_FILE), 'es', role, 'config');
}

/** Replaces a realm file in one step, keeping its owner and mode (Elasticsearch runs as its own user). */
function rewrite(file: string, edit: (lines: string[]) => string[]): void {
  const st = statSync(file);
  const lines = readFileSync(file, 'utf8').replace(/\n+$/, '').split('\n');
  const tmp = `${file}.kccr-test-${process.pid}`;
  writeFileSync(tmp, `${edit(lines).join('\n')}\n`, { mode: st.mode & 0o777 });
  try {
    chownSync(tmp, st.uid, st.gid);
  } catch {
    // not root: the file is ours already
  }
  chmodSync(tmp, st.mode & 0o777);
  renameSync(tmp, file);
}

/** The file realm's password hash Elasticsearch verifies: PBKDF2-HMAC-SHA512, 10000 rounds, 32-byte salt and key. */
function pbkdf2Hash(password: string): string {
  const salt = randomBytes(32);
  return `{PBKDF2}10000$${salt.toString('base64')}$${pbkdf2Sync(password, salt, 10_000, 32, 'sha512').toString('base64')}`;
}

/** One user with one role of its own on one cluster of the secure stack; `grant` changes what the role allows. */
class TestUser {
  readonly name = uniqueName('kccr-cred-user');
  readonly role = uniqueName('kccr_cred_role');
  readonly password = randomBytes(18).toString('base64url');
  readonly passwordFile: string;
  private readonly es: ElasticsearchAdapter;

  constructor(
    private readonly stackRole: Role,
    descriptor: RoleDescriptor,
    secrets: string,
  ) {
    this.passwordFile = join(secrets, `${this.name}.password`);
    writeFileSync(this.passwordFile, this.password, { mode: 0o600 });
    const stack = loadStack('secure');
    this.es = new ElasticsearchAdapter({ ...esConnection(stack, stackRole), username: this.name, password: this.password });
    this.grant(descriptor);
    rewrite(join(realmDir(stackRole), 'users'), (lines) => [
      ...lines.filter((l) => !l.startsWith(`${this.name}:`)),
      `${this.name}:${pbkdf2Hash(this.password)}`,
    ]);
    rewrite(join(realmDir(stackRole), 'users_roles'), (lines) => [...lines.filter((l) => !l.startsWith(`${this.role}:`)), `${this.role}:${this.name}`]);
  }

  /** Sets the role's privileges (JSON is YAML: one line per role in roles.yml). */
  grant(descriptor: RoleDescriptor): void {
    rewrite(join(realmDir(this.stackRole), 'roles.yml'), (lines) => [
      ...lines.filter((l) => !l.startsWith(`${this.role}:`)),
      `${this.role}: ${JSON.stringify(descriptor)}`,
    ]);
  }

  /** Waits until the cluster has loaded the user and its role. */
  async ready(): Promise<void> {
    await waitFor(`${this.name} to authenticate on the ${this.stackRole}`, async () => {
      const r = await this.es.request<{ roles?: string[] }>('GET', '/_security/_authenticate', { ignore: [401] });
      return r.status === 200 && r.body.roles?.includes(this.role);
    });
  }

  /** Waits until the cluster's view of the role holds these index privileges (after a grant: the reload). */
  async holds(index: string, privileges: readonly string[]): Promise<void> {
    await waitFor(
      `${this.name} to hold ${privileges.join(', ')} on ${index}`,
      async () => {
        const r = await this.es.request<{ has_all_requested: boolean }>('POST', '/_security/user/_has_privileges', {
          body: { index: [{ names: [index], privileges }] },
        });
        return r.body.has_all_requested;
      },
      30_000,
      100,
    );
  }

  /** The environment that makes a service connect as this user. */
  env(prefix: 'KCCR_LEADER_' | 'KCCR_FOLLOWER_'): Record<string, string> {
    return { [`${prefix}USERNAME`]: this.name, [`${prefix}PASSWORD_FILE`]: this.passwordFile };
  }

  async remove(): Promise<void> {
    await this.es.close();
    const dir = realmDir(this.stackRole);
    rewrite(join(dir, 'users_roles'), (lines) => lines.filter((l) => !l.startsWith(`${this.role}:`)));
    rewrite(join(dir, 'users'), (lines) => lines.filter((l) => !l.startsWith(`${this.name}:`)));
    rewrite(join(dir, 'roles.yml'), (lines) => lines.filter((l) => !l.startsWith(`${this.role}:`)));
  }
}

// What the stack's least-privilege roles grant (deploy/local/elasticsearch/roles.yml), on this test's indices only.
const LEADER_CLUSTER_PRIVILEGES = ['monitor'];
const FOLLOWER_CLUSTER_PRIVILEGES = [
  'monitor',
  'cluster:admin/snapshot/restore',
  'cluster:admin/snapshot/get',
  'cluster:admin/snapshot/status',
  'cluster:admin/repository/get',
];
const FOLLOWER_WITHOUT_WRITE = ['read', 'create_index', 'manage', 'monitor', 'view_index_metadata'];

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe('refused privileges (secure stack): FAILED, probed again, resumed by a grant without a restart', () => {
  const secrets = mkdtempSync(join(tmpdir(), 'kccr-credentials-'));
  const users: TestUser[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((e: unknown) => console.warn('cleanup failed:', e));
    for (const u of users) await u.remove().catch((e: unknown) => console.warn(`removing ${u.name} failed:`, e));
    rmSync(secrets, { recursive: true, force: true });
  });

  /** A harness (extractor and applier processes) and a control service over the same Kafka, both closed afterwards. */
  async function setUp(
    label: string,
    services: Partial<ServiceOptions>,
    leaderIndex: string,
    followerIndex: string,
  ): Promise<{ h: Harness; control: Control }> {
    const h = await startHarness(loadStack('secure'), label, services);
    cleanups.push(async () => {
      await h.close();
      // A fresh adapter each: the harness's are closed.
      const leader = new ElasticsearchAdapter(esConnection(h.stack, 'leader'));
      const follower = new ElasticsearchAdapter(esConnection(h.stack, 'follower'));
      await Promise.all([leader.deleteIndex(leaderIndex), follower.deleteIndex(followerIndex)]);
      await Promise.all([leader.close(), follower.close()]);
    });
    // Only _status is asked of it: it reads the status rows, and needs no registered cluster.
    const control = await startControl(h.stack, { followerCluster: h.names.followerCluster });
    cleanups.push(() => control.close());
    return { h, control };
  }

  async function replicationStatus(control: Control, followerIndex: string) {
    const r = await control.call<{ status: string; reason?: string }>('GET', `/_plugins/_replication/${followerIndex}/_status`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  }

  async function createLeader(h: Harness, index: string, docs: Record<string, unknown>): Promise<void> {
    await h.leader.createIndex(index, { settings: { index: { number_of_shards: 2, number_of_replicas: 0 } } });
    await h.leader.bulk(
      bulkLines(
        index,
        Object.entries(docs).map(([id, source]) => ({ id, source })),
      ),
      { refresh: 'true' },
    );
  }

  async function topicRecords(h: Harness, topic: string): Promise<number> {
    if ((await h.kafka.partitionCount(topic)) === undefined) return 0;
    return sum((await h.kafka.offsets(topic)).map((o) => Number(BigInt(o.high) - BigInt(o.low))));
  }

  it('extractor without `monitor` on the leader index: FAILED with the 403, then resumes when it is granted', async () => {
    const leaderIndex = uniqueName('cred-leader');
    const followerIndex = uniqueName('cred-follower');
    const readOnly = ['read', 'view_index_metadata', 'indices:admin/refresh*'];
    const user = new TestUser('leader', { cluster: LEADER_CLUSTER_PRIVILEGES, indices: [{ names: [leaderIndex], privileges: readOnly }] }, secrets);
    users.push(user);
    await user.ready();

    const { h, control } = await setUp('credentials-extractor', { extractorEnv: user.env('KCCR_LEADER_') }, leaderIndex, followerIndex);
    const docs = Object.fromEntries([1, 2, 3, 4, 5].map((i) => [`d${i}`, { n: i, value: `data${i}` }]));
    await createLeader(h, leaderIndex, docs);

    const started = Date.now();
    await startReplication(h, leaderIndex, followerIndex);
    const failed = await waitFor('the extractor to report failed', async () => {
      const s = extractorStatus(h, leaderIndex);
      return s?.state === 'failed' ? s : undefined;
    });
    const failedAfter = Date.now() - started;
    expect(failed.reason).toMatch(/403/);
    expect(failed.reason).toMatch(/indices:monitor\/stats.*unauthorized|unauthorized.*indices:monitor\/stats/);
    expect(failed.reason).toContain(user.name);
    const status = await waitFor('_status FAILED', async () => {
      const s = await replicationStatus(control, followerIndex);
      return s.status === 'FAILED' ? s : undefined;
    });
    expect(status.reason).toMatch(/^extractor: .*403/);
    expect(await documents(h.follower, followerIndex)).toEqual({});

    // Still refused at the next probes (2 s apart): the failure holds, and nothing restarted anything.
    const firstFailure = failed.updatedAt;
    await waitFor('a later failed report', async () => {
      const s = extractorStatus(h, leaderIndex);
      return s !== undefined && s.updatedAt > firstFailure + 2500 && s.state === 'failed';
    });

    const granted = Date.now();
    user.grant({ cluster: LEADER_CLUSTER_PRIVILEGES, indices: [{ names: [leaderIndex], privileges: [...readOnly, 'monitor'] }] });
    await user.holds(leaderIndex, ['monitor']);
    const effectiveAfter = Date.now() - granted;
    await waitForDocuments(h.follower, followerIndex, docs, 60_000);
    const resumedAfter = Date.now() - granted;
    const running = await waitFor('the extractor to report running', async () => {
      const s = extractorStatus(h, leaderIndex);
      return s?.state === 'running' ? s : undefined;
    });
    expect(running.reason).toBeUndefined();
    expect(running.restarts).toBe(0);
    await waitFor('_status SYNCING', async () => (await replicationStatus(control, followerIndex)).status === 'SYNCING', 60_000);
    const syncingAfter = Date.now() - granted;

    // Live again: a change made now arrives too.
    await h.leader.request('PUT', `/${leaderIndex}/_doc/d6`, { body: { n: 6, value: 'after the grant' } });
    await waitForDocuments(h.follower, followerIndex, { ...docs, d6: { n: 6, value: 'after the grant' } });
    expect(h.extractor.starts).toBe(1);
    expect(h.applier.starts).toBe(1);
    console.log(
      `extractor: FAILED after ${seconds(failedAfter)}; grant effective on the leader after ${seconds(effectiveAfter)}, follower complete after ${seconds(resumedAfter)}, SYNCING after ${seconds(syncingAfter)} (from the grant)`,
    );
  });

  /**
   * The applier's user may create and manage the follower index but not write documents into it. Two shapes of
   * the same mistake: no write privilege at all (Elasticsearch refuses the whole _bulk, 403), and write granted on
   * other indices only (Elasticsearch answers the _bulk 200 and refuses each item, 403 security_exception).
   */
  it.each([
    { shape: 'no write privilege at all', elsewhere: false },
    { shape: 'write only on other indices', elsewhere: true },
  ])('applier without `write` on the follower index ($shape): FAILED with the 403, then complete when it is granted', async ({ elsewhere }) => {
    const leaderIndex = uniqueName('cred-leader');
    const followerIndex = uniqueName('cred-follower');
    const other = elsewhere ? [{ names: [`${uniqueName('cred-other')}-*`], privileges: ['write'] }] : [];
    // The applier writes the follower index and its ledger (docs/design/reconciliation.md): the same privileges on both.
    const names = [followerIndex, ledgerIndexName(followerIndex)];
    const user = new TestUser(
      'follower',
      { cluster: FOLLOWER_CLUSTER_PRIVILEGES, indices: [{ names, privileges: FOLLOWER_WITHOUT_WRITE }, ...other] },
      secrets,
    );
    users.push(user);
    await user.ready();

    const { h, control } = await setUp(
      `credentials-applier${elsewhere ? '-elsewhere' : ''}`,
      { applierEnv: user.env('KCCR_FOLLOWER_') },
      leaderIndex,
      followerIndex,
    );
    const docs = Object.fromEntries([1, 2, 3, 4, 5, 6].map((i) => [`d${i}`, { n: i, value: `data${i}` }]));
    await createLeader(h, leaderIndex, docs);

    const started = Date.now();
    await startReplication(h, leaderIndex, followerIndex);
    // The leader side is fine: every document reaches the topic.
    const topic = changeTopic(h.names.leaderCluster, leaderIndex);
    await waitFor('the documents in the topic', async () => {
      const s = extractorStatus(h, leaderIndex);
      return (
        s?.state === 'running' &&
        sum(s.shards.map((x) => x.published)) >= Object.keys(docs).length &&
        (await topicRecords(h, topic)) >= Object.keys(docs).length
      );
    });
    let last: ApplierStatus | undefined;
    const failed = await waitFor(
      'the applier to report failed',
      async () => {
        last = applierStatus(h, followerIndex);
        return last?.state === 'failed' ? last : undefined;
      },
      30_000,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; last applier row: ${JSON.stringify(last)}`);
    });
    const failedAfter = Date.now() - started;
    expect(failed.reason).toMatch(/403/);
    expect(failed.reason).toMatch(/indices:data\/write\/bulk.*unauthorized|unauthorized.*indices:data\/write\/bulk/);
    const status = await waitFor('_status FAILED', async () => {
      const s = await replicationStatus(control, followerIndex);
      return s.status === 'FAILED' ? s : undefined;
    });
    expect(status.reason).toMatch(/^applier: .*403/);
    expect(await documents(h.follower, followerIndex)).toEqual({});

    const firstFailure = failed.updatedAt;
    await waitFor('a later failed report', async () => {
      const s = applierStatus(h, followerIndex);
      return s !== undefined && s.updatedAt > firstFailure + 2500 && s.state === 'failed';
    });

    const granted = Date.now();
    user.grant({ cluster: FOLLOWER_CLUSTER_PRIVILEGES, indices: [{ names, privileges: [...FOLLOWER_WITHOUT_WRITE, 'write'] }, ...other] });
    await user.holds(followerIndex, ['write']);
    const effectiveAfter = Date.now() - granted;
    await waitForDocuments(h.follower, followerIndex, docs, 60_000);
    const resumedAfter = Date.now() - granted;
    const syncing = await waitFor('the applier to report syncing', async () => {
      const s = applierStatus(h, followerIndex);
      return s?.state === 'syncing' ? s : undefined;
    });
    expect(syncing.reason).toBeUndefined();
    await waitFor('_status SYNCING', async () => (await replicationStatus(control, followerIndex)).status === 'SYNCING', 60_000);
    const syncingAfter = Date.now() - granted;

    const final = applierStatus(h, followerIndex)!;
    expect(sum(final.shards.map((s) => s.deadLettered))).toBe(0);
    expect(await topicRecords(h, deadLetterTopic(h.names.followerCluster))).toBe(0);
    expect(await documents(h.follower, followerIndex)).toEqual(docs);
    expect((extractorStatus(h, leaderIndex) as ExtractorStatus).state).toBe('running');
    expect(h.applier.starts).toBe(1);
    expect(h.extractor.starts).toBe(1);
    console.log(
      `applier (${elsewhere ? 'write elsewhere' : 'no write'}): FAILED after ${seconds(failedAfter)}; grant effective on the follower after ${seconds(effectiveAfter)}, follower complete after ${seconds(resumedAfter)}, SYNCING after ${seconds(syncingAfter)} (from the grant)`,
    );
  });
});
