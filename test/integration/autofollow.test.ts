/**
 * Auto-follow against the real plain stack: the real control app (its engine running every 2 s) over the real Kafka
 * tables, real extractor and applier processes that follow what it writes. Each test has its own index prefix and
 * rule; the engine's own run counter tells when it has looked again, instead of sleeping.
 *
 * Another control service over the same Kafka (a demo run beside the tests) may run these rules too, since it runs
 * every rule; so what a start did is checked on the replication specs, and counters only where this engine acts at
 * once (right after a rule is added, or when triggered).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import type { ReplicationSpec } from '../../services/shared/replication.js';
import type { AutofollowStats, RuleStats } from '../../services/control/autofollow/autofollow.js';
import { kccr } from '../support/cli.js';
import { ADMIN, autofollowEnv, forgetClusters, readerHeaders, registerPlainClusters, startControl } from '../support/control.js';
import type { Control } from '../support/control.js';
import { bulkLines, startHarness, waitForDocuments } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { esConnection, loadStack, uniqueName, waitFor } from '../support/stack.js';

const INTERVAL_MS = 2000;
interface RuleView {
  name: string;
  leader_alias: string;
  follower_cluster: string;
  pattern: string;
  exclude_patterns: string[];
  follower_index_pattern: string;
  created_by: string;
  created_at: string;
  updated_at: string;
}

describe('auto-follow (plain stack, real extractor and applier)', () => {
  let h: Harness;
  let control: Control;
  let env: NodeJS.ProcessEnv;
  const rules: { leader: string; name: string }[] = [];
  const created: { cluster: 'leader' | 'follower'; index: string }[] = [];

  beforeAll(async () => {
    h = await startHarness(loadStack('plain'), 'autofollow');
    env = autofollowEnv(h.names.followerCluster, INTERVAL_MS);
    control = await startControl(h.stack, { followerCluster: h.names.followerCluster, env });
    await registerPlainClusters(control, h.stack, h.names);
    control.state.deps.autofollow.start();
  });
  afterAll(async () => {
    if (control) {
      for (const r of rules) await control.call('DELETE', '/_plugins/_replication/_autofollow', { leader_alias: r.leader, name: r.name });
      await control.state.deps.autofollow.stop();
    }
    // The harness stops this test's replications; then this test's clusters leave the registry and its indices go.
    await h?.close();
    if (control && h)
      for (const s of control.state.deps.replications.list())
        if (s.followerCluster === h.names.followerCluster) created.push({ cluster: 'follower', index: s.followerIndex });
    if (control) await forgetClusters(control, h ? [h.names.leaderCluster, h.names.followerCluster] : []);
    if (h) {
      const es = { leader: new ElasticsearchAdapter(esConnection(h.stack, 'leader')), follower: new ElasticsearchAdapter(esConnection(h.stack, 'follower')) };
      for (const c of created) await es[c.cluster].deleteIndex(c.index).catch(() => undefined);
      await Promise.all([es.leader.close(), es.follower.close()]);
    }
  });

  const engine = () => control.state.deps.autofollow;
  const spec = (followerIndex: string): ReplicationSpec | undefined => control.state.deps.replications.store.get(h.names.followerCluster, followerIndex);
  const specsOfLeader = (leaderIndex: string) =>
    control.state.deps.replications.list().filter((s) => s.followerCluster === h.names.followerCluster && s.leaderIndex === leaderIndex);

  async function addRule(body: Record<string, unknown>, prefix = '/_plugins/_replication') {
    const r = await control.call(`POST`, `${prefix}/_autofollow`, body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ acknowledged: true });
    rules.push({ leader: h.names.leaderCluster, name: String(body.name) });
  }

  async function leaderIndex(index: string, docs: Record<string, unknown> = {}): Promise<void> {
    await h.leader.createIndex(index, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    created.push({ cluster: 'leader', index });
    const entries = Object.entries(docs);
    if (entries.length)
      await h.leader.bulk(
        bulkLines(
          index,
          entries.map(([id, source]) => ({ id, source })),
        ),
        { refresh: 'true' },
      );
  }

  /** Waits until the engine has completed `n` more runs over every rule than now. */
  async function engineRuns(n: number): Promise<void> {
    const target = engine().cycles + n;
    await waitFor(`${n} more auto-follow runs`, async () => engine().cycles >= target, n * INTERVAL_MS + 20_000, 100);
  }

  async function stats(prefix = '/_plugins/_replication'): Promise<AutofollowStats> {
    const r = await control.call<AutofollowStats>('GET', `${prefix}/autofollow_stats`, undefined, readerHeaders);
    expect(r.status).toBe(200);
    return r.body;
  }

  const ruleStats = async (name: string): Promise<RuleStats | undefined> =>
    (await stats()).autofollow_stats.find((s) => s.name === name && s.follower_cluster === h.names.followerCluster);

  it('follows a new matching leader index with its documents within 30 s, and not an excluded one', async () => {
    const prefix = uniqueName('af-new');
    const name = `rule-${prefix}`;
    await addRule({
      leader_alias: h.names.leaderCluster,
      name,
      pattern: `${prefix}-*`,
      exclude_patterns: [`${prefix}-skip*`],
      use_roles: { leader_cluster_role: 'all_access', follower_cluster_role: 'all_access' },
    });
    const listed = await control.call<{ rules: RuleView[] }>(
      'GET',
      `/_plugins/_replication/_autofollow?follower_cluster=${h.names.followerCluster}`,
      undefined,
      readerHeaders,
    );
    expect(listed.body.rules.find((r) => r.name === name)).toMatchObject({
      leader_alias: h.names.leaderCluster,
      follower_cluster: h.names.followerCluster,
      pattern: `${prefix}-*`,
      exclude_patterns: [`${prefix}-skip*`],
      follower_index_pattern: '{{leader_index}}',
      created_by: 'ops-admin',
    });
    // The run right after the rule was added has nothing to do yet.
    await engineRuns(1);

    const skipped = `${prefix}-skip-1`;
    await leaderIndex(skipped, { s: { v: 0 } });
    const index = `${prefix}-a`;
    const t0 = Date.now();
    await leaderIndex(index, { 1: { v: 1 }, 2: { v: 2 }, 3: { v: 3 } });
    const started = await waitFor(`a replication of ${index}`, async () => spec(index), 30_000, 100);
    await waitForDocuments(h.follower, index, { 1: { v: 1 }, 2: { v: 2 }, 3: { v: 3 } }, 30_000);
    const docsMs = Date.now() - t0;
    const startMs = started.createdAt - t0;
    console.log(
      `auto-follow: replication started ${startMs} ms and documents on the follower ${docsMs} ms after the leader index was created (engine interval ${INTERVAL_MS} ms)`,
    );
    expect(docsMs).toBeLessThan(30_000);
    expect(started).toMatchObject({ leaderCluster: h.names.leaderCluster, leaderIndex: index, state: 'active', requestedBy: `autofollow:${name}` });

    // The excluded index existed before the run that started the other one; one more run, and still nothing.
    await engineRuns(1);
    expect(specsOfLeader(skipped)).toEqual([]);
    expect(await h.follower.indexExists(skipped)).toBe(false);
    const ruleAfter = await ruleStats(name);
    expect(ruleAfter).toMatchObject({ pattern: `${prefix}-*`, failed_indices: [] });
    expect(ruleAfter!.executions).toBeGreaterThanOrEqual(3);
  });

  it('does not start again a leader index already followed by hand', async () => {
    const prefix = uniqueName('af-manual');
    const name = `rule-${prefix}`;
    const sameName = `${prefix}-m1`;
    const otherName = `${prefix}-m2`;
    await leaderIndex(sameName, { x: { v: 1 } });
    await leaderIndex(otherName, { y: { v: 1 } });
    for (const [follower, leader] of [
      [sameName, sameName],
      [`${otherName}-by-hand`, otherName],
    ] as const) {
      const r = await control.call('PUT', `/_plugins/_replication/${follower}/_start`, { leader_alias: h.names.leaderCluster, leader_index: leader });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    const before = [spec(sameName), spec(`${otherName}-by-hand`)];

    await addRule({ leader_alias: h.names.leaderCluster, name, pattern: `${prefix}-*` });
    const fresh = `${prefix}-auto`;
    await leaderIndex(fresh, { z: { v: 1 } });
    await waitFor(`a replication of ${fresh}`, async () => spec(fresh), 30_000, 100);
    await engineRuns(1);

    expect([spec(sameName), spec(`${otherName}-by-hand`)]).toEqual(before);
    expect(before.map((s) => s?.requestedBy)).toEqual(['ops-admin', 'ops-admin']);
    expect(specsOfLeader(otherName).map((s) => s.followerIndex)).toEqual([`${otherName}-by-hand`]);
    expect(spec(otherName)).toBeUndefined();
    expect(spec(fresh)?.requestedBy).toBe(`autofollow:${name}`);
  });

  it('names follower indices after follower_index_pattern', async () => {
    const prefix = uniqueName('af-copy');
    const name = `rule-${prefix}`;
    await addRule({
      leader_alias: h.names.leaderCluster,
      name,
      pattern: `${prefix}-*`,
      follower_index_pattern: '{{leader_index}}-copy',
      settings: { index: { number_of_replicas: 0 } },
    });
    const index = `${prefix}-x`;
    await leaderIndex(index, { a: { v: 'copy' } });
    await waitForDocuments(h.follower, `${index}-copy`, { a: { v: 'copy' } }, 30_000);
    expect(spec(`${index}-copy`)).toMatchObject({ leaderIndex: index, requestedBy: `autofollow:${name}`, followerSettings: { number_of_replicas: 0 } });
    expect(spec(index)).toBeUndefined();
    expect(await h.follower.indexExists(index)).toBe(false);
  });

  it('picks up no new index once the rule is deleted; what it started goes on', async () => {
    const prefix = uniqueName('af-del');
    const name = `rule-${prefix}`;
    await addRule({ leader_alias: h.names.leaderCluster, name, pattern: `${prefix}-*` });
    const first = `${prefix}-1`;
    await leaderIndex(first, { a: { v: 1 } });
    await waitForDocuments(h.follower, first, { a: { v: 1 } }, 30_000);

    const del = await control.call('DELETE', '/_opendistro/_replication/_autofollow', { connection: h.names.leaderCluster, name });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    expect(del.body).toEqual({ acknowledged: true });
    const listed = await control.call<{ rules: RuleView[] }>('GET', `/_plugins/_replication/_autofollow?leader_alias=${h.names.leaderCluster}`);
    expect(listed.body.rules.map((r) => r.name)).not.toContain(name);
    const again = await control.call<{ error: { code: string; message: string } }>('DELETE', '/_plugins/_replication/_autofollow', {
      leader_alias: h.names.leaderCluster,
      name,
    });
    expect(again.status).toBe(404);
    expect(again.body.error.message).toContain(`no auto-follow rule ${name}`);

    const second = `${prefix}-2`;
    await leaderIndex(second, { b: { v: 2 } });
    await engineRuns(3);
    expect(spec(second)).toBeUndefined();
    expect(await h.follower.indexExists(second)).toBe(false);
    expect((await stats()).autofollow_stats.map((s) => s.name)).not.toContain(name);
    // The replication the rule started is untouched.
    await h.leader.request('PUT', `/${first}/_doc/c`, { body: { v: 3 } });
    await waitForDocuments(h.follower, first, { a: { v: 1 }, c: { v: 3 } }, 30_000);
    expect(spec(first)?.state).toBe('active');
  });

  it('keeps its rules across a restart of the control service, and the new instance acts on them', async () => {
    const prefix = uniqueName('af-restart');
    const name = `rule-${prefix}`;
    await addRule({
      leader_alias: h.names.leaderCluster,
      name,
      pattern: `${prefix}-*`,
      exclude_patterns: [`${prefix}-skip*`],
      follower_index_pattern: '{{leader_index}}-r',
    });
    const mine = async (c: Control) =>
      (await c.call<{ rules: RuleView[] }>('GET', `/_plugins/_replication/_autofollow?follower_cluster=${h.names.followerCluster}`)).body.rules.find(
        (r) => r.name === name,
      );
    const before = await mine(control);
    expect(before).toBeDefined();

    await control.close();
    control = await startControl(h.stack, { followerCluster: h.names.followerCluster, env });
    expect(await mine(control)).toEqual(before);
    control.state.deps.autofollow.start();

    const index = `${prefix}-1`;
    await leaderIndex(index, { a: { v: 'after restart' } });
    // At once: the start is this instance's to count, even if another control service over the same Kafka (a demo
    // run beside the tests) runs every rule too.
    engine().trigger();
    await waitForDocuments(h.follower, `${index}-r`, { a: { v: 'after restart' } }, 30_000);
    expect(spec(`${index}-r`)).toMatchObject({ leaderIndex: index, requestedBy: `autofollow:${name}` });
    expect(await ruleStats(name)).toMatchObject({ num_success_start_replication: 1 });
  });

  it('counts successes and failures in autofollow_stats, and does not retry a failed index every run', async () => {
    const prefix = uniqueName('af-stats');
    const name = `rule-${prefix}`;
    const occupied = `${prefix}-occupied`;
    const ok = `${prefix}-ok`;
    // An ordinary index of the target name on the follower: the start is refused (409), as PUT .../_start refuses it.
    await h.follower.createIndex(occupied, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
    created.push({ cluster: 'follower', index: occupied });
    await leaderIndex(occupied, { o: { v: 1 } });
    await leaderIndex(ok, { k: { v: 1 } });
    const totalsBefore = await stats();

    // The Open Distro spelling: connection instead of leader_alias.
    await addRule({ connection: h.names.leaderCluster, name, pattern: `${prefix}-*` }, '/_opendistro/_replication');
    const s = await waitFor(
      'a success and a failure in the rule stats',
      async () => {
        const r = await ruleStats(name);
        return r && r.num_success_start_replication === 1 && r.num_failed_start_replication === 1 ? r : undefined;
      },
      30_000,
      200,
    );
    expect(s.failed_indices).toEqual([occupied]);
    expect(s.failures[0]).toMatchObject({ leader_index: occupied, follower_index: occupied, code: 'CONFLICT', attempts: 1 });
    expect(s.failures[0]!.reason).toMatch(/already exists on follower cluster .* not a kccr follower index/);
    expect(s.last_execution_time).toBeGreaterThan(0);
    expect(spec(ok)?.requestedBy).toBe(`autofollow:${name}`);
    expect(spec(occupied)).toBeUndefined();

    // Several more runs: the failure is remembered, not tried again every 2 s.
    await engineRuns(2);
    const later = await ruleStats(name);
    expect(later).toMatchObject({ num_success_start_replication: 1, num_failed_start_replication: 1, failed_indices: [occupied] });
    expect(later!.executions).toBeGreaterThan(s.executions);
    expect(later!.last_execution_time).toBeGreaterThan(s.last_execution_time);

    const totals = await stats('/_opendistro/_replication');
    expect(totals.num_success_start_replication).toBeGreaterThanOrEqual(totalsBefore.num_success_start_replication + 1);
    expect(totals.num_failed_start_replication).toBeGreaterThanOrEqual(totalsBefore.num_failed_start_replication + 1);
    expect(totals.failed_indices).toContain(occupied);
  });

  it('refuses bad rules clearly and replaces a rule of the same name', async () => {
    const prefix = uniqueName('af-bad');
    const name = `rule-${prefix}`;
    const post = (body: Record<string, unknown>) =>
      control.call<{ error: { code: string; message: string } }>('POST', '/_plugins/_replication/_autofollow', body);

    const unknown = await post({ leader_alias: 'no-such-cluster', name, pattern: `${prefix}-*` });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'NOT_FOUND' });
    expect(unknown.body.error.message).toContain('leader cluster no-such-cluster is not registered');
    const badPattern = await post({ leader_alias: h.names.leaderCluster, name, pattern: `${prefix.toUpperCase()}-*` });
    expect(badPattern.status).toBe(400);
    expect(badPattern.body.error.message).toMatch(/is not an index pattern/);
    const noPlaceholder = await post({ leader_alias: h.names.leaderCluster, name, pattern: `${prefix}-*`, follower_index_pattern: 'all-in-one' });
    expect(noPlaceholder.status).toBe(400);
    expect(noPlaceholder.body.error.message).toMatch(/lacks \{\{leader_index\}\}/);
    const shards = await post({ leader_alias: h.names.leaderCluster, name, pattern: `${prefix}-*`, settings: { index: { number_of_shards: 2 } } });
    expect(shards.status).toBe(400);
    const read = await control.call(
      'POST',
      '/_plugins/_replication/_autofollow',
      { leader_alias: h.names.leaderCluster, name, pattern: `${prefix}-*` },
      readerHeaders,
    );
    expect(read.status).toBe(403);

    await addRule({ leader_alias: h.names.leaderCluster, name, pattern: `${prefix}-a*` });
    await addRule({ leader_alias: h.names.leaderCluster, name, pattern: `${prefix}-b*,${prefix}-c*` });
    const listed = (
      await control.call<{ rules: RuleView[] }>('GET', `/_plugins/_replication/_autofollow?follower_cluster=${h.names.followerCluster}`)
    ).body.rules.filter((r) => r.name === name);
    expect(listed).toHaveLength(1);
    expect(listed[0]!.pattern).toBe(`${prefix}-b*,${prefix}-c*`);
    expect(Date.parse(listed[0]!.updated_at)).toBeGreaterThan(Date.parse(listed[0]!.created_at));
  });

  it('kccr autofollow add, list and remove', async () => {
    const url = await control.app.listen({ host: '127.0.0.1', port: 0 });
    const env = { KCCR_CONTROL_URL: url, KCCR_CONTROL_USER: ADMIN.name, KCCR_CONTROL_PASSWORD: ADMIN.password };
    const prefix = uniqueName('af-cli');
    const name = `rule-${prefix}`;
    const lc = h.names.leaderCluster;

    const add = await kccr(
      [
        'autofollow',
        'add',
        name,
        '--leader-cluster',
        lc,
        '--pattern',
        `${prefix}-*`,
        '--exclude',
        `${prefix}-skip*,${prefix}-tmp*`,
        '--follower-pattern',
        '{{leader_index}}-copy',
      ],
      env,
    );
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain(`auto-follow rule ${name}`);
    rules.push({ leader: lc, name });
    const index = `${prefix}-1`;
    await leaderIndex(index, { a: { v: 1 } });
    await waitForDocuments(h.follower, `${index}-copy`, { a: { v: 1 } }, 30_000);

    const list = await kccr(['autofollow', 'list', '--leader-cluster', lc], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/name\s+leader\s+follower cluster\s+pattern\s+exclude\s+follower index\s+started\s+failed/);
    expect(list.stdout).toMatch(
      new RegExp(
        `${name}\\s+${lc}\\s+${h.names.followerCluster}\\s+${prefix}-\\*\\s+${prefix}-skip\\*,${prefix}-tmp\\*\\s+\\{\\{leader_index\\}\\}-copy\\s+\\d+\\s+-`,
      ),
    );
    const json = await kccr(['autofollow', 'list', '--json', '--follower-cluster', h.names.followerCluster], env);
    expect((JSON.parse(json.stdout) as { rules: RuleView[] }).rules.map((r) => r.name)).toContain(name);

    expect((await kccr(['autofollow', 'add', name, '--pattern', 'x-*'], env)).code).toBe(2);
    expect((await kccr(['autofollow', 'frob'], env)).code).toBe(2);
    const bad = await kccr(['autofollow', 'add', name, '--leader-cluster', lc, '--pattern', 'UPPER-*'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not an index pattern/);

    const remove = await kccr(['autofollow', 'remove', name, '--leader-cluster', lc], env);
    expect(remove.code, remove.stderr).toBe(0);
    expect(remove.stdout).toContain(`removed auto-follow rule ${name}`);
    const gone = await kccr(['autofollow', 'remove', name, '--leader-cluster', lc], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`no auto-follow rule ${name}`);
  });
});
