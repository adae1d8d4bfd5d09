import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from './config.js';
import { NODE_PORT_STEP, stackPaths } from './config.js';
import type { CertPaths } from './certs.js';
import type { JavaHome } from './checks.js';
import { httpJson } from './http.js';
import { isAlive, pidFile, readPid, run, startDetached, waitUntil } from './procs.js';

export type ClusterRole = 'leader' | 'follower';

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

export function clusterPort(config: StackConfig, role: ClusterRole): number {
  return role === 'leader' ? config.ports.leaderHttp : config.ports.followerHttp;
}

export function clusterUrl(config: StackConfig, role: ClusterRole): string {
  return `${config.secure ? 'https' : 'http'}://127.0.0.1:${clusterPort(config, role)}`;
}

/** One Elasticsearch node of a cluster: its name, the stack part (pid file, log) and its ports and folder. */
export interface EsNode {
  readonly role: ClusterRole;
  /** From 1. Node 1 is the cluster's address for kccr and the tools. */
  readonly number: number;
  readonly name: string;
  /** The part name (pid file and log): `elasticsearch-<role>` for node 1, `elasticsearch-<role>-<k>` for the others. */
  readonly part: string;
  readonly http: number;
  readonly transport: number;
  readonly dir: string;
  /** Whether it may be elected master: every node of an odd-sized cluster; of an even-sized one, all but the last. */
  readonly master: boolean;
}

export function clusterNodes(config: StackConfig, role: ClusterRole): EsNode[] {
  const count = config.nodes[role];
  const http = clusterPort(config, role);
  const transport = role === 'leader' ? config.ports.leaderTransport : config.ports.followerTransport;
  return Array.from({ length: count }, (_, i) => ({
    role,
    number: i + 1,
    name: `${role}-${i + 1}`,
    part: i === 0 ? `elasticsearch-${role}` : `elasticsearch-${role}-${i + 1}`,
    http: http + NODE_PORT_STEP * i,
    transport: transport + NODE_PORT_STEP * i,
    dir: stackPaths(config).cluster(i === 0 ? role : `${role}-${i + 1}`),
    // An even number of master-eligible nodes tolerates no more failures than one fewer: the last is data-only.
    master: count % 2 === 1 || i < count - 1,
  }));
}

export function nodeUrl(config: StackConfig, node: EsNode): string {
  return `${config.secure ? 'https' : 'http'}://127.0.0.1:${node.http}`;
}

export function passwordFile(config: StackConfig, role: ClusterRole, user: string): string {
  return join(stackPaths(config).secrets, `${role}-${user}.password`);
}

