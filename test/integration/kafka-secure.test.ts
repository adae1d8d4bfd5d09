/**
 * Kafka in the secure stack (docs/operations/security.md, "Kafka principals and ACLs"): SASL_SSL with SCRAM-SHA-512 on
 * every listener, StandardAuthorizer without allow-everyone, one principal per kccr part. Whoever reaches Kafka without
 * a password gets nothing; the extractor's principal, which a leader-side host holds, cannot write a replication spec
 * (which would start or stop replication) nor create topics outside its change-topic prefix; the applier's cannot
 * write the change topics it reads. That the services work end to end with these principals is shown by the secure
 * walkthrough, control-secure and credentials tests, which run with them.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaAdapter } from '../../services/shared/adapters/kafka.js';
import type { KafkaAcl, KafkaConnection } from '../../services/shared/adapters/kafka.js';
import { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { ReplicationStore } from '../../services/control/replication/store.js';
import { KccrError } from '../../services/shared/errors.js';
import type { ExtractorStatus } from '../../services/shared/replication.js';
import { extractorStatusKey, RECONCILE_TOPIC } from '../../services/shared/replication.js';
import { CompactedTable, CONTROL_TOPICS } from '../../services/shared/table.js';
import { changeTopic } from '../../services/shared/topics.js';
import { clusterAcls } from '../../deploy/local/lib/kafka-acls.js';
import type { StackState } from '../../deploy/local/lib/state.js';
import { startService } from '../support/services.js';
import { esConnection, kafkaConnection, loadStack, uniqueName, waitFor } from '../support/stack.js';

/** The refusal a call ended with, as kccr's adapter classifies it. */
async function refusal(p: Promise<unknown>): Promise<KccrError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'the call succeeded, but Kafka should have refused it').toBeInstanceOf(KccrError);
  return e as KccrError;
}

