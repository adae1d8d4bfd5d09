/**
 * The local stack: Apache Kafka (KRaft), a schema registry and Elasticsearch clusters (a leader, or N of them for
 * fan-in with KCCR_LEADER_CLUSTERS, and a follower), fetched from Maven Central and run as local processes on 127.0.0.1.
 *
 *   tsx deploy/local/stack.ts up | down [--clusters] [--purge] | status [--json] | fetch
 *   (`down --clusters` stops the Elasticsearch/OpenSearch clusters only; with --purge their data and snapshots go, so
 *   that `up` can start them with other engines beside the running Kafka and registry)
 *   tsx deploy/local/stack.ts grant-kafka <leader cluster> <follower cluster>   (secure mode: a cluster pair's Kafka ACLs)
 *
 * Settings come from KCCR_* environment variables (docs/reference/settings.md, "Local stack").
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_LEADER_CLUSTERS, readStackConfig, stackPaths, StackConfigError } from './lib/config.js';
import type { StackConfig } from './lib/config.js';
import { findJava, preflight } from './lib/checks.js';
import type { JavaHome } from './lib/checks.js';
import { ensureCertificates } from './lib/certs.js';
import type { ClusterId, ClusterRole } from './lib/elasticsearch.js';
import {
  clusterNodes,
  nodeHealthy,
  nodeUrl,
  prepareNode,
  registerSnapshotRepository,
  roleOf,
  stackClusterIds,
  startNode,
  waitForCluster,
} from './lib/elasticsearch.js';
import { fetchKafka } from './lib/fetch.js';
import { engineJavaMajor, engineLayout, engineName, fetchEngine } from './lib/opensearch.js';
import { KafkaAdapter } from '../../services/shared/adapters/kafka.js';
import { KAFKA_PART, kafkaAdminConnection, kafkaConfigCurrent, kafkaHealthy, secureKafkaSetUp, startKafka, waitForKafka } from './lib/kafka.js';
import { clusterAcls } from './lib/kafka-acls.js';
import { isAlive, pidFile, readPid, stopByPidFile } from './lib/procs.js';
import {
  fetchRegistry,
  REGISTRY_FALLBACK_VERSION,
  REGISTRY_PART,
  registryDataDir,
  registryHealthy,
  registryJavaMajor,
  registryStorage,
  startRegistry,
  waitForRegistry,
} from './lib/registry.js';
import { readState, writeState } from './lib/state.js';

const ROLES: readonly ClusterRole[] = ['leader', 'follower'];

interface Part {
  readonly name: string;
  /** Whether this stack has the part (Elasticsearch nodes beyond the configured count do not exist). */
  readonly present?: (c: StackConfig) => boolean;
  readonly pidName: string;
  readonly endpoint: (c: StackConfig) => string;
  readonly healthy: (c: StackConfig) => Promise<boolean>;
  readonly ports: (c: StackConfig) => Record<string, number>;
  /** Its JVM heap, for the memory check before a start. */
  readonly heap: (c: StackConfig) => string;
}

const PARTS: readonly Part[] = [
  {
    name: 'kafka',
    pidName: KAFKA_PART,
    endpoint: (c) => `127.0.0.1:${c.ports.kafka}`,
    healthy: kafkaHealthy,
    ports: (c) => ({ 'Kafka broker': c.ports.kafka, 'Kafka controller': c.ports.kafkaController, 'Kafka proxied listener': c.ports.kafkaProxied }),
    heap: (c) => c.heaps.kafka,
  },
  {
    name: 'registry',
    pidName: REGISTRY_PART,
    endpoint: (c) => `http://127.0.0.1:${c.ports.registry}`,
    healthy: registryHealthy,
    ports: (c) => ({ 'schema registry': c.ports.registry, 'schema registry management': c.ports.registryManagement }),
    heap: (c) => c.heaps.registry,
  },
  // Every node of each cluster that a stack may have is a part of its own (node 1 is `elasticsearch-<cluster>`, the
  // cluster's address); `present` tells which this stack has.
  ...['leader', ...Array.from({ length: MAX_LEADER_CLUSTERS - 1 }, (_, i) => `leader${i + 2}`), 'follower'].flatMap((cluster: ClusterId) =>
    [1, 2, 3, 4, 5].map((k): Part => {
      const node = (c: StackConfig) => (stackClusterIds(c).includes(cluster) ? clusterNodes(c, cluster)[k - 1] : undefined);
      const id = `${cluster}-${k}`;
      return {
        name: k === 1 ? `elasticsearch-${cluster}` : `elasticsearch-${cluster}-${k}`,
        pidName: k === 1 ? `elasticsearch-${cluster}` : `elasticsearch-${cluster}-${k}`,
        present: (c) => node(c) !== undefined,
        endpoint: (c) => nodeUrl(c, node(c)!),
        healthy: (c) => nodeHealthy(c, node(c)!),
        ports: (c) => ({ [`Elasticsearch ${id} HTTP`]: node(c)!.http, [`Elasticsearch ${id} transport`]: node(c)!.transport }),
        heap: (c) => (cluster === 'leader' || cluster === 'follower' ? c.heaps.es : c.heaps.extraLeaders),
      };
    }),
  ),
];

