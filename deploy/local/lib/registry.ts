import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from './config.js';
import { stackPaths } from './config.js';
import type { JavaHome } from './checks.js';
import { requireCommand } from './checks.js';
import { httpJson } from './http.js';
import { registryInStack } from './fetch.js';
import { ownedDir, writeFileNoFollow } from './files.js';
import type { Owner } from './files.js';
import { scramClientProperties } from './kafka-properties.js';
import { isAlive, pidFile, readPid, run, startDetached, waitUntil } from './procs.js';
import { asUser, ensureSystemUser } from './users.js';

export const REGISTRY_PART = 'registry';

/** The Confluent-compatible API of Apicurio Registry; @kafkajs/confluent-schema-registry talks to this base URL. */
export function registryUrl(config: StackConfig): string {
  return `http://127.0.0.1:${config.ports.registry}/apis/ccompat/v7`;
}

/**
 * Apicurio Registry publishes its runnable Quarkus build on Maven Central (`apicurio-registry-app:<v>:tar.gz:all`);
 * deploy/local/registry/pom.xml unpacks it into the cache. Nothing is compiled.
 */
/** Apicurio 3.x needs Java 21+; 2.6 runs on Java 17, so a machine with only Java 17 still gets a registry. */
export const REGISTRY_FALLBACK_VERSION = '2.6.13.Final';

function isV2(version: string): boolean {
  return version.startsWith('2.');
}

export function registryJavaMajor(version: string): number {
  return isV2(version) ? 17 : 21;
}

export function fetchRegistry(config: StackConfig, version: string): string {
  const dir = join(config.cacheDir, 'registry');
  const unpacked = join(dir, `apicurio-registry-app-${version}`);
  const jarIn = (folder: string) => (isV2(version) ? join(folder, `apicurio-registry-app-${version}-runner.jar`) : join(folder, 'quarkus-run.jar'));
  const runJar = jarIn(unpacked);
  if (existsSync(runJar)) return jarIn(registryInStack(config, unpacked));
  requireCommand('mvn', 'install Apache Maven 3.8+; the stack fetches the schema registry with it');
  mkdirSync(dir, { recursive: true });
  run('mvn', ['-B', '-q', '-f', join(config.root, 'deploy/local/registry/pom.xml'), 'package', `-Dapicurio.version=${version}`, `-Dregistry.dir=${dir}`], {
    what: `fetching Apicurio Registry ${version} from Maven Central`,
  });
  if (!existsSync(runJar)) throw new Error(`fetching Apicurio Registry gave no ${runJar}; delete ${dir} and run again`);
  return jarIn(registryInStack(config, unpacked));
}

/**
 * Where the registry keeps its schemas, so that a restart (or a registry rebuilt from nothing) gives back every schema
 * under the id it had: a record in Kafka names its schema only by that id.
 * - 3.x: KafkaSQL. Every write is journaled in the stack's own Kafka (topic {@link REGISTRY_JOURNAL_TOPIC}, like
 *   Confluent's `_schemas`) and acknowledged only once it is there; a start replays the journal into an in-memory H2.
 *   The registry must start after Kafka answers (stack.ts waits for it): started without Kafka it gives up after a
 *   minute, stays up and never becomes ready, even once Kafka is back. Schemas share Kafka's fate: they
 *   live as long as the topics whose records use them, and `stack:down --purge` clears both.
 * - 2.x (the Java 17 fallback, which has no KafkaSQL in its app artifact): SQL storage in an H2 file under the stack
 *   folder ({@link registryDataDir}). `WRITE_DELAY=0` makes H2 write each commit at once: with its default write
 *   delay a SIGKILL right after a registration lost the schema, and its id was given to the next, different schema.
 */
export type RegistryStorage = 'kafkasql' | 'h2-file';

export function registryStorage(runJar: string): RegistryStorage {
  return runJar.endsWith('-runner.jar') ? 'h2-file' : 'kafkasql';
}

