import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { KafkaAdapter } from '../../../services/shared/adapters/kafka.js';
import type { KafkaConnection } from '../../../services/shared/adapters/kafka.js';
import { RECONCILE_TOPIC, RECONCILE_TOPIC_CONFIGS } from '../../../services/shared/replication.js';
import { CONTROL_TOPICS, TABLE_TOPIC_CONFIGS } from '../../../services/shared/table.js';
import { KAFKA_USERS, stackAcls, SUPER_USERS } from './kafka-acls.js';
import { BROKER_USER, brokerProperties, scramFormatArgs } from './kafka-properties.js';
import type { StackConfig } from './config.js';
import { stackPaths } from './config.js';
import type { JavaHome } from './checks.js';
import { ownedDir, writeFileNoFollow } from './files.js';
import type { Owner } from './files.js';
import { isAlive, pidFile, readPid, run, startDetached, waitUntil } from './procs.js';
import { asUser, ensureSystemUser } from './users.js';

export const KAFKA_PART = 'kafka';

/** Where a Kafka user's password lives in secure mode (mode 600, like the Elasticsearch users'). */
export function kafkaPasswordFile(config: StackConfig, user: string): string {
  return stackPaths(config).kafkaPassword(user);
}

/** The broker's TLS key and certificate in one PEM file (Kafka's PEM keystore), made from the stack's certificates. */
function kafkaKeystore(config: StackConfig): string {
  return join(config.stackDir, 'kafka', 'broker-keystore.pem');
}

/** The stack's CA, beside the broker's files (the certificates' own folder is root's alone). */
function kafkaTruststore(config: StackConfig): string {
  return join(config.stackDir, 'kafka', 'ca.crt');
}

/** The users formatted into the storage (a marker beside it): a storage formatted without them cannot take SCRAM. */
function scramMarker(config: StackConfig): string {
  return join(config.stackDir, 'kafka', 'scram-users');
}

function password(config: StackConfig, user: string): string {
  return readFileSync(kafkaPasswordFile(config, user), 'utf8').trim();
}

/**
 * CLIENT (PLAINTEXT in plain mode) for clients; PROXIED, a second listener that advertises the proxy's port, not its
 * own: a client that bootstraps through a proxy on that port is sent back to it by the metadata, so every request of
 * that client crosses the proxy (the fault tests stall it there). Secure mode: kafka-properties.ts.
 */
function serverProperties(config: StackConfig): string {
  const { kafka, kafkaController, kafkaProxied, kafkaProxy } = config.ports;
  const at = (port: number) => `127.0.0.1:${port}`;
  return brokerProperties({
    listeners: [
      { name: config.secure ? 'CLIENT' : 'PLAINTEXT', bind: at(kafka), advertise: at(kafka) },
      { name: 'PROXIED', bind: at(kafkaProxied), advertise: at(kafkaProxy) },
    ],
    controller: { bind: at(kafkaController), voter: at(kafkaController) },
    dataDir: stackPaths(config).kafkaData,
    security: config.secure
      ? { keystore: kafkaKeystore(config), truststore: kafkaTruststore(config), brokerPassword: password(config, BROKER_USER), superUsers: SUPER_USERS }
      : undefined,
  });
}

/**
 * Whether a running Kafka was started with the configuration this version writes (the file is written on start):
 * a stack started by an older version lacks, for example, the PROXIED listener until Kafka restarts.
 */
export function kafkaConfigCurrent(config: StackConfig): boolean {
  const file = stackPaths(config).kafkaConfig;
  try {
    return existsSync(file) && readFileSync(file, 'utf8') === serverProperties(config);
  } catch {
    return false; // a secure stack's password files are gone
  }
}

/** A file holding a secret: root's and readable by Kafka's group when Kafka runs as its own user, else 600. */
function secretMode(root: Owner | undefined): number {
  return root ? 0o640 : 0o600;
}