function partsOf(config: StackConfig): Part[] {
  return PARTS.filter((p) => p.present?.(config) ?? true);
}

function running(config: StackConfig, part: Part): number | undefined {
  const pid = readPid(pidFile(stackPaths(config).pids, part.pidName));
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

function log(msg: string): void {
  process.stdout.write(`${msg}\n`);
}

function fetchAll(config: StackConfig) {
  const java17 = findJava('Apache Kafka 4', 17, 'KCCR_JAVA_HOME');
  let registryVersion = config.registryVersion;
  let registryJava: JavaHome;
  try {
    registryJava = findJava(`Apicurio Registry ${registryVersion}`, registryJavaMajor(registryVersion), 'KCCR_REGISTRY_JAVA_HOME');
  } catch (e) {
    if (process.env.KCCR_REGISTRY_VERSION) throw e;
    registryVersion = REGISTRY_FALLBACK_VERSION;
    registryJava = java17;
    log(`no Java 21+ found for Apicurio Registry ${config.registryVersion}; using ${registryVersion}, which runs on Java 17`);
  }
  // Each side's engine (KCCR_LEADER_ENGINE, KCCR_FOLLOWER_ENGINE), with the JDK its version needs.
  const engineJava = (role: ClusterRole) => findJava(engineName(config.engines[role]), engineJavaMajor(config.engines[role]), 'KCCR_ES_JAVA_HOME');
  const esJava = { leader: engineJava('leader'), follower: engineJava('follower') };
  log(`fetching (cached in ${config.cacheDir}) ...`);
  const t0 = Date.now();
  const kafkaLibs = fetchKafka(config);
  const registryJar = fetchRegistry(config, registryVersion);
  const esHome = { leader: fetchEngine(config, config.engines.leader), follower: fetchEngine(config, config.engines.follower) };
  log(`fetched in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { java17, registryJava, esJava, kafkaLibs, registryJar, esHome };
}

async function up(config: StackConfig): Promise<void> {
  const previous = readState(stackPaths(config).state);
  const anyRunning = partsOf(config).some((p) => running(config, p) !== undefined);
  if (anyRunning && previous && previous.mode !== (config.secure ? 'secure' : 'plain')) {
    throw new Error(`the stack in ${config.stackDir} is running in ${previous.mode} mode; run \`npm run stack:down\` first to switch modes`);
  }
  for (const cluster of stackClusterIds(config)) {
    // One data folder per cluster, whatever its engine: a running stack keeps the engine each cluster was started with
    // (a further leader cluster's is the leader side's). A cluster the last stack.json does not list has no engine yet.
    const recorded = previous?.clusters[cluster];
    const was = recorded && previous ? (recorded.engine ?? { kind: 'elasticsearch', version: previous.esVersion }) : undefined;
    const now = config.engines[roleOf(cluster)];
    // A cluster running, or with its data folder, holds its engine: one purged (`down --clusters --purge`) starts with
    // the engine asked for. (Elasticsearch started on OpenSearch's data dies with a corrupt-index error.)
    const nodes = clusterNodes(config, cluster);
    const held = nodes.some((n) => existsSync(n.dir) || PARTS.some((p) => p.name === n.part && running(config, p) !== undefined));
    if (held && was && (was.kind !== now.kind || was.version !== now.version)) {
      throw new Error(
        `the ${cluster} in ${config.stackDir} runs ${was.kind} ${was.version} (or holds its data), not ${now.kind} ${now.version}: run \`npm run stack:down -- --purge\` (or \`-- --clusters --purge\`, which keeps Kafka and the registry) first to switch engines`,
      );
    }
  }
  const toStart = partsOf(config).filter((p) => running(config, p) === undefined);
  if (!toStart.some((p) => p.name === 'kafka') && !kafkaConfigCurrent(config)) {
    // Secure mode cannot go on with a Kafka of another configuration: one started before Kafka was secured listens in
    // PLAINTEXT, and the set-up below would wait for SASL_SSL in vain.
    if (config.secure) {
      throw new Error(
        `kafka: running with another configuration than the secure mode's (${stackPaths(config).kafkaConfig}; a stack started before Kafka was secured has PLAINTEXT and no ACLs): run \`npm run stack:down\`, then \`npm run stack:up\` (with \`stack:down -- --purge\` when it asks for it)`,
      );
    }
    log(
      `kafka: running with an older configuration than this version writes (${stackPaths(config).kafkaConfig}); it takes the new one when it restarts (\`npm run stack:down\` then \`npm run stack:up\`)`,
    );
  }
  await preflight(
    config,
    Object.assign({}, ...toStart.map((p) => p.ports(config))) as Record<string, number>,
    toStart.map((p) => p.heap(config)),
  );
  const paths = stackPaths(config);
  for (const d of [paths.logs, paths.pids]) mkdirSync(d, { recursive: true });
  const f = fetchAll(config);
  const certs = config.secure ? ensureCertificates(paths.certs) : undefined;

  const t0 = Date.now();
  const waits: Promise<unknown>[] = [];
  const timed = (name: string, p: Promise<number>) => p.then((ms) => log(`  ${name} healthy after ${(ms / 1000).toFixed(1)} s`));
  let kafkaStarting: Promise<number> | undefined;
  if (toStart.some((p) => p.name === 'kafka')) {
    startKafka(config, f.kafkaLibs, f.java17);
    kafkaStarting = waitForKafka(config);
    waits.push(timed('kafka', kafkaStarting));
  }
  // Secure mode: the ACLs and the control tables, made as kccr-admin once Kafka answers (every start: both are
  // idempotent), before the registry or any service connects with a principal that needs them.
  const kafkaReady = config.secure
    ? (kafkaStarting ?? waitForKafka(config)).then(async (ms) => {
        await secureKafkaSetUp(config).catch((e: unknown) => {
          throw new Error(`kafka: setting up its ACLs and control tables as kccr-admin failed: ${e instanceof Error ? e.message : String(e)}`);
        });
        return ms;
      })
    : kafkaStarting;
  if (config.secure) {
    // A Kafka that did not start is reported once, by its own wait above.
    waits.push(
      kafkaReady!.then(
        () => log('  kafka: ACLs and control tables in place'),
        (e: unknown) => {
          if (kafkaStarting === undefined || (e instanceof Error && e.message.startsWith('kafka: setting up'))) throw e;
        },
      ),
    );
  }
  if (toStart.some((p) => p.name === 'registry')) {
    // With KafkaSQL the registry keeps its schemas in the stack's Kafka and does not start without it: it starts once
    // Kafka answers (at once when Kafka was already running), and its start-up timeout counts from then.
    const kafkaFirst =
      registryStorage(f.registryJar) === 'kafkasql'
        ? (kafkaReady ?? waitForKafka(config)).catch(() => {
            throw new Error('schema registry: not started, because Kafka, which holds its schemas, is not healthy');
          })
        : Promise.resolve(0);
    const registryStarting = kafkaFirst.then(() => {
      startRegistry(config, f.registryJar, f.registryJava);
      return waitForRegistry(config);
    });
    waits.push(timed('registry', registryStarting));
  }
  for (const cluster of stackClusterIds(config)) {
    // Node 1 first: in secure mode the other nodes copy its file-realm users.
    const nodes = clusterNodes(config, cluster).filter((n) => toStart.some((p) => p.name === n.part));
    if (nodes.length === 0) continue;
    // A further leader cluster runs the leader side's engine (KCCR_LEADER_ENGINE), from the same distribution.
    const role = roleOf(cluster);
    const [home, layout] = [f.esHome[role], engineLayout(config.engines[role])];
    for (const node of nodes) startNode(config, home, prepareNode(config, node, home, f.esJava[role], certs, layout));
    waits.push(timed(`elasticsearch-${cluster}`, waitForCluster(config, cluster)));
  }
  log(`starting ${toStart.map((p) => p.name).join(', ') || 'nothing (all running)'} in ${config.secure ? 'secure' : 'plain'} mode ...`);
  const results = await Promise.allSettled(waits);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length) {
    throw new Error(
      `${failed.map((r) => (r.reason as Error).message).join('\n\n')}\n\nThe parts that did start are still running: \`npm run stack:down\` stops them.`,
    );
  }
  // Leader 1 writes the shared repository and the follower reads it. Leader clusters 2 to N get none: an fs repository
  // takes one writer only, so a snapshot bootstrap is from leader 1 (the others bootstrap by scan).
  for (const role of ROLES) await registerSnapshotRepository(config, role);
  writeState(config);
  log(`stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s; state in ${paths.state}`);
  await status(config, false);
}

