/**
 * The secure Docker Compose set-up (docker-compose.secure.yml), in two one-shot steps:
 *
 * - `init` (service secure-init, before anything starts): a private CA and one server certificate for the compose
 *   host names, a random password for every Kafka and Elasticsearch user, the Kafka broker's configuration with its
 *   SCRAM users to format, the registry's Kafka settings, the control service's users file with one admin token. Each
 *   consumer gets a volume of its own holding only what it needs (kafka, registry, leader, follower, extractor,
 *   applier, control, operator); what only the set-up needs (the CA key, every password) stays in the volume `setup`.
 *   Kept when present: running it again changes nothing.
 * - `grant` (service secure-grant, once Kafka and both clusters answer): the Kafka ACLs of every principal and the
 *   control tables (deploy/local/lib/kafka-acls.ts, the same grants as the local stack's secure mode), the least-
 *   privilege Elasticsearch roles (deploy/local/elasticsearch/roles.yml) and users, and the snapshot repository.
 *   Idempotent.
 *
 * The same code runs outside a container (the integration test test/integration/compose-secure.test.ts starts Kafka
 * and the registry from what `init` writes): every path and address comes in {@link SecureLayout}.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { KafkaAdapter } from '../../../services/shared/adapters/kafka.js';
import type { KafkaConnection } from '../../../services/shared/adapters/kafka.js';
import { newToken, sha256Hex } from '../../../services/control/http/principals.js';
import { RECONCILE_TOPIC, RECONCILE_TOPIC_CONFIGS } from '../../../services/shared/replication.js';
import { CONTROL_TOPICS, TABLE_TOPIC_CONFIGS } from '../../../services/shared/table.js';
import { ensureCertificates } from '../../local/lib/certs.js';
import { clusterId } from '../../local/lib/kafka.js';
import { clusterAcls, KAFKA_USERS, stackAcls, SUPER_USERS } from '../../local/lib/kafka-acls.js';
import { BROKER_USER, brokerProperties, scramClientProperties, scramFormatArgs } from '../../local/lib/kafka-properties.js';
import { httpJson } from '../../local/lib/http.js';
import { isEntryPoint } from '../../../services/shared/entry.js';

/** The volumes `init` fills, one per consumer (docker-compose.secure.yml mounts each in its consumer only). */
export const VOLUMES = ['setup', 'kafka', 'registry', 'leader', 'follower', 'extractor', 'applier', 'control', 'operator'] as const;
export type Volume = (typeof VOLUMES)[number];

export interface SecureLayout {
  /** Where `init` and `grant` find each volume. */
  readonly volume: (v: Volume) => string;
  /** Where the consumer of a volume sees it (in Compose: /run/kccr for every kccr part, Kafka and the registry). */
  readonly mount: (v: Volume) => string;
  /** The broker's client listeners (`host:port` advertised) and its controller; INTERNAL carries inter-broker traffic. */
  readonly kafka: {
    readonly internal: { readonly bind: string; readonly advertise: string };
    readonly external: { readonly bind: string; readonly advertise: string };
    readonly controller: { readonly bind: string; readonly voter: string };
    readonly dataDir: string;
  };
  /** subjectAltName entries of the one server certificate every part serves. */
  readonly certificateNames: readonly string[];
  /** The kccr cluster names the extractor and the applier run for (their Kafka grants are per cluster). */
  readonly clusters: { readonly leader: string; readonly follower: string };
}

/** The layout of docker-compose.secure.yml. */
export const COMPOSE_LAYOUT: SecureLayout = {
  volume: (v) => join('/volumes', v),
  mount: () => '/run/kccr',
  kafka: {
    internal: { bind: ':29092', advertise: 'kafka:29092' },
    external: { bind: ':9092', advertise: '127.0.0.1:9092' },
    controller: { bind: ':9093', voter: 'kafka:9093' },
    dataDir: '/var/lib/kafka/data',
  },
  certificateNames: ['DNS:kafka', 'DNS:registry', 'DNS:leader', 'DNS:follower', 'DNS:control', 'DNS:localhost', 'IP:127.0.0.1'],
  clusters: { leader: 'leader', follower: 'follower' },
};