/** A base64url UUID, the form KRaft expects for a cluster id. */
export function clusterId(random: () => Buffer = () => randomBytes(16)): string {
  // One in 64 starts with '-', which the storage tool's argument parser takes for an option ("--cluster-id:
  // expected one argument"): drawn again.
  for (;;) {
    const id = random().toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * Secure mode: a password per Kafka user (kept when there is one), and the broker's PEM keystore. A storage
 * formatted without these users (a plain stack's, or an older secure stack's) cannot be given them here: SCRAM users
 * are formatted into the storage, so that the broker can check its very first connection.
 */
function prepareSecureKafka(config: StackConfig, formatted: boolean, root: Owner | undefined): void {
  const p = stackPaths(config);
  mkdirSync(p.secrets, { recursive: true, mode: 0o700 });
  if (formatted) {
    const marker = existsSync(scramMarker(config)) ? readFileSync(scramMarker(config), 'utf8').split('\n') : [];
    const missing = KAFKA_USERS.filter((u) => !marker.includes(u.name) || !existsSync(kafkaPasswordFile(config, u.name)));
    if (missing.length > 0) {
      throw new Error(
        `kafka: the storage in ${p.kafkaData} was formatted without the secure mode's users (${missing.map((u) => u.name).join(', ')}): it was made by a plain stack or an older version. \`npm run stack:down -- --purge\` (with this KCCR_STACK_DIR) deletes it, with the stack's data; then start again`,
      );
    }
  }
  for (const u of KAFKA_USERS) {
    const file = kafkaPasswordFile(config, u.name);
    if (!existsSync(file)) writeFileNoFollow(file, randomBytes(18).toString('base64url'), 0o600);
  }
  // Root's, readable by Kafka's user only.
  writeFileNoFollow(
    kafkaKeystore(config),
    `${readFileSync(join(p.certs, 'node.key'), 'utf8')}${readFileSync(join(p.certs, 'node.crt'), 'utf8')}`,
    secretMode(root),
    root,
  );
  writeFileNoFollow(kafkaTruststore(config), readFileSync(join(p.certs, 'ca.crt'), 'utf8'), 0o640, root);
}

/**
 * Formats the KRaft storage, as Kafka's user; in secure mode with every SCRAM user. The java launcher reads the whole
 * command from an argument file (mode 600, that user's, deleted at once), so that no password is on a command line
 * that `ps` shows.
 */
function formatStorage(config: StackConfig, java: JavaHome, args: readonly string[], owner: Owner | undefined): void {
  const p = stackPaths(config);
  const scram = config.secure
    ? scramFormatArgs(
        KAFKA_USERS.map((u) => u.name),
        (user) => password(config, user),
      )
    : [];
  const argFile = join(config.stackDir, 'kafka', 'format.args');
  writeFileNoFollow(argFile, [...args, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', p.kafkaConfig, ...scram].join('\n'), 0o600, owner);
  try {
    const cmd = asUser(owner, java.java, [`@${argFile}`]);
    run(cmd.command, cmd.args, { cwd: join(config.stackDir, 'kafka'), what: 'formatting the Kafka KRaft storage' });
  } finally {
    rmSync(argFile, { force: true });
  }
  if (config.secure) writeFileNoFollow(scramMarker(config), KAFKA_USERS.map((u) => u.name).join('\n'), 0o644);
}

/**
 * Starts the broker. When the launcher is root, Kafka runs as its own user (KCCR_KAFKA_USER), which owns its data
 * folder (0750) and nothing else; its folder and configuration are root's, readable by that user's group (files.ts).
 */
export function startKafka(config: StackConfig, libs: string, java: JavaHome): number {
  const p = stackPaths(config);
  const owner = ensureSystemUser(config.kafkaUser, 'Kafka runs as an unprivileged user');
  const root = owner ? { uid: 0, gid: owner.gid } : undefined;
  const dir = join(config.stackDir, 'kafka');
  mkdirSync(config.stackDir, { recursive: true });
  ownedDir(dir, 0o750, root, 'adopt');
  // Data Kafka wrote as root (an earlier layout) becomes its user's: a folder only root could write holds no link
  // planted by anyone else.
  if (owner && existsSync(p.kafkaData) && lstatSync(p.kafkaData).uid === 0)
    run('chown', ['-R', '--no-dereference', `${owner.uid}:${owner.gid}`, p.kafkaData], { what: `giving ${p.kafkaData} to ${config.kafkaUser}` });
  ownedDir(p.kafkaData, 0o750, owner, 'adopt');
  const formatted = existsSync(join(p.kafkaData, 'meta.properties'));
  if (config.secure) prepareSecureKafka(config, formatted, root);
  // Secure mode: it holds the broker's password.
  writeFileNoFollow(p.kafkaConfig, serverProperties(config), config.secure ? secretMode(root) : 0o644, root);
  const log4jFile = join(dir, 'log4j.properties');
  writeFileNoFollow(log4jFile, readFileSync(join(config.root, 'deploy/local/kafka/log4j.properties'), 'utf8'), 0o644, root);
  const classpath = join(libs, '*');
  const log4j = `-Dlog4j.configuration=file:${log4jFile}`;
  if (!formatted) formatStorage(config, java, [log4j, '-cp', classpath], owner);
  return startDetached({
    ...asUser(owner, java.java, [
      `-Xms${config.heaps.kafka}`,
      `-Xmx${config.heaps.kafka}`,
      '-XX:+UseG1GC',
      '-Djava.awt.headless=true',
      log4j,
      '-cp',
      classpath,
      'kafka.Kafka',
      p.kafkaConfig,
    ]),
    cwd: dir,
    logFile: join(p.logs, 'kafka.log'),
    pidFile: pidFile(p.pids, KAFKA_PART),
  });
}

/** How the stack's own tools reach Kafka: plain, or in secure mode over TLS as kccr-admin. */
export function kafkaAdminConnection(config: StackConfig, clientId: string): KafkaConnection {
  const brokers = [`127.0.0.1:${config.ports.kafka}`];
  if (!config.secure) return { brokers, clientId };
  return {
    brokers,
    clientId,
    ssl: { ca: readFileSync(join(stackPaths(config).certs, 'ca.crt'), 'utf8') },
    sasl: { mechanism: 'scram-sha-512', username: 'kccr-admin', password: password(config, 'kccr-admin') },
  };
}

/**
 * Secure mode, once Kafka answers: the ACLs that do not depend on cluster names, and every control table created by
 * kccr-admin (with the configurations the services would give them), so that a service needs Create only on the
 * tables it owns, whichever starts first. Both are idempotent.
 */
export async function secureKafkaSetUp(config: StackConfig): Promise<void> {
  const kafka = new KafkaAdapter(kafkaAdminConnection(config, 'kccr-stack'));
  try {
    await kafka.createAcls(stackAcls());
    for (const topic of Object.values(CONTROL_TOPICS)) await kafka.ensureTopic(topic, 1, { ...TABLE_TOPIC_CONFIGS });
    await kafka.ensureTopic(RECONCILE_TOPIC, 1, { ...RECONCILE_TOPIC_CONFIGS });
  } finally {
    await kafka.close();
  }
}

/** Healthy when a client can fetch cluster metadata and a controller is elected. */
export async function kafkaHealthy(config: StackConfig): Promise<boolean> {
  const kafka = new KafkaAdapter(kafkaAdminConnection(config, 'kccr-stack'), undefined, { retries: 0, connectTimeout: 1000 });
  try {
    return await kafka.clusterReady();
  } finally {
    await kafka.close();
  }
}

export async function waitForKafka(config: StackConfig): Promise<number> {
  const p = stackPaths(config);
  const pid = readPid(pidFile(p.pids, KAFKA_PART));
  return waitUntil(
    'Kafka',
    join(p.logs, 'kafka.log'),
    config.timeoutsMs.kafka,
    () => kafkaHealthy(config),
    () => pid !== undefined && isAlive(pid),
  );
}