async function down(config: StackConfig, purge: boolean, clustersOnly = false): Promise<void> {
  const paths = stackPaths(config);
  // Every node that may have run (a stack started with more nodes than configured now is stopped whole).
  await Promise.all(
    PARTS.filter((p) => !clustersOnly || p.name.startsWith('elasticsearch-')).map(async (p) => {
      if (!(p.present?.(config) ?? true) && readPid(pidFile(paths.pids, p.pidName)) === undefined) return;
      const stopped = await stopByPidFile(pidFile(paths.pids, p.pidName));
      log(`${p.name}: ${stopped ? 'stopped' : 'was not running'}`);
    }),
  );
  if (purge && clustersOnly) {
    // The clusters' data and the snapshots they wrote go; Kafka and the registry keep running with theirs (the
    // compatibility matrix starts the clusters of each pair of engines beside one Kafka and registry).
    for (const d of [join(config.stackDir, 'es'), paths.snapshots]) rmSync(d, { recursive: true, force: true });
    log(`purged the clusters' data and snapshots under ${config.stackDir}`);
  } else if (purge) {
    for (const d of [
      join(config.stackDir, 'kafka'),
      registryDataDir(config),
      join(config.stackDir, 'es'),
      paths.snapshots,
      paths.secrets,
      paths.certs,
      paths.logs,
      paths.state,
    ]) {
      rmSync(d, { recursive: true, force: true });
    }
    log(`purged data, logs and secrets under ${config.stackDir}`);
  }
}