/**
 * The KafkaSQL journal. It sits beside kccr's own `kccr._*` topics and cannot meet a change topic
 * (`kccr.<cluster>.<index>`: a cluster name never starts with `_`). Apicurio creates it (and the two below) with
 * `cleanup.policy=delete`, `retention.ms=-1`, `retention.bytes=-1`, and refuses to start on any other setting:
 * the journal is a log of operations, not of keyed state, so compaction would not shorten it and retention would lose
 * schemas.
 */
export const REGISTRY_JOURNAL_TOPIC = 'kccr._registry';
/** Apicurio's two other topics: snapshot markers (none unless requested) and the registry's change events. */
export const REGISTRY_SNAPSHOTS_TOPIC = 'kccr._registry-snapshots';
export const REGISTRY_EVENTS_TOPIC = 'kccr._registry-events';

/** The registry's working folder: the 2.x fallback's H2 database, or 3.x's secure-mode Kafka settings; `stack:down --purge` deletes it. */
export function registryDataDir(config: StackConfig): string {
  return join(config.stackDir, 'registry');
}

/** The 2.x fallback's H2 database: the one folder the registry's user writes. */
function registryH2Dir(config: StackConfig): string {
  return join(registryDataDir(config), 'h2');
}

/** The Kafka principal the registry's KafkaSQL storage connects as in secure mode. */
export const REGISTRY_KAFKA_USER = 'kccr-registry';

/**
 * Secure mode: the KafkaSQL clients (producer, consumer, admin: Apicurio passes `apicurio.kafka.common.*` to all three)
 * connect over TLS with SCRAM-SHA-512 as {@link REGISTRY_KAFKA_USER}. Written to `config/application.properties` in
 * the registry's working folder (mode 600), which Quarkus reads at start: a `-D` option would show the password to
 * anyone who lists processes. Apicurio's own `apicurio.kafkasql.security.sasl.*` settings are for OAuth only.
 */
function writeSecureKafkaSettings(config: StackConfig, root: Owner | undefined): void {
  const p = stackPaths(config);
  const dir = join(registryDataDir(config), 'config');
  ownedDir(dir, 0o750, root, 'remake');
  const password = readFileSync(p.kafkaPassword(REGISTRY_KAFKA_USER), 'utf8').trim();
  // The stack's CA beside it: the certificates' own folder is root's alone.
  const ca = join(dir, 'ca.crt');
  writeFileNoFollow(ca, readFileSync(join(p.certs, 'ca.crt'), 'utf8'), 0o640, root);
  writeFileNoFollow(join(dir, 'application.properties'), scramClientProperties('apicurio.kafka.common.', REGISTRY_KAFKA_USER, password, ca), 0o640, root);
}

function storageArgs(config: StackConfig, storage: RegistryStorage): string[] {
  if (storage === 'h2-file') return [`-Dquarkus.datasource.jdbc.url=jdbc:h2:file:${join(registryH2Dir(config), 'registry-v2')};WRITE_DELAY=0`];
  return [
    '-Dapicurio.storage.kind=kafkasql',
    // Secure mode: TLS and SCRAM from config/application.properties in the working folder (writeSecureKafkaSettings).
    `-Dapicurio.kafkasql.bootstrap.servers=127.0.0.1:${config.ports.kafka}`,
    `-Dapicurio.kafkasql.topic=${REGISTRY_JOURNAL_TOPIC}`,
    `-Dapicurio.kafkasql.snapshots.topic=${REGISTRY_SNAPSHOTS_TOPIC}`,
    `-Dapicurio.events.kafka.topic=${REGISTRY_EVENTS_TOPIC}`,
    // Each start reads the journal from the beginning under a new consumer group; the prefix names those groups.
    `-Dapicurio.kafkasql.consumer.group-prefix=${REGISTRY_JOURNAL_TOPIC}-`,
    // Start-up reads the journal and the snapshots topic until one poll comes back empty; with the default 5 s poll
    // that alone took about 20 of the 28 s to ready. Records that are there come at once either way.
    '-Dapicurio.kafkasql.consumer.poll.timeout=500',
  ];
}

