import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ownedDir, writeFileNoFollow } from './files.js';
import { asUser, ensureSystemUser } from './users.js';
import type { StackConfig } from './config.js';
import { extraLeaderPorts, leaderClusterIds, NODE_PORT_STEP, stackPaths } from './config.js';
import type { CertPaths } from './certs.js';
import type { JavaHome } from './checks.js';
import { httpJson } from './http.js';
import { isAlive, pidFile, readPid, run, startDetached, waitUntil } from './procs.js';

export type ClusterRole = 'leader' | 'follower';

/**
 * One Elasticsearch cluster of the stack: `leader` (leader 1), `follower`, or a further leader cluster `leader<k>`
 * (KCCR_LEADER_CLUSTERS). Its name, folders, part names and secrets are all derived from it, so `leader` and `follower`
 * keep the names they had before there could be more than one leader.
 */
export type ClusterId = string;

export function roleOf(cluster: ClusterId): ClusterRole {
  return cluster === 'follower' ? 'follower' : 'leader';
}

/** Every cluster of the stack: the leaders (leader 1 first), then the follower. */
export function stackClusterIds(config: StackConfig): ClusterId[] {
  return [...leaderClusterIds(config), 'follower'];
}

function clusterNumber(config: StackConfig, cluster: ClusterId): number {
  const k = leaderClusterIds(config).indexOf(cluster);
  if (k < 0 && cluster !== 'follower') throw new Error(`the stack has no cluster ${cluster}; it has ${stackClusterIds(config).join(', ')}`);
  return k + 1;
}

export interface UserSpec {
  readonly name: string;
  readonly roles: readonly string[];
  readonly purpose: string;
}

/** The file-realm users of each cluster in secure mode: an admin and one least-privilege user per side. */
export const USERS: Record<ClusterRole, readonly UserSpec[]> = {
  leader: [
    { name: 'kccr-admin', roles: ['superuser'], purpose: 'set-up and tests' },
    { name: 'kccr-extractor', roles: ['kccr_leader'], purpose: 'the extractor: read and monitor, snapshots for bootstrap' },
  ],
  follower: [
    { name: 'kccr-admin', roles: ['superuser'], purpose: 'set-up and tests' },
    { name: 'kccr-applier', roles: ['kccr_follower'], purpose: 'the applier: create and write follower indices, restore' },
  ],
};

export const SNAPSHOT_REPOSITORY = 'kccr-shared';

/** Node 1's HTTP and transport ports. */
function clusterPorts(config: StackConfig, cluster: ClusterId): { http: number; transport: number } {
  if (cluster === 'follower') return { http: config.ports.followerHttp, transport: config.ports.followerTransport };
  const k = clusterNumber(config, cluster);
  return k === 1 ? { http: config.ports.leaderHttp, transport: config.ports.leaderTransport } : extraLeaderPorts(config.ports, k);
}

export function clusterPort(config: StackConfig, cluster: ClusterId): number {
  return clusterPorts(config, cluster).http;
}

export function clusterUrl(config: StackConfig, cluster: ClusterId): string {
  return `${config.secure ? 'https' : 'http'}://127.0.0.1:${clusterPort(config, cluster)}`;
}

/** Each node's heap: leader clusters 2 to N are small (they exist for fan-in tests and demos), the others KCCR_ES_HEAP. */
export function clusterHeap(config: StackConfig, cluster: ClusterId): string {
  return cluster === 'follower' || clusterNumber(config, cluster) === 1 ? config.heaps.es : config.heaps.extraLeaders;
}

/** One Elasticsearch node of a cluster: its name, the stack part (pid file, log) and its ports and folder. */
export interface EsNode {
  readonly cluster: ClusterId;
  readonly role: ClusterRole;
  /** From 1. Node 1 is the cluster's address for kccr and the tools. */
  readonly number: number;
  readonly name: string;
  /** The part name (pid file and log): `elasticsearch-<cluster>` for node 1, `elasticsearch-<cluster>-<k>` for the others. */
  readonly part: string;
  readonly http: number;
  readonly transport: number;
  readonly dir: string;
  /** Whether it may be elected master: every node of an odd-sized cluster; of an even-sized one, all but the last. */
  readonly master: boolean;
}

