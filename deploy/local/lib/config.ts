import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { EnvReader } from '../../../services/shared/config.js';

/**
 * Settings of the local stack, read once from the environment.
 * Every bad value is reported at once, naming the variable, what was expected and what came.
 */
export interface StackConfig {
  readonly root: string;
  readonly stackDir: string;
  readonly cacheDir: string;
  readonly secure: boolean;
  readonly esVersion: string;
  /**
   * The engine and version of each side (KCCR_LEADER_ENGINE, KCCR_FOLLOWER_ENGINE: `elasticsearch:<x.y.z>` or
   * `opensearch:<x.y.z>`); by default Elasticsearch of KCCR_ES_VERSION on both.
   */
  readonly engines: { readonly leader: Engine; readonly follower: Engine };
  readonly kafkaVersion: string;
  readonly registryVersion: string;
  readonly ports: {
    readonly kafka: number;
    readonly kafkaController: number;
    /**
     * A second client listener of Kafka that advertises `kafkaProxy` instead of itself, so that a client given
     * `127.0.0.1:<kafkaProxy>` keeps going through whatever listens there (the fault tests' TCP proxy) after the
     * metadata request. Nothing of the stack listens on `kafkaProxy`.
     */
    readonly kafkaProxied: number;
    readonly kafkaProxy: number;
    readonly registry: number;
    readonly registryManagement: number;
    readonly leaderHttp: number;
    readonly leaderTransport: number;
    readonly followerHttp: number;
    readonly followerTransport: number;
  };
  /** `extraLeaders`: the heap of each node of leader clusters 2 to N (KCCR_EXTRA_LEADER_HEAP), small by default. */
  readonly heaps: { readonly es: string; readonly extraLeaders: string; readonly kafka: string; readonly registry: string };
  /**
   * Leader clusters beside the one follower (KCCR_LEADER_CLUSTERS, 1 to {@link MAX_LEADER_CLUSTERS}), for fan-in.
   * Leader 1 is the stack's `leader` as ever; leader k ≥ 2 is `leader<k>` ({@link leaderClusterIds}), on the ports
   * {@link extraLeaderPorts} gives, with as many nodes as leader 1.
   */
  readonly leaderClusters: number;
  /**
   * Nodes per Elasticsearch cluster (KCCR_LEADER_NODES, KCCR_FOLLOWER_NODES; 1 to 5). Node k (from 1) listens on the
   * cluster's ports + 10 × (k − 1): a 3-node leader on 9200, 9210, 9220 (transport 9300, 9310, 9320).
   */
  readonly nodes: { readonly leader: number; readonly follower: number };
  readonly esUser: string;
  /** The unprivileged users Kafka and the registry run as when the launcher is root. */
  readonly kafkaUser: string;
  readonly registryUser: string;
  readonly timeoutsMs: { readonly kafka: number; readonly registry: number; readonly es: number };
}

export interface Engine {
  readonly kind: 'elasticsearch' | 'opensearch';
  readonly version: string;
}

const ENGINE = /^(elasticsearch:(8|9)|opensearch:(2|3))\.[0-9]+\.[0-9]+$/;

export class StackConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack settings:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Ports of a cluster's node k (from 1) are its first node's + NODE_PORT_STEP × (k − 1). */
export const NODE_PORT_STEP = 10;

export const MAX_LEADER_CLUSTERS = 4;

/**
 * The stack's leader clusters, in order: `leader` (leader 1, named as before fan-in existed, so that nothing written
 * for one leader changes), then `leader2` ... `leader<N>`.
 */
export function leaderClusterIds(config: Pick<StackConfig, 'leaderClusters'>): string[] {
  return Array.from({ length: config.leaderClusters }, (_, i) => (i === 0 ? 'leader' : `leader${i + 1}`));
}

/**
 * Node 1's ports of leader cluster k ≥ 2: leader 1's + k (9202, 9203, 9204 for HTTP; 9302 ... for transport). Leader 1
 * ends in 0 and the follower in 1, and node steps are 10, so no node of any cluster lands on another's port with the
 * default ports and up to 5 nodes each; the port check in {@link readStackConfig} covers any other choice.
 */