/**
 * Starts the registry. When the launcher is root it runs as its own user (KCCR_REGISTRY_USER): its working folder is
 * root's, readable by that user's group; only the 2.x fallback's H2 database (in a folder of its own) is that user's.
 */
export function startRegistry(config: StackConfig, runJar: string, java: JavaHome): number {
  const p = stackPaths(config);
  const storage = registryStorage(runJar);
  const v2 = storage === 'h2-file';
  const owner = ensureSystemUser(config.registryUser, 'the schema registry runs as an unprivileged user');
  const root = owner ? { uid: 0, gid: owner.gid } : undefined;
  mkdirSync(config.stackDir, { recursive: true });
  ownedDir(registryDataDir(config), 0o750, root, 'adopt');
  if (v2) {
    ownedDir(registryH2Dir(config), 0o750, owner, 'adopt');
    // An earlier layout kept the database in the working folder itself.
    for (const f of ['registry-v2.mv.db', 'registry-v2.trace.db']) {
      const old = join(registryDataDir(config), f);
      if (existsSync(old) && !existsSync(join(registryH2Dir(config), f)))
        run('mv', ['--no-clobber', old, registryH2Dir(config)], { what: `moving ${f} to ${registryH2Dir(config)}` });
    }
    if (owner)
      run('chown', ['-R', '--no-dereference', `${owner.uid}:${owner.gid}`, registryH2Dir(config)], {
        what: `giving ${registryH2Dir(config)} to ${config.registryUser}`,
      });
  }
  const secureKafka = config.secure && storage === 'kafkasql';
  if (secureKafka) writeSecureKafkaSettings(config, root);
  return startDetached({
    ...asUser(owner, java.java, [
      `-Xmx${config.heaps.registry}`,
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Dquarkus.http.host=127.0.0.1',
      `-Dquarkus.http.port=${config.ports.registry}`,
      '-Dquarkus.http.access-log.enabled=false',
      // Confluent's default; the npm client checks a subject's level against BACKWARD before it registers.
      ...(v2
        ? ['-Dregistry.rules.global.compatibility=BACKWARD']
        : [
            '-Dquarkus.management.host=127.0.0.1',
            `-Dquarkus.management.port=${config.ports.registryManagement}`,
            '-Dapicurio.rules.global.compatibility=BACKWARD',
          ]),
      ...storageArgs(config, storage),
      '-jar',
      runJar,
    ]),
    // Quarkus reads config/application.properties from its working folder.
    cwd: registryDataDir(config),
    logFile: join(p.logs, 'registry.log'),
    pidFile: pidFile(p.pids, REGISTRY_PART),
  });
}

export async function registryHealthy(config: StackConfig): Promise<boolean> {
  const ready = await httpJson(`http://127.0.0.1:${config.ports.registryManagement}/health/ready`, { timeoutMs: 3000 }).catch(() => undefined);
  const readyV2 = ready ? undefined : await httpJson(`http://127.0.0.1:${config.ports.registry}/health/ready`, { timeoutMs: 3000 });
  if ((ready ?? readyV2)?.status !== 200) return false;
  const subjects = await httpJson(`${registryUrl(config)}/subjects`, { timeoutMs: 3000 });
  return subjects.status === 200 && Array.isArray(subjects.body);
}

export async function waitForRegistry(config: StackConfig): Promise<number> {
  const p = stackPaths(config);
  const pid = readPid(pidFile(p.pids, REGISTRY_PART));
  return waitUntil(
    'schema registry',
    join(p.logs, 'registry.log'),
    config.timeoutsMs.registry,
    () => registryHealthy(config),
    () => pid !== undefined && isAlive(pid),
  );
}