export function clusterNodes(config: StackConfig, cluster: ClusterId): EsNode[] {
  const role = roleOf(cluster);
  const count = config.nodes[role];
  const { http, transport } = clusterPorts(config, cluster);
  return Array.from({ length: count }, (_, i) => ({
    cluster,
    role,
    number: i + 1,
    name: `${cluster}-${i + 1}`,
    part: i === 0 ? `elasticsearch-${cluster}` : `elasticsearch-${cluster}-${i + 1}`,
    http: http + NODE_PORT_STEP * i,
    transport: transport + NODE_PORT_STEP * i,
    dir: stackPaths(config).cluster(i === 0 ? cluster : `${cluster}-${i + 1}`),
    // An even number of master-eligible nodes tolerates no more failures than one fewer: the last is data-only.
    master: count % 2 === 1 || i < count - 1,
  }));
}

export function nodeUrl(config: StackConfig, node: EsNode): string {
  return `${config.secure ? 'https' : 'http'}://127.0.0.1:${node.http}`;
}

export function passwordFile(config: StackConfig, cluster: ClusterId, user: string): string {
  return join(stackPaths(config).secrets, `${cluster}-${user}.password`);
}

/**
 * What differs between the engines' distributions as the launcher lays a node out: its configuration file, the
 * variables that point it at its config, JDK and temporary folder, and its programs. Elasticsearch's is below,
 * OpenSearch's in opensearch.ts.
 */
export interface EngineLayout {
  readonly product: string;
  readonly configFile: string;
  /** The node's settings file from the lines Elasticsearch would get (an engine drops or renames what it lacks). */
  readonly settings: (lines: readonly string[]) => readonly string[];
  readonly env: (conf: string, javaHome: string, tmp: string) => NodeJS.ProcessEnv;
  readonly keystoreTool: string;
  readonly server: string;
}

export const ELASTICSEARCH_LAYOUT: EngineLayout = {
  product: 'Elasticsearch',
  configFile: 'elasticsearch.yml',
  settings: (lines) => lines,
  env: (conf, javaHome, tmp) => ({ ES_PATH_CONF: conf, ES_JAVA_HOME: javaHome, ES_TMPDIR: tmp }),
  keystoreTool: 'elasticsearch-keystore',
  server: 'elasticsearch',
};

