/**
 * The secure Docker Compose set-up (docker-compose.secure.yml, deploy/docker/secure) checked without Docker: what its
 * secure-init writes is run here as the containers run it. Kafka is started by the same kafka-start.sh from the same
 * server.properties and format arguments, the registry with the same environment and settings file, secure-grant's
 * Kafka ACLs are made on that Kafka. Only the addresses differ (127.0.0.1 and free ports instead of the compose host
 * names), and each volume is a folder. What this cannot check: Docker itself (images, volume mounts, user ids), and
 * secure-grant's Elasticsearch calls (native-realm roles and users): the stack's integration-test distribution cannot
 * create the security index they need (it lacks the analysis-common module: "Unknown filter type [pattern_capture]").
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { KafkaAdapter } from '../../services/shared/adapters/kafka.js';
import { KccrError } from '../../services/shared/errors.js';
import { CONTROL_TOPICS } from '../../services/shared/table.js';
import { changeTopic } from '../../services/shared/topics.js';
import { findJava } from '../../deploy/local/lib/checks.js';
import { readStackConfig } from '../../deploy/local/lib/config.js';
import { fetchKafka } from '../../deploy/local/lib/fetch.js';
import { fetchRegistry, registryJavaMajor } from '../../deploy/local/lib/registry.js';
import { httpJson } from '../../deploy/local/lib/http.js';
import type { SecureLayout, Volume } from '../../deploy/docker/secure/setup.js';
import { adminConnection, grantKafka, init, kafkaPassword, VOLUMES } from '../../deploy/docker/secure/setup.js';
import { freePort, uniqueName, waitFor } from '../support/stack.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** The environment docker-compose.secure.yml gives a service (its `environment:` mapping, merged over the base file's). */
function composeEnvironment(service: string): Record<string, string> {
  const read = (file: string) =>
    (parseYaml(readFileSync(join(ROOT, file), 'utf8')) as { services: Record<string, { environment?: Record<string, unknown> }> }).services;
  const env = { ...read('docker-compose.yml')[service]?.environment, ...read('docker-compose.secure.yml')[service]?.environment };
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

describe('the secure Compose set-up, run outside containers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kccr-compose-secure-'));
  const procs: ChildProcess[] = [];
  const adapters: KafkaAdapter[] = [];
  let layout: SecureLayout;
  let broker: string;

  function start(what: string, command: string, args: string[], env: NodeJS.ProcessEnv, cwd = dir): ChildProcess {
    const log = openSync(join(dir, `${what}.log`), 'a');
    const p = spawn(command, args, { env, cwd, stdio: ['ignore', log, log], detached: true });
    closeSync(log);
    procs.push(p);
    return p;
  }
  const as = (user: string) => {
    const a = new KafkaAdapter(
      {
        brokers: [broker],
        clientId: `kccr-compose-test-${user}`,
        ssl: { ca: readFileSync(join(layout.volume('extractor'), 'ca.crt'), 'utf8') },
        sasl: { mechanism: 'scram-sha-512', username: user, password: kafkaPassword(layout, user) },
      },
      undefined,
      { retries: 0, connectTimeout: 3000 },
    );
    adapters.push(a);
    return a;
  };

  beforeAll(async () => {
    const [internal, external, controller] = [await freePort(), await freePort(), await freePort()];
    broker = `127.0.0.1:${internal}`;
    layout = {
      volume: (v: Volume) => join(dir, 'volumes', v),
      mount: (v: Volume) => join(dir, 'volumes', v),
      kafka: {
        internal: { bind: broker, advertise: broker },
        external: { bind: `127.0.0.1:${external}`, advertise: `127.0.0.1:${external}` },
        controller: { bind: `127.0.0.1:${controller}`, voter: `127.0.0.1:${controller}` },
        dataDir: join(dir, 'kafka-data'),
      },
      certificateNames: ['DNS:localhost', 'IP:127.0.0.1'],
      clusters: { leader: uniqueName('csec-lc'), follower: uniqueName('csec-fc') },
    };
    const first = init(layout);
    expect(first.newAdminToken, 'the first init makes the admin token').toMatch(/^kccr_/);
    expect(init(layout).newAdminToken, 'a second init keeps everything').toBeUndefined();

    const config = readStackConfig();
    const java = findJava('Apache Kafka 4', 17, 'KCCR_JAVA_HOME');
    const libs = fetchKafka(config);
    start('kafka', join(ROOT, 'deploy/docker/secure/kafka-start.sh'), [], {
      PATH: process.env.PATH,
      JAVA_HOME: java.home,
      KAFKA_HOME: dirname(libs),
      KCCR_KAFKA_SECRETS: layout.mount('kafka'),
      KAFKA_HEAP_OPTS: '-Xmx256m -Xms256m',
    });
    const admin = new KafkaAdapter(adminConnection(layout, broker), undefined, { retries: 0, connectTimeout: 2000 });
    adapters.push(admin);
    await waitFor('Kafka from the compose set-up answers', () => admin.clusterReady().catch(() => false), 90_000, 1000);
    await grantKafka(layout, broker);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(adapters.map((a) => a.close()));
    for (const p of procs) if (p.pid && p.exitCode === null) process.kill(-p.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives each consumer a volume with its own secrets only', () => {
    const has = (v: Volume, file: string) => {
      try {
        return statSync(join(layout.volume(v), file)).isFile();
      } catch {
        return false;
      }
    };
    // The extractor holds its Kafka and leader passwords, not the applier's, the control service's or the CA key.
    expect(has('extractor', 'kafka.password') && has('extractor', 'leader.password')).toBe(true);
    expect(readFileSync(join(layout.volume('extractor'), 'kafka.password'), 'utf8')).toBe(kafkaPassword(layout, 'kccr-extractor'));
    for (const v of VOLUMES.filter((x) => x !== 'setup')) expect(has(v, 'certs/ca.key') || has(v, 'ca.key'), v).toBe(false);
    expect(has('applier', 'leader.password') || has('extractor', 'follower.password') || has('registry', 'kafka.password')).toBe(false);
    // No password of another principal leaks into Kafka's or the registry's files.
    const kafkaFiles = ['server.properties', 'client.properties'].map((f) => readFileSync(join(layout.volume('kafka'), f), 'utf8')).join('\n');
    expect(kafkaFiles).not.toContain(kafkaPassword(layout, 'kccr-admin'));
    expect(readFileSync(join(layout.volume('registry'), 'application.properties'), 'utf8')).not.toContain(kafkaPassword(layout, 'kccr-control'));
    // The control service's users file holds the token's hash, not the token.
    const token = readFileSync(join(layout.volume('operator'), 'admin.token'), 'utf8');
    expect(readFileSync(join(layout.volume('control'), 'users.json'), 'utf8')).not.toContain(token);
  });

  it('runs Kafka with SCRAM over TLS only, and the principals get what the ACLs grant', async () => {
    // Without a password nothing is answered; a wrong password is refused.
    const ca = readFileSync(join(layout.volume('extractor'), 'ca.crt'), 'utf8');
    const intruder = new KafkaAdapter({ brokers: [broker], clientId: 'kccr-compose-intruder', ssl: { ca } }, undefined, { retries: 0, connectTimeout: 3000 });
    adapters.push(intruder);
    await expect(intruder.clusterReady()).rejects.toThrow();
    const wrong = new KafkaAdapter(
      { brokers: [broker], clientId: 'kccr-compose-wrong', ssl: { ca }, sasl: { mechanism: 'scram-sha-512', username: 'kccr-extractor', password: 'not-it' } },
      undefined,
      { retries: 0, connectTimeout: 3000 },
    );
    adapters.push(wrong);
    await expect(wrong.clusterReady()).rejects.toMatchObject({ code: 'KAFKA_UNAUTHORIZED' });

    // The extractor cannot write a replication spec; it writes its own change topics; the control service writes specs.
    const extractor = as('kccr-extractor');
    const producer = extractor.producer();
    try {
      const e = await producer.send(CONTROL_TOPICS.replications, [{ key: 'f/x', value: Buffer.from('{}'), partition: 0 }]).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(KccrError);
      expect((e as KccrError).details.kafkaError).toBe('TOPIC_AUTHORIZATION_FAILED');
      const topic = changeTopic(layout.clusters.leader, uniqueName('csec-index'));
      expect(await extractor.ensureTopic(topic, 1)).toBe('created');
      await producer.send(topic, [{ key: 'k', value: Buffer.from('v'), partition: 0 }]);
    } finally {
      await producer.disconnect();
    }
    const control = as('kccr-control').producer();
    try {
      await control.send(CONTROL_TOPICS.replications, [{ key: uniqueName('csec-nobody'), value: null, partition: 0 }]);
    } finally {
      await control.disconnect();
    }
  });

  it('starts the registry on that Kafka with the environment and settings file of the compose registry service', async () => {
    const config = readStackConfig();
    const jar = fetchRegistry(config, config.registryVersion);
    const java = findJava('Apicurio Registry', registryJavaMajor(config.registryVersion), 'KCCR_REGISTRY_JAVA_HOME');
    const [http, management] = [await freePort(), await freePort()];
    const env = composeEnvironment('registry');
    expect(env.QUARKUS_CONFIG_LOCATIONS, 'the compose registry reads its Kafka credentials from the registry volume').toBe('/run/kccr/application.properties');
    start('registry', java.java, ['-Xmx192m', '-jar', jar], {
      PATH: process.env.PATH,
      ...env,
      // Only addresses and the volume's place differ from the container.
      APICURIO_KAFKASQL_BOOTSTRAP_SERVERS: broker,
      QUARKUS_CONFIG_LOCATIONS: join(layout.mount('registry'), 'application.properties'),
      QUARKUS_HTTP_HOST: '127.0.0.1',
      QUARKUS_HTTP_PORT: String(http),
      QUARKUS_MANAGEMENT_HOST: '127.0.0.1',
      QUARKUS_MANAGEMENT_PORT: String(management),
    });
    await waitFor(
      'the registry is ready',
      async () => (await httpJson(`http://127.0.0.1:${management}/health/ready`, { timeoutMs: 2000 }).catch(() => ({ status: 0 }))).status === 200,
      150_000,
      1000,
    );
    const subject = uniqueName('csec-subject');
    const schema = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }] });
    const r = await httpJson(`http://127.0.0.1:${http}/apis/ccompat/v7/subjects/${subject}/versions`, {
      method: 'POST',
      body: { schema },
      timeoutMs: 30_000,
    });
    expect(r.status, r.text).toBe(200);
    expect((r.body as { id?: number }).id).toBeGreaterThan(0);
  }, 240_000);
});