function elasticsearchYml(config: StackConfig, node: EsNode, nodes: readonly EsNode[]): string {
  const p = stackPaths(config);
  const discovery =
    nodes.length === 1
      ? ['discovery.type: single-node']
      : [
          `discovery.seed_hosts: [${nodes.map((n) => JSON.stringify(`127.0.0.1:${n.transport}`)).join(', ')}]`,
          `cluster.initial_master_nodes: [${nodes.filter((n) => n.master).map((n) => n.name).join(', ')}]`,
          ...(node.master ? [] : ['node.roles: [data, ingest]']),
        ];
  const lines = [
    `cluster.name: kccr-${node.role}`,
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

function ensureUser(name: string): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined; // not root: Elasticsearch runs as the current user
  const id = () => {
    try {
      const uid = Number(run('id', ['-u', name], { what: 'id' }).stdout.trim());
      const gid = Number(run('id', ['-g', name], { what: 'id' }).stdout.trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const found = id();
  if (found) return found;
  run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', name], {
    what: `creating the user ${name} (Elasticsearch refuses to run as root)`,
  });
  const made = id();
  if (!made) throw new Error(`user ${name} was created but cannot be looked up`);
  return made;
}

function randomPassword(): string {
  return randomBytes(18).toString('base64url');
}

export interface PreparedNode {
  readonly node: EsNode;
  readonly env: NodeJS.ProcessEnv;
  readonly owner: { uid: number; gid: number } | undefined;
}

/**
 * Lays out one node's folder (config, data, logs, tmp), owned by the Elasticsearch user, and in secure mode its
 * certificates, roles and file-realm users (made on node 1; the other nodes get copies of its files).
 */
export function prepareNode(config: StackConfig, node: EsNode, esHome: string, java: JavaHome, certs: CertPaths | undefined): PreparedNode {
  const p = stackPaths(config);
  const { role, dir } = node;
  const conf = join(dir, 'config');
  const owner = ensureUser(config.esUser);
  for (const sub of ['data', 'logs', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
  mkdirSync(p.snapshots, { recursive: true });
  if (!existsSync(join(conf, 'log4j2.properties'))) cpSync(join(esHome, 'config'), conf, { recursive: true });
  writeFileSync(join(conf, 'elasticsearch.yml'), elasticsearchYml(config, node, clusterNodes(config, role)));
  writeFileSync(join(conf, 'jvm.options'), jvmOptions(join(esHome, 'config'), dir));
  writeFileSync(join(conf, 'jvm.options.d', 'heap.options'), `-Xms${config.heaps.es}\n-Xmx${config.heaps.es}\n`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    LANG: 'C.UTF-8',
    ES_PATH_CONF: conf,
    ES_JAVA_HOME: java.home,
    ES_TMPDIR: join(dir, 'tmp'),
  };

  if (config.secure && certs) {
    mkdirSync(join(conf, 'certs'), { recursive: true });
    cpSync(certs.ca, join(conf, 'certs', 'ca.crt'));
    cpSync(certs.cert, join(conf, 'certs', 'node.crt'));
    cpSync(certs.key, join(conf, 'certs', 'node.key'));
    cpSync(join(config.root, 'deploy/local/elasticsearch/roles.yml'), join(conf, 'roles.yml'));
    mkdirSync(p.secrets, { recursive: true, mode: 0o700 });
    if (node.number > 1) {
      // The same file realm on every node: the first node's users (prepared before) are copied.
      const first = join(clusterNodes(config, role)[0]!.dir, 'config');
      for (const f of ['users', 'users_roles']) cpSync(join(first, f), join(conf, f));
    }
    const users = readFileSync(join(conf, 'users'), 'utf8');
    for (const user of node.number > 1 ? [] : USERS[role]) {
      const file = passwordFile(config, role, user.name);
      if (existsSync(file) && users.includes(`${user.name}:`)) continue;
      const password = randomPassword();
      const tool = join(esHome, 'bin', 'elasticsearch-users');
      if (users.includes(`${user.name}:`)) run(tool, ['userdel', user.name], { env, what: `removing stale user ${user.name}` });
      run(tool, ['useradd', user.name, '-p', password, '-r', user.roles.join(',')], { env, what: `adding the ${role} user ${user.name}` });
      writeFileSync(file, password, { mode: 0o600 });
    }
  }
  if (owner) {
    run('chown', ['-R', `${owner.uid}:${owner.gid}`, dir, p.snapshots], { what: `handing ${dir} to ${config.esUser}` });
    chmodSync(conf, 0o750);
  }
  return { node, env, owner };
}

export function startNode(config: StackConfig, esHome: string, prepared: PreparedNode): number {
  const p = stackPaths(config);
  const es = join(esHome, 'bin', 'elasticsearch');
  const asUser = prepared.owner
    ? { command: 'setpriv', args: [`--reuid=${prepared.owner.uid}`, `--regid=${prepared.owner.gid}`, '--init-groups', es] }
    : { command: es, args: [] as string[] };
  return startDetached({
    ...asUser,
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

export function adminAccess(config: StackConfig, role: ClusterRole): EsAccess {
  if (!config.secure) return { url: clusterUrl(config, role) };
  return {
    url: clusterUrl(config, role),
    ca: readFileSync(join(stackPaths(config).certs, 'ca.crt'), 'utf8'),
    auth: { username: 'kccr-admin', password: readFileSync(passwordFile(config, role, 'kccr-admin'), 'utf8').trim() },
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
  return clusterHealthy({ ...adminAccess(config, node.role), url: nodeUrl(config, node) });
}

/** Waits until every node of the cluster has joined and the cluster is green or yellow. */
export async function waitForCluster(config: StackConfig, role: ClusterRole): Promise<number> {
  const p = stackPaths(config);
  const nodes = clusterNodes(config, role);
  const pids = nodes.map((n) => readPid(pidFile(p.pids, n.part)));
  const access = adminAccess(config, role);
  return waitUntil(
    `Elasticsearch ${role}${nodes.length > 1 ? ` (${nodes.length} nodes)` : ''}`,
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