export function extraLeaderPorts(ports: Pick<StackConfig['ports'], 'leaderHttp' | 'leaderTransport'>, k: number): { http: number; transport: number } {
  return { http: ports.leaderHttp + k, transport: ports.leaderTransport + k };
}

const PROJECT_ROOT = resolve(import.meta.dirname, '..', '..', '..');

export function readStackConfig(env: NodeJS.ProcessEnv = process.env): StackConfig {
  // The same reader as the services' settings: every bad value is found, then all are reported at once.
  const r = new EnvReader(env);
  const str = (name: string, fallback: string, pattern?: RegExp, expected?: string): string =>
    pattern ? r.matching(name, fallback, pattern, expected ?? pattern.source) : r.string(name, fallback);
  const offset = r.int('KCCR_PORT_OFFSET', 0, 0, 50000);
  const port = (name: string, base: number): number => r.int(name, base + offset, 1, 65535, 'a TCP port (1-65535)');
  const bool = (name: string): boolean => r.bool(name, false);
  const heap = /^[0-9]+[mg]$/;
  const count = (name: string, fallback: number, max: number): number => r.int(name, fallback, 1, max);
  const seconds = (name: string, fallback: number): number => r.positive(name, fallback, 'number of seconds') * 1000;

  const engine = (name: string, esVersion: string): Engine => {
    const [kind, version] = str(name, `elasticsearch:${esVersion}`, ENGINE, 'elasticsearch:<8.x.y or 9.x.y> or opensearch:<2.x.y or 3.x.y>').split(':');
    return { kind: kind as Engine['kind'], version: version! };
  };
  const esVersion = str('KCCR_ES_VERSION', '8.19.21', /^(8|9)\.[0-9]+\.[0-9]+$/, 'an Elasticsearch version 8.x.y or 9.x.y');
  const stackDir = resolve(str('KCCR_STACK_DIR', join(PROJECT_ROOT, '.stack')));
  const config: StackConfig = {
    root: PROJECT_ROOT,
    stackDir,
    cacheDir: resolve(str('KCCR_CACHE_DIR', join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kccr'))),
    secure: bool('KCCR_SECURE'),
    esVersion,
    kafkaVersion: str('KCCR_KAFKA_VERSION', '4.1.1', /^4\.[0-9]+\.[0-9]+$/, 'an Apache Kafka version 4.x.y'),
    registryVersion: str('KCCR_REGISTRY_VERSION', '3.3.3', /^[0-9]+\.[0-9]+\.[0-9]+(\.Final)?$/, 'an Apicurio Registry version'),
    engines: { leader: engine('KCCR_LEADER_ENGINE', esVersion), follower: engine('KCCR_FOLLOWER_ENGINE', esVersion) },
    ports: {
      kafka: port('KCCR_KAFKA_PORT', 9092),
      kafkaController: port('KCCR_KAFKA_CONTROLLER_PORT', 9093),
      kafkaProxied: port('KCCR_KAFKA_PROXIED_PORT', 9094),
      kafkaProxy: port('KCCR_KAFKA_PROXY_PORT', 9095),
      registry: port('KCCR_REGISTRY_PORT', 8081),
      registryManagement: port('KCCR_REGISTRY_MANAGEMENT_PORT', 8091),
      leaderHttp: port('KCCR_LEADER_PORT', 9200),
      leaderTransport: port('KCCR_LEADER_TRANSPORT_PORT', 9300),
      followerHttp: port('KCCR_FOLLOWER_PORT', 9201),
      followerTransport: port('KCCR_FOLLOWER_TRANSPORT_PORT', 9301),
    },
    heaps: {
      es: str('KCCR_ES_HEAP', '1g', heap, 'a JVM heap size such as 512m or 1g'),
      extraLeaders: str('KCCR_EXTRA_LEADER_HEAP', '512m', heap, 'a JVM heap size such as 512m or 1g'),
      kafka: str('KCCR_KAFKA_HEAP', '512m', heap, 'a JVM heap size such as 512m or 1g'),
      registry: str('KCCR_REGISTRY_HEAP', '128m', heap, 'a JVM heap size such as 128m'),
    },
    nodes: { leader: count('KCCR_LEADER_NODES', 1, 5), follower: count('KCCR_FOLLOWER_NODES', 1, 5) },
    leaderClusters: count('KCCR_LEADER_CLUSTERS', 1, MAX_LEADER_CLUSTERS),
    esUser: str('KCCR_ES_USER', 'kccr-es', /^[a-z_][a-z0-9_-]{0,31}$/, 'a Unix user name'),
    kafkaUser: str('KCCR_KAFKA_USER', 'kccr-kafka', /^[a-z_][a-z0-9_-]{0,31}$/, 'a Unix user name'),
    registryUser: str('KCCR_REGISTRY_USER', 'kccr-registry', /^[a-z_][a-z0-9_-]{0,31}$/, 'a Unix user name'),
    timeoutsMs: {
      kafka: seconds('KCCR_KAFKA_START_TIMEOUT', 90),
      registry: seconds('KCCR_REGISTRY_START_TIMEOUT', 120),
      es: seconds('KCCR_ES_START_TIMEOUT', 180),
    },
  };

  const { engines } = config;
  for (const role of ['leader', 'follower'] as const) {
    // The integ-test zip of OpenSearch has no security plugin: no TLS and no users to give it.
    if (config.secure && engines[role].kind === 'opensearch')
      r.problem(
        `KCCR_SECURE=1 with an OpenSearch ${role} (KCCR_${role.toUpperCase()}_ENGINE=opensearch:${engines[role].version}): the secure mode needs TLS and users, which OpenSearch's integ-test distribution cannot give (its security plugin is not in it); run OpenSearch in plain mode`,
      );
  }

  const ports: [string, number][] = Object.entries(config.ports);
  const clusters = [
    { name: 'leader', nodes: config.nodes.leader, http: config.ports.leaderHttp, transport: config.ports.leaderTransport },
    { name: 'follower', nodes: config.nodes.follower, http: config.ports.followerHttp, transport: config.ports.followerTransport },
    ...leaderClusterIds(config)
      .slice(1)
      .map((name, i) => ({ name, nodes: config.nodes.leader, ...extraLeaderPorts(config.ports, i + 2) })),
  ];
  for (const c of clusters) {
    // Node 1 of leader and follower is in config.ports already.
    if (c.name !== 'leader' && c.name !== 'follower') ports.push([`${c.name} HTTP`, c.http], [`${c.name} transport`, c.transport]);
    for (let k = 2; k <= c.nodes; k++) {
      ports.push([`${c.name} node ${k} HTTP`, c.http + NODE_PORT_STEP * (k - 1)], [`${c.name} node ${k} transport`, c.transport + NODE_PORT_STEP * (k - 1)]);
    }
  }
  const seen = new Map<number, string>();
  for (const [name, p] of ports) {
    const other = seen.get(p);
    if (other) r.problem(`ports: ${name} and ${other} both use port ${p}; give each part its own port`);
    seen.set(p, name);
  }

  if (r.found().length > 0) throw new StackConfigError([...r.found()]);
  return Object.freeze(config);
}

/** Paths inside the stack folder; one place names them all. */
export function stackPaths(config: StackConfig) {
  const d = config.stackDir;
  return {
    state: join(d, 'stack.json'),
    logs: join(d, 'logs'),
    pids: join(d, 'pids'),
    secrets: join(d, 'secrets'),
    certs: join(d, 'certs'),
    dist: join(d, 'dist'),
    kafkaData: join(d, 'kafka', 'data'),
    kafkaConfig: join(d, 'kafka', 'server.properties'),
    /** A Kafka user's password in secure mode (mode 600). */
    kafkaPassword: (user: string) => join(d, 'secrets', `kafka-${user}.password`),
    snapshots: join(d, 'snapshots'),
    cluster: (name: string) => join(d, 'es', name),
  };
}