/** Elasticsearch users `grant` makes, per cluster, with the role of the same file as the local stack. */
export const ES_USERS = { leader: { user: 'kccr-extractor', role: 'kccr_leader' }, follower: { user: 'kccr-applier', role: 'kccr_follower' } } as const;

const ROLES_FILE = join(import.meta.dirname, '..', '..', 'local', 'elasticsearch', 'roles.yml');

function secret(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * Files are 0444 in 0755 folders: the isolation is the volume, mounted in its one consumer only, whose image picks
 * its own user id (Kafka 1000, Elasticsearch 1000, the registry 1001, kccr 1000).
 */
function put(file: string, text: string): void {
  writeFileSync(file, text);
  chmodSync(file, 0o444);
}

/** A random secret kept in the setup volume: made once, then read. */
function kept(layout: SecureLayout, name: string, make: () => string = secret): string {
  const file = join(layout.volume('setup'), name);
  if (!existsSync(file)) {
    writeFileSync(file, make(), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}

export function kafkaPassword(layout: SecureLayout, user: string): string {
  return kept(layout, `kafka-${user}.password`);
}

export function esPassword(layout: SecureLayout, cluster: 'leader' | 'follower', user: string): string {
  return kept(layout, `${cluster}-${user}.password`);
}

export interface InitResult {
  /** The control service admin's API token, when this run made it (shown once). */
  readonly newAdminToken?: string;
}

export function init(layout: SecureLayout): InitResult {
  for (const v of VOLUMES) {
    mkdirSync(layout.volume(v), { recursive: true });
    chmodSync(layout.volume(v), v === 'setup' ? 0o700 : 0o755);
  }
  const setup = layout.volume('setup');
  const certs = ensureCertificates(join(setup, 'certs'), layout.certificateNames);
  const ca = readFileSync(certs.ca, 'utf8');
  const cert = readFileSync(certs.cert, 'utf8');
  const key = readFileSync(certs.key, 'utf8');
  for (const v of VOLUMES) if (v !== 'setup') put(join(layout.volume(v), 'ca.crt'), ca);
  const seen = (v: Volume, file: string) => join(layout.mount(v), file);

  // Kafka: the broker's PEM keystore, its configuration, and the arguments that format its storage with every SCRAM
  // user (read by the java launcher from the file: no password on a command line).
  const kafka = layout.volume('kafka');
  put(join(kafka, 'broker-keystore.pem'), `${key}${cert}`);
  const { internal, external, controller, dataDir } = layout.kafka;
  put(
    join(kafka, 'server.properties'),
    brokerProperties({
      listeners: [
        { name: 'INTERNAL', ...internal },
        { name: 'EXTERNAL', ...external },
      ],
      controller,
      dataDir,
      security: {
        keystore: seen('kafka', 'broker-keystore.pem'),
        truststore: seen('kafka', 'ca.crt'),
        brokerPassword: kafkaPassword(layout, BROKER_USER),
        superUsers: SUPER_USERS,
      },
    }),
  );
  const id = kept(layout, 'kafka-cluster.id', () => clusterId());
  put(
    join(kafka, 'format.args'),
    [
      'kafka.tools.StorageTool',
      'format',
      '-t',
      id,
      '-c',
      seen('kafka', 'server.properties'),
      ...scramFormatArgs(
        KAFKA_USERS.map((u) => u.name),
        (u) => kafkaPassword(layout, u),
      ),
    ].join('\n'),
  );
  // The health check's client: the broker's own user (a super user, already in this volume's server.properties).
  put(join(kafka, 'client.properties'), scramClientProperties('', BROKER_USER, kafkaPassword(layout, BROKER_USER), seen('kafka', 'ca.crt')));

  // The registry's KafkaSQL storage connects as kccr-registry (Apicurio hands apicurio.kafka.common.* to its clients).
  put(
    join(layout.volume('registry'), 'application.properties'),
    scramClientProperties('apicurio.kafka.common.', 'kccr-registry', kafkaPassword(layout, 'kccr-registry'), seen('registry', 'ca.crt')),
  );

  // Elasticsearch: the node certificate (config/certs) and the elastic user's password (ELASTIC_PASSWORD_FILE).
  for (const cluster of ['leader', 'follower'] as const) {
    const dir = layout.volume(cluster);
    put(join(dir, 'node.crt'), cert);
    put(join(dir, 'node.key'), key);
    put(join(dir, 'elastic.password'), esPassword(layout, cluster, 'elastic'));
  }

  // The data-plane services: their Kafka password and their cluster user's.
  put(join(layout.volume('extractor'), 'kafka.password'), kafkaPassword(layout, 'kccr-extractor'));
  put(join(layout.volume('extractor'), 'leader.password'), esPassword(layout, 'leader', ES_USERS.leader.user));
  put(join(layout.volume('applier'), 'kafka.password'), kafkaPassword(layout, 'kccr-applier'));
  put(join(layout.volume('applier'), 'follower.password'), esPassword(layout, 'follower', ES_USERS.follower.user));

  // The control service: HTTPS, its Kafka password, its users file, and the secrets directory the registered
  // clusters' credential files are in (KCCR_CONTROL_SECRETS_DIR).
  const control = layout.volume('control');
  put(join(control, 'node.crt'), cert);
  put(join(control, 'node.key'), key);
  put(join(control, 'kafka.password'), kafkaPassword(layout, 'kccr-control'));
  mkdirSync(join(control, 'secrets'), { recursive: true });
  chmodSync(join(control, 'secrets'), 0o755);
  put(join(control, 'secrets', 'ca.crt'), ca);
  put(join(control, 'secrets', `leader-${ES_USERS.leader.user}.password`), esPassword(layout, 'leader', ES_USERS.leader.user));
  put(join(control, 'secrets', `follower-${ES_USERS.follower.user}.password`), esPassword(layout, 'follower', ES_USERS.follower.user));

  // One admin of the control service. Its token is kept for kccr-setup (volume operator) and shown once.
  const tokenFile = join(setup, 'admin.token');
  const newAdminToken = existsSync(tokenFile) ? undefined : newToken();
  const token = kept(layout, 'admin.token', () => newAdminToken!);
  put(join(control, 'users.json'), `${JSON.stringify([{ name: 'admin', role: 'admin', token_sha256: sha256Hex(token) }], null, 2)}\n`);
  put(join(layout.volume('operator'), 'admin.token'), token);
  return newAdminToken ? { newAdminToken } : {};
}

/** How the set-up reaches Kafka: over TLS as kccr-admin (a super user). */
export function adminConnection(layout: SecureLayout, broker: string): KafkaConnection {
  return {
    brokers: [broker],
    clientId: 'kccr-secure-setup',
    ssl: { ca: readFileSync(join(layout.volume('setup'), 'certs', 'ca.crt'), 'utf8') },
    sasl: { mechanism: 'scram-sha-512', username: 'kccr-admin', password: kafkaPassword(layout, 'kccr-admin') },
  };
}

/** The Kafka part of `grant`: every principal's ACLs (for the layout's cluster names) and the control tables. */
export async function grantKafka(layout: SecureLayout, broker: string): Promise<void> {
  const kafka = new KafkaAdapter(adminConnection(layout, broker));
  try {
    await kafka.createAcls([...stackAcls(), ...clusterAcls({ leaderCluster: layout.clusters.leader, followerCluster: layout.clusters.follower })]);
    for (const topic of Object.values(CONTROL_TOPICS)) await kafka.ensureTopic(topic, 1, { ...TABLE_TOPIC_CONFIGS });
    await kafka.ensureTopic(RECONCILE_TOPIC, 1, { ...RECONCILE_TOPIC_CONFIGS });
  } finally {
    await kafka.close();
  }
}

/** The least-privilege roles of roles.yml, as the role API takes them. */
export function esRoles(): Record<string, unknown> {
  return parseYaml(readFileSync(ROLES_FILE, 'utf8')) as Record<string, unknown>;
}

export interface EsAdmin {
  readonly url: string;
  readonly ca: string;
  readonly auth: { readonly username: string; readonly password: string };
}

async function esCall(admin: EsAdmin, method: string, path: string, body: unknown): Promise<void> {
  const r = await httpJson(`${admin.url}${path}`, { method, ca: admin.ca, auth: admin.auth, body, timeoutMs: 30_000 });
  if (r.status !== 200 && r.status !== 201) throw new Error(`${method} ${path} on ${admin.url} answered ${r.status}: ${r.text}`);
}

/**
 * The Elasticsearch part of `grant` for one cluster: its kccr role and user (native realm, with the password `init`
 * made), and the shared snapshot repository (written by the leader, read by the follower).
 */
export async function grantElasticsearch(
  layout: SecureLayout,
  cluster: 'leader' | 'follower',
  admin: EsAdmin,
  opts: { roleName?: string; userName?: string; snapshots?: string } = {},
): Promise<void> {
  const { user, role } = ES_USERS[cluster];
  const roleName = opts.roleName ?? role;
  await esCall(admin, 'PUT', `/_security/role/${roleName}`, esRoles()[role]);
  await esCall(admin, 'PUT', `/_security/user/${opts.userName ?? user}`, { password: esPassword(layout, cluster, user), roles: [roleName] });
  if (opts.snapshots)
    await esCall(admin, 'PUT', '/_snapshot/kccr-shared', { type: 'fs', settings: { location: opts.snapshots, readonly: cluster === 'follower' } });
}

/** What `init` wrote, for a person checking the volumes: names and sizes, never contents. */
export function listing(layout: SecureLayout): string[] {
  return VOLUMES.filter((v) => v !== 'setup').flatMap((v) =>
    readdirSync(layout.volume(v), { recursive: true, encoding: 'utf8' }).map((f) => `${v}/${f} (${statSync(join(layout.volume(v), f)).size} bytes)`),
  );
}

async function main(step: string | undefined): Promise<void> {
  const layout = COMPOSE_LAYOUT;
  if (step === 'init') {
    const result = init(layout);
    for (const line of listing(layout)) console.log(`secure-init: ${line}`);
    if (result.newAdminToken) {
      console.log(`secure-init: the control service's admin API token (shown once; also in the volume operator, admin.token):`);
      console.log(`  ${result.newAdminToken}`);
    }
    return;
  }
  if (step === 'grant') {
    await grantKafka(layout, layout.kafka.internal.advertise);
    console.log(`secure-grant: Kafka ACLs for ${KAFKA_USERS.map((u) => u.name).join(', ')} and the control tables are in place`);
    const ca = readFileSync(join(layout.volume('setup'), 'certs', 'ca.crt'), 'utf8');
    for (const cluster of ['leader', 'follower'] as const) {
      const admin = { url: `https://${cluster}:9200`, ca, auth: { username: 'elastic', password: esPassword(layout, cluster, 'elastic') } };
      await grantElasticsearch(layout, cluster, admin, { snapshots: '/snapshots' });
      console.log(`secure-grant: ${cluster}: role ${ES_USERS[cluster].role}, user ${ES_USERS[cluster].user}, snapshot repository kccr-shared`);
    }
    return;
  }
  throw new Error(`usage: setup.ts init|grant (received ${JSON.stringify(step ?? '')})`);
}

if (isEntryPoint(import.meta.url)) {
  main(process.argv[2]).catch((e: unknown) => {
    console.error(`secure set-up failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