async function status(config: StackConfig, json: boolean): Promise<boolean> {
  const rows = await Promise.all(
    partsOf(config).map(async (p) => {
      const pid = running(config, p);
      const healthy = pid !== undefined ? await p.healthy(config).catch(() => false) : false;
      return { part: p.name, pid: pid ?? null, state: pid === undefined ? 'stopped' : healthy ? 'healthy' : 'unhealthy', endpoint: p.endpoint(config) };
    }),
  );
  const allHealthy = rows.every((r) => r.state === 'healthy');
  if (json) {
    log(JSON.stringify({ mode: config.secure ? 'secure' : 'plain', stackDir: config.stackDir, parts: rows, healthy: allHealthy }, null, 2));
  } else {
    log(`mode: ${config.secure ? 'secure' : 'plain'}   folder: ${config.stackDir}`);
    log(`${'PART'.padEnd(26)}${'STATE'.padEnd(11)}${'PID'.padEnd(9)}ENDPOINT`);
    for (const r of rows) log(`${r.part.padEnd(26)}${r.state.padEnd(11)}${String(r.pid ?? '-').padEnd(9)}${r.endpoint}`);
    log(`logs: ${stackPaths(config).logs}`);
  }
  return allHealthy;
}

/**
 * Secure mode: the Kafka ACLs of one leader cluster's extractor and one follower cluster's applier (change topics, dead
 * letters, groups), as kccr-admin, for running kccr's services under cluster names of one's own.
 */
async function grantKafka(config: StackConfig, names: readonly string[]): Promise<number> {
  const [leaderCluster, followerCluster] = names;
  if (!config.secure || !leaderCluster || !followerCluster || names.length !== 2) {
    process.stderr.write('usage: KCCR_SECURE=1 stack.ts grant-kafka <leader cluster> <follower cluster>\n');
    return 2;
  }
  const kafka = new KafkaAdapter(kafkaAdminConnection(config, 'kccr-stack'));
  try {
    const acls = clusterAcls({ leaderCluster, followerCluster });
    await kafka.createAcls(acls);
    for (const a of acls) log(`${a.principal} may ${a.operations.join(', ')} on ${a.resource} ${a.name}${a.pattern === 'prefixed' ? '*' : ''}`);
  } finally {
    await kafka.close();
  }
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let config: StackConfig;
  try {
    config = readStackConfig();
  } catch (e) {
    if (e instanceof StackConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  switch (command) {
    case 'up':
      await up(config);
      return 0;
    case 'down':
      await down(config, rest.includes('--purge'), rest.includes('--clusters'));
      return 0;
    case 'status':
      return (await status(config, rest.includes('--json'))) ? 0 : 1;
    case 'fetch':
      fetchAll(config);
      return 0;
    case 'grant-kafka':
      return grantKafka(config, rest);
    default:
      process.stderr.write('usage: stack.ts up | down [--clusters] [--purge] | status [--json] | fetch | grant-kafka <leader cluster> <follower cluster>\n');
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`stack: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