function elasticsearchYml(config: StackConfig, node: EsNode, nodes: readonly EsNode[]): string {
  const p = stackPaths(config);
  const discovery =
    nodes.length === 1
      ? ['discovery.type: single-node']
      : [
          `discovery.seed_hosts: [${nodes.map((n) => JSON.stringify(`127.0.0.1:${n.transport}`)).join(', ')}]`,
          `cluster.initial_master_nodes: [${nodes
            .filter((n) => n.master)
            .map((n) => n.name)
            .join(', ')}]`,
          ...(node.master ? [] : ['node.roles: [data, ingest]']),
        ];
  const lines = [
    `cluster.name: kccr-${node.cluster}`,
    `node.name: ${node.name}`,
    'network.host: 127.0.0.1',
    `http.port: ${node.http}`,
    `transport.port: ${node.transport}`,
    ...discovery,
    `path.data: ${join(node.dir, 'data')}`,
    `path.logs: ${join(node.dir, 'logs')}`,
    // One folder both clusters can reach: the snapshot bootstrap writes on the leader and restores on the follower.
    `path.repo: [${JSON.stringify(p.snapshots)}]`,
    'cluster.routing.allocation.disk.threshold_enabled: false',
    'action.destructive_requires_name: false',
    `xpack.security.enabled: ${config.secure}`,
  ];
  if (config.secure) {
    lines.push(
      'xpack.security.http.ssl.enabled: true',
      'xpack.security.http.ssl.key: certs/node.key',
      'xpack.security.http.ssl.certificate: certs/node.crt',
      'xpack.security.http.ssl.certificate_authorities: [certs/ca.crt]',
      'xpack.security.transport.ssl.enabled: true',
      'xpack.security.transport.ssl.key: certs/node.key',
      'xpack.security.transport.ssl.certificate: certs/node.crt',
      'xpack.security.transport.ssl.certificate_authorities: [certs/ca.crt]',
      'xpack.security.transport.ssl.verification_mode: certificate',
      'xpack.security.authc.realms.file.local.order: 0',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The distribution's jvm.options, with relative log and dump paths pointed into the cluster's own folder. */
function jvmOptions(distConfig: string, dir: string): string {
  return readFileSync(join(distConfig, 'jvm.options'), 'utf8')
    .replaceAll('file=logs/', `file=${join(dir, 'logs')}/`)
    .replaceAll('ErrorFile=logs/', `ErrorFile=${join(dir, 'logs')}/`)
    .replaceAll('HeapDumpPath=data', `HeapDumpPath=${join(dir, 'data')}`);
}

function randomPassword(): string {
  return randomBytes(18).toString('base64url');
}

export interface PreparedNode {
  readonly node: EsNode;
  readonly env: NodeJS.ProcessEnv;
  readonly owner: { uid: number; gid: number } | undefined;
  readonly layout: EngineLayout;
}

/**
 * Lays out one node's folder, and in secure mode its certificates, roles and file-realm users (made on node 1; the
 * other nodes get copies of its files). When the launcher is root, Elasticsearch runs as its own user, who owns
 * only what it writes (data, logs, tmp, the snapshots folder, all 0750); the node folder and its config are root's,
 * readable by that user's group, so that nothing it could plant there is ever written through by root (files.ts).
 */
export function prepareNode(
  config: StackConfig,
  node: EsNode,
  esHome: string,
  java: JavaHome,
  certs: CertPaths | undefined,
  layout: EngineLayout = ELASTICSEARCH_LAYOUT,
): PreparedNode {
  const p = stackPaths(config);
  const { cluster, role, dir } = node;
  const conf = join(dir, 'config');
  const owner = ensureSystemUser(config.esUser, 'Elasticsearch refuses to run as root');
  const root = owner ? { uid: 0, gid: owner.gid } : undefined;
  mkdirSync(dirname(dir), { recursive: true });
  ownedDir(dir, 0o750, root, 'adopt');
  for (const sub of ['data', 'logs', 'tmp']) ownedDir(join(dir, sub), 0o750, owner, 'adopt');
  ownedDir(p.snapshots, 0o750, owner, 'adopt');
  // A config folder root does not own (an earlier layout gave it to the Elasticsearch user) is made again.
  ownedDir(conf, 0o750, root, 'remake');
  if (!existsSync(join(conf, 'log4j2.properties'))) cpSync(join(esHome, 'config'), conf, { recursive: true });
  const write = (file: string, text: string) => writeFileNoFollow(join(conf, file), text, 0o640, root);
  write(layout.configFile, `${layout.settings(elasticsearchYml(config, node, clusterNodes(config, cluster)).trimEnd().split('\n')).join('\n')}\n`);
  write('jvm.options', jvmOptions(join(esHome, 'config'), dir));
  const heap = clusterHeap(config, cluster);
  write(join('jvm.options.d', 'heap.options'), `-Xms${heap}\n-Xmx${heap}\n`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    LANG: 'C.UTF-8',
    ...layout.env(conf, java.home, join(dir, 'tmp')),
  };
  // Elasticsearch makes its keystore on first start when there is none, which needs a config folder it can write:
  // made here instead, by root.
  if (!existsSync(join(conf, `${layout.server}.keystore`))) run(join(esHome, 'bin', layout.keystoreTool), ['create'], { env, what: 'creating the keystore' });

  if (config.secure && certs) {
    ownedDir(join(conf, 'certs'), 0o750, root, 'remake');
    for (const [from, to] of [
      [certs.ca, 'ca.crt'],
      [certs.cert, 'node.crt'],
      [certs.key, 'node.key'],
    ] as const)
      write(join('certs', to), readFileSync(from, 'utf8'));
    write('roles.yml', readFileSync(join(config.root, 'deploy/local/elasticsearch/roles.yml'), 'utf8'));
    mkdirSync(p.secrets, { recursive: true, mode: 0o700 });
    if (node.number > 1) {
      // The same file realm on every node: the first node's users (prepared before) are copied.
      const first = join(clusterNodes(config, cluster)[0]!.dir, 'config');
      for (const f of ['users', 'users_roles']) write(f, readFileSync(join(first, f), 'utf8'));
    }
    const users = readFileSync(join(conf, 'users'), 'utf8');
    for (const user of node.number > 1 ? [] : USERS[role]) {
      const file = passwordFile(config, cluster, user.name);
      if (existsSync(file) && users.includes(`${user.name}:`)) continue;
      const password = randomPassword();
      const tool = join(esHome, 'bin', 'elasticsearch-users');
      if (users.includes(`${user.name}:`)) run(tool, ['userdel', user.name], { env, what: `removing stale user ${user.name}` });
      // The password goes in on stdin (asked twice), never on a command line another user could read in ps.
      run(tool, ['useradd', user.name, '-r', user.roles.join(',')], {
        env,
        input: `${password}\n${password}\n`,
        what: `adding the ${cluster} user ${user.name}`,
      });
      writeFileNoFollow(file, password, 0o600);
    }
  }
  // Everything in the config folder: root's, readable by the Elasticsearch user's group, by no one else (the folder
  // is root's, so nothing in it is a link someone else planted).
  if (root) run('chown', ['-R', '--no-dereference', `0:${root.gid}`, conf], { what: `giving ${conf} to root, readable by ${config.esUser}` });
  run('chmod', ['-R', 'u+rwX,g+rX,g-w,o-rwx', conf], { what: `closing ${conf} to other users` });
  return { node, env, owner, layout };
}

export function startNode(config: StackConfig, esHome: string, prepared: PreparedNode): number {
  const p = stackPaths(config);
  const es = join(esHome, 'bin', prepared.layout.server);
  return startDetached({
    ...asUser(prepared.owner, es, []),
    env: prepared.env,
    cwd: prepared.node.dir,
    logFile: join(p.logs, `${prepared.node.part}.log`),
    pidFile: pidFile(p.pids, prepared.node.part),
  });
}

export interface EsAccess {
  readonly url: string;
  readonly ca?: string;
  readonly auth?: { username: string; password: string };
}

export function adminAccess(config: StackConfig, cluster: ClusterId): EsAccess {
  if (!config.secure) return { url: clusterUrl(config, cluster) };
  return {
    url: clusterUrl(config, cluster),
    ca: readFileSync(join(stackPaths(config).certs, 'ca.crt'), 'utf8'),
    auth: { username: 'kccr-admin', password: readFileSync(passwordFile(config, cluster, 'kccr-admin'), 'utf8').trim() },
  };
}

/** The cluster answers green or yellow with at least `nodes` nodes joined. */
export async function clusterHealthy(access: EsAccess, nodes = 1): Promise<boolean> {
  const r = await httpJson(`${access.url}/_cluster/health`, { ca: access.ca, auth: access.auth, timeoutMs: 3000 });
  const body = r.body as { status?: string; number_of_nodes?: number } | undefined;
  return r.status === 200 && (body?.status === 'green' || body?.status === 'yellow') && (body?.number_of_nodes ?? 0) >= nodes;
}

/** One node answers on its own port, as a member of a cluster with a master (green or yellow). */
export async function nodeHealthy(config: StackConfig, node: EsNode): Promise<boolean> {
  return clusterHealthy({ ...adminAccess(config, node.cluster), url: nodeUrl(config, node) });
}

/** Waits until every node of the cluster has joined and the cluster is green or yellow. */
export async function waitForCluster(config: StackConfig, cluster: ClusterId): Promise<number> {
  const p = stackPaths(config);
  const nodes = clusterNodes(config, cluster);
  const pids = nodes.map((n) => readPid(pidFile(p.pids, n.part)));
  const access = adminAccess(config, cluster);
  return waitUntil(
    `Elasticsearch ${cluster}${nodes.length > 1 ? ` (${nodes.length} nodes)` : ''}`,
    join(p.logs, `${nodes[0]!.part}.log`),
    config.timeoutsMs.es,
    async () => (await Promise.all(nodes.map((n) => nodeHealthy(config, n)))).every(Boolean) && clusterHealthy(access, nodes.length),
    () => pids.every((pid) => pid !== undefined && isAlive(pid)),
  );
}

/** Registers the shared snapshot repository, so that a snapshot bootstrap finds it on both sides. */
export async function registerSnapshotRepository(config: StackConfig, role: ClusterRole): Promise<void> {
  const access = adminAccess(config, role);
  const r = await httpJson(`${access.url}/_snapshot/${SNAPSHOT_REPOSITORY}`, {
    method: 'PUT',
    ca: access.ca,
    auth: access.auth,
    // One writer per repository: the leader writes, the follower reads. A cluster caches what it knows of a writable
    // repository, so a follower registered read-write would not see the leader's new snapshots.
    body: { type: 'fs', settings: { location: stackPaths(config).snapshots, readonly: role === 'follower' } },
    timeoutMs: 30_000,
  });
  if (r.status !== 200) throw new Error(`registering snapshot repository ${SNAPSHOT_REPOSITORY} on the ${role} failed (${r.status}): ${r.text}`);
}