describe('Kafka in the secure stack: authentication and least-privilege principals', () => {
  let stack: StackState;
  const names = { leaderCluster: uniqueName('ksec-lc'), followerCluster: uniqueName('ksec-fc') };
  const adapters: KafkaAdapter[] = [];
  /** This test's grants, removed at the end (nothing uses its cluster names afterwards). */
  const grants: KafkaAcl[] = [];
  const as = (user: string, tuning?: { retries: number; connectTimeout: number }) => {
    const a = new KafkaAdapter(kafkaConnection(stack, `kccr-test-${user}`, user), undefined, tuning);
    adapters.push(a);
    return a;
  };
  const raw = (conn: Omit<KafkaConnection, 'clientId'>) => {
    const a = new KafkaAdapter({ ...conn, clientId: 'kccr-test-intruder' }, undefined, { retries: 0, connectTimeout: 3000 });
    adapters.push(a);
    return a;
  };

  beforeAll(async () => {
    stack = loadStack('secure');
    expect(stack.kafka.sasl?.mechanism, 'the secure stack names its Kafka SASL mechanism in stack.json').toBe('scram-sha-512');
    // This test's cluster names, granted as an operator grants a registered cluster's.
    grants.push(...clusterAcls(names));
    await as('kccr-admin').createAcls(grants);
  });
  afterAll(async () => {
    if (stack) await as('kccr-admin').deleteAcls(grants);
    await Promise.all(adapters.map((a) => a.close()));
  });

  it('refuses clients without credentials, without TLS, or with a wrong password', async () => {
    const { brokers, tls } = stack.kafka;
    const ca = readFileSync(tls!.caFile, 'utf8');
    // Plaintext to a TLS listener, and TLS without SASL: no request is answered.
    expect((await refusal(raw({ brokers }).clusterReady())).message).toMatch(/requires TLS|closed|reset/i);
    expect((await refusal(raw({ brokers, ssl: { ca } }).clusterReady())).message).toMatch(/closed|reset/i);
    // A real user with another user's password: the SASL exchange fails, which kccr reports as refused credentials.
    const wrong = readFileSync(stack.kafka.sasl!.users['kccr-applier']!.passwordFile, 'utf8').trim();
    const e = await refusal(raw({ brokers, ssl: { ca }, sasl: { mechanism: 'scram-sha-512', username: 'kccr-extractor', password: wrong } }).clusterReady());
    expect(e.code).toBe('KAFKA_UNAUTHORIZED');
    expect(e.details.kafkaError).toBe('SASL_AUTHENTICATION_FAILED');
    expect(e.retriable).toBe(false);
    // The right password is let in.
    expect(await as('kccr-extractor').clusterReady()).toBe(true);
  });

  it("the extractor's principal cannot write a replication spec, while the control service's can", async () => {
    const spec = {
      followerCluster: names.followerCluster,
      followerIndex: uniqueName('ksec-f'),
      leaderCluster: names.leaderCluster,
      leaderIndex: uniqueName('ksec-l'),
      state: 'syncing',
      requestedBy: 'intruder',
    };
    const key = `${spec.followerCluster}/${spec.followerIndex}`;
    const extractor = as('kccr-extractor').producer();
    try {
      const e = await refusal(extractor.send(CONTROL_TOPICS.replications, [{ key, value: Buffer.from(JSON.stringify(spec)), partition: 0 }]));
      expect(e.code).toBe('KAFKA_UNAUTHORIZED');
      expect(e.details.kafkaError).toBe('TOPIC_AUTHORIZATION_FAILED');
      // Nor the registered clusters (which name where credentials go) or the auto-follow rules.
      for (const topic of [CONTROL_TOPICS.clusters, CONTROL_TOPICS.autofollow]) {
        expect((await refusal(extractor.send(topic, [{ key, value: null, partition: 0 }]))).details.kafkaError).toBe('TOPIC_AUTHORIZATION_FAILED');
      }
      // Its own tables it does write (a tombstone of a key nobody uses).
      await extractor.send(CONTROL_TOPICS.cursors, [{ key: uniqueName('ksec-nobody'), value: null, partition: 0 }]);
    } finally {
      await extractor.disconnect();
    }
    // The same record kind from the control service's principal goes through: the refusal above is about who sent it.
    const control = as('kccr-control').producer();
    try {
      await control.send(CONTROL_TOPICS.replications, [{ key: uniqueName('ksec-nobody'), value: null, partition: 0 }]);
    } finally {
      await control.disconnect();
    }
  });

  it("the extractor's principal creates change topics under its own prefix only", async () => {
    const extractor = as('kccr-extractor');
    expect(await extractor.ensureTopic(changeTopic(names.leaderCluster, uniqueName('ksec-index')), 1)).toBe('created');
    for (const topic of [changeTopic(uniqueName('ksec-other-lc'), 'index'), `kccr._${uniqueName('ksec-table')}`, uniqueName('ksec-anything')]) {
      const e = await refusal(extractor.ensureTopic(topic, 1));
      expect(e.code, topic).toBe('KAFKA_UNAUTHORIZED');
      expect(e.details.kafkaError, topic).toBe('TOPIC_AUTHORIZATION_FAILED');
      expect(await as('kccr-admin').partitionCount(topic), `${topic} was not created`).toBeUndefined();
    }
  });

  it("the applier's principal reads change topics but cannot write them, nor replication specs", async () => {
    const topic = changeTopic(names.leaderCluster, uniqueName('ksec-index'));
    await as('kccr-admin').ensureTopic(topic, 1);
    const applier = as('kccr-applier');
    expect((await applier.offsets(topic)).map((o) => o.high)).toEqual(['0']);
    const producer = applier.producer();
    try {
      expect((await refusal(producer.send(topic, [{ key: 'forged', value: Buffer.from('x'), partition: 0 }]))).details.kafkaError).toBe(
        'TOPIC_AUTHORIZATION_FAILED',
      );
      expect((await refusal(producer.send(CONTROL_TOPICS.replications, [{ key: 'forged', value: null, partition: 0 }]))).details.kafkaError).toBe(
        'TOPIC_AUTHORIZATION_FAILED',
      );
      // What it does write: reconcile requests (here an empty record nobody acts on: not valid JSON).
      await producer.send(RECONCILE_TOPIC, [{ key: uniqueName('ksec-nobody'), value: null, partition: 0 }]);
    } finally {
      await producer.disconnect();
    }
  });

  it('an extractor whose leader cluster has no grant yet shows FAILED with the refusal, and goes on once it is granted', async () => {
    const ungranted = { leaderCluster: uniqueName('ksec-ng-lc'), followerCluster: uniqueName('ksec-ng-fc') };
    const leaderIndex = uniqueName('ksec-ng-leader');
    const admin = as('kccr-admin');
    const store = new ReplicationStore(admin);
    const status = new CompactedTable<ExtractorStatus>(admin, CONTROL_TOPICS.status);
    const leader = new ElasticsearchAdapter(esConnection(stack, 'leader'));
    await Promise.all([store.open(), status.open()]);
    const extractor = startService(stack, 'extractor', ungranted, 'kafka-secure');
    try {
      await leader.createIndex(leaderIndex, { settings: { index: { number_of_shards: 1, number_of_replicas: 0 } } });
      await leader.request('POST', `/${leaderIndex}/_doc/1`, { body: { value: 'data1' }, query: { refresh: 'true' } });
      await store.start({
        followerCluster: ungranted.followerCluster,
        followerIndex: uniqueName('ksec-ng-follower'),
        leaderCluster: ungranted.leaderCluster,
        leaderIndex,
        requestedBy: 'test',
      });
      const topic = changeTopic(ungranted.leaderCluster, leaderIndex);
      const failed = await waitFor('the extractor to report failed', async () => {
        const row = status.get(extractorStatusKey(ungranted.leaderCluster, leaderIndex));
        return row?.state === 'failed' ? row : undefined;
      });
      expect(failed.reason).toMatch(/creating topic kccr\..*TOPIC_AUTHORIZATION_FAILED/);
      expect(await admin.partitionCount(topic)).toBeUndefined();
      // The operator's grant: probed again (every 2 s in tests), the extraction goes on without a restart.
      grants.push(...clusterAcls(ungranted));
      await admin.createAcls(clusterAcls(ungranted));
      await waitFor(
        'the document in the change topic',
        async () => (await admin.partitionCount(topic)) === 1 && (await admin.offsets(topic))[0]!.high !== '0',
        60_000,
        500,
      );
      // The status row follows at the next report: FAILED no more.
      await waitFor('the extractor to report it no longer fails', async () => {
        const state = status.get(extractorStatusKey(ungranted.leaderCluster, leaderIndex))?.state;
        return state !== undefined && state !== 'failed';
      });
      expect(extractor.starts).toBe(1);
    } finally {
      await extractor.stop();
      for (const spec of store.list())
        if (spec.followerCluster === ungranted.followerCluster) await store.setState(spec.followerCluster, spec.followerIndex, 'stopped', 'test cleanup');
      await Promise.all([store.close(), status.close()]);
      await leader.deleteIndex(leaderIndex);
      await leader.close();
    }
  });

  it('keeps every Kafka password in a file of mode 600 and off every command line', () => {
    const users = stack.kafka.sasl!.users;
    expect(Object.keys(users).sort()).toEqual(['kccr-admin', 'kccr-applier', 'kccr-broker', 'kccr-control', 'kccr-extractor', 'kccr-registry']);
    const passwords = Object.values(users).map((u) => {
      expect(statSync(u.passwordFile).mode & 0o777, u.passwordFile).toBe(0o600);
      return readFileSync(u.passwordFile, 'utf8').trim();
    });
    // The broker's settings hold its own password (PLAIN on the controller listener, SCRAM between brokers).
    const serverProperties = join(dirname(users['kccr-admin']!.passwordFile), '..', 'kafka', 'server.properties');
    // Root's, readable by the group of the user Kafka runs as (the launcher as root), else its owner's alone.
    expect(statSync(serverProperties).mode & 0o777).toBe(process.getuid?.() === 0 ? 0o640 : 0o600);
    if (process.getuid?.() === 0) expect(statSync(serverProperties).uid).toBe(0);
    expect(readFileSync(serverProperties, 'utf8')).not.toMatch(/ANONYMOUS|allow\.everyone\.if\.no\.acl\.found=true|PLAINTEXT/);
    // What `ps` shows of every process on this machine (the stack's Kafka and registry among them).
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue; // ended meanwhile
      }
      for (const p of passwords) expect(cmdline.includes(p), `a Kafka password on the command line of process ${pid}`).toBe(false);
    }
  });
});
