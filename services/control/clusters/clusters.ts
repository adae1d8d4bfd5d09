/**
 * The registered Elasticsearch clusters, in the compacted topic kccr._clusters. A replication names its leader and
 * follower by these names (the announcement's `remote_cluster`). Credentials are never stored: an entry names the
 * environment variable or the file that holds them, and they are read each time the control service connects.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { ElasticsearchAdapter } from '../../shared/adapters/elasticsearch.js';
import type { KafkaAdapter } from '../../shared/adapters/kafka.js';
import type { EsConnection } from '../../shared/config.js';
import { KccrError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { CompactedTable, CONTROL_TOPICS } from '../../shared/table.js';

export const CLUSTERS_TOPIC = CONTROL_TOPICS.clusters;

export interface ClusterEntry {
  readonly name: string;
  readonly url: string;
  readonly caFile?: string;
  readonly username?: string;
  readonly passwordEnv?: string;
  readonly passwordFile?: string;
  readonly apiKeyEnv?: string;
  readonly apiKeyFile?: string;
  readonly updatedBy: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** The body of PUT /_kccr/clusters/{name}, as the schema admits it. */
export interface ClusterRequest {
  readonly url: string;
  readonly ca_file?: string;
  readonly username?: string;
  readonly password_env?: string;
  readonly password_file?: string;
  readonly api_key_env?: string;
  readonly api_key_file?: string;
}

export interface ReferenceContext {
  /** The control service's environment, where *_env references are looked up. */
  readonly env: NodeJS.ProcessEnv;
  /** Every file reference must lie under it, symbolic links followed (KCCR_CONTROL_SECRETS_DIR). */
  readonly secretsDir: string;
}

/** Where file references must lie when KCCR_CONTROL_SECRETS_DIR is not set: the control service's own folder. */
export function defaultSecretsDir(cwd = process.cwd()): string {
  return join(cwd, 'secrets');
}

/**
 * The only variables a registration may name: a registered URL receives what they hold, so the control service's
 * own settings and the host's other variables (cloud keys, tokens) are out of reach.
 */
const SECRET_ENV = /^KCCR_SECRET_[A-Za-z0-9_]+$/;

/**
 * The file behind a reference, if it is a regular file under the secrets directory once every symbolic link is
 * followed; undefined otherwise. Why it is refused (missing, outside, a link out, unreadable) is not told: an
 * answer that differs would tell a caller which files exist on the control service's host.
 */
function secretFile(path: string, secretsDir: string): string | undefined {
  if (!isAbsolute(path)) return undefined;
  try {
    const real = realpathSync(path);
    const rel = relative(realpathSync(secretsDir), real);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || !statSync(real).isFile()) return undefined;
    return readFileSync(real, 'utf8');
  } catch {
    return undefined;
  }
}

function fileProblem(field: string, path: string, secretsDir: string): string {
  return isAbsolute(path)
    ? `${field}: ${path} is not a readable file under KCCR_CONTROL_SECRETS_DIR (${secretsDir}); put the file there (links that lead out of it are refused)`
    : `${field}: expected an absolute path under KCCR_CONTROL_SECRETS_DIR (${secretsDir}), received ${JSON.stringify(path)}`;
}

function checkFile(field: string, path: string, ctx: ReferenceContext, problems: string[]): void {
  if (secretFile(path, ctx.secretsDir) === undefined) problems.push(fileProblem(field, path, ctx.secretsDir));
}

function envProblem(field: string, name: string, env: NodeJS.ProcessEnv): string | undefined {
  if (!SECRET_ENV.test(name))
    return `${field}: expected the name of a variable starting with KCCR_SECRET_ (only those are read for registered clusters), received ${JSON.stringify(name)}`;
  if (env[name] === undefined || env[name] === '')
    return `${field}: ${name} is not set in the control service's environment; set it there and restart the control service, or use a file`;
  return undefined;
}

function checkEnv(field: string, name: string, ctx: ReferenceContext, problems: string[]): void {
  const problem = envProblem(field, name, ctx.env);
  if (problem) problems.push(problem);
}

/**
 * Checks a registration beyond its JSON schema: one way per secret, a password with a user name, and references
 * the control service can resolve now. Every problem is returned; the values behind references never are.
 */
export function checkClusterRequest(req: ClusterRequest, ctx: ReferenceContext): string[] {
  const problems: string[] = [];
  // One URL, or several nodes of the cluster, comma-separated.
  for (const url of req.url.split(',')) {
    try {
      const u = new URL(url.trim());
      if (u.protocol !== 'http:' && u.protocol !== 'https:') problems.push(`url: expected http:// or https://, received ${JSON.stringify(u.protocol)}`);
      if (u.username || u.password) problems.push('url: credentials inside the URL are not accepted; use username with password_env or password_file');
      if (u.search || u.hash) problems.push('url: expected no query or fragment');
    } catch {
      problems.push(`url: expected an http:// or https:// URL (or several, comma-separated), received ${JSON.stringify(url)}`);
    }
  }
  if (req.password_env !== undefined && req.password_file !== undefined) problems.push('password_env and password_file are both given; give one');
  if (req.api_key_env !== undefined && req.api_key_file !== undefined) problems.push('api_key_env and api_key_file are both given; give one');
  const hasPassword = req.password_env !== undefined || req.password_file !== undefined;
  const hasApiKey = req.api_key_env !== undefined || req.api_key_file !== undefined;
  if (req.username !== undefined && !hasPassword) problems.push('username is given without password_env or password_file');
  if (req.username === undefined && hasPassword) problems.push('a password reference is given without username');
  if (hasApiKey && (req.username !== undefined || hasPassword))
    problems.push('give either username with a password reference or an API key reference, not both');
  if (req.ca_file !== undefined) checkFile('ca_file', req.ca_file, ctx, problems);
  if (req.password_file !== undefined) checkFile('password_file', req.password_file, ctx, problems);
  if (req.api_key_file !== undefined) checkFile('api_key_file', req.api_key_file, ctx, problems);
  if (req.password_env !== undefined) checkEnv('password_env', req.password_env, ctx, problems);
  if (req.api_key_env !== undefined) checkEnv('api_key_env', req.api_key_env, ctx, problems);
  return problems;
}

export function toEntry(name: string, req: ClusterRequest, by: string, previous: ClusterEntry | undefined, now: number): ClusterEntry {
  return {
    name,
    url: req.url
      .split(',')
      .map((u) => u.trim().replace(/\/+$/, ''))
      .join(','),
    ...(req.ca_file !== undefined ? { caFile: req.ca_file } : {}),
    ...(req.username !== undefined ? { username: req.username } : {}),
    ...(req.password_env !== undefined ? { passwordEnv: req.password_env } : {}),
    ...(req.password_file !== undefined ? { passwordFile: req.password_file } : {}),
    ...(req.api_key_env !== undefined ? { apiKeyEnv: req.api_key_env } : {}),
    ...(req.api_key_file !== undefined ? { apiKeyFile: req.api_key_file } : {}),
    updatedBy: by,
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
  };
}

/** What the API shows of an entry: the references, never what they hold. */
export function clusterView(e: ClusterEntry) {
  return {
    name: e.name,
    url: e.url,
    ...(e.caFile !== undefined ? { ca_file: e.caFile } : {}),
    ...(e.username !== undefined ? { username: e.username } : {}),
    ...(e.passwordEnv !== undefined ? { password_env: e.passwordEnv } : {}),
    ...(e.passwordFile !== undefined ? { password_file: e.passwordFile } : {}),
    ...(e.apiKeyEnv !== undefined ? { api_key_env: e.apiKeyEnv } : {}),
    ...(e.apiKeyFile !== undefined ? { api_key_file: e.apiKeyFile } : {}),
    updated_by: e.updatedBy,
    created_at: new Date(e.createdAt).toISOString(),
    updated_at: new Date(e.updatedAt).toISOString(),
  };
}

/**
 * Reads the references of an entry now, under the same rules as a registration: an entry in kccr._clusters that
 * breaks them (written around the API, or registered before the rules) is refused, never connected to.
 */
export function resolveConnection(e: ClusterEntry, ctx: ReferenceContext): EsConnection {
  const fail = (why: string) =>
    new KccrError('CONFIG_INVALID', `cluster ${e.name}: ${why}; fix the control service's environment or register the cluster again`, { cluster: e.name });
  const urlProblems = checkClusterRequest({ url: e.url }, ctx);
  if (urlProblems.length) throw fail(urlProblems.join('; '));
  const file = (field: string, path: string) => {
    const text = secretFile(path, ctx.secretsDir);
    if (text === undefined) throw fail(fileProblem(field, path, ctx.secretsDir));
    return text;
  };
  const variable = (field: string, name: string) => {
    const problem = envProblem(field, name, ctx.env);
    if (problem) throw fail(problem);
    return ctx.env[name]!;
  };
  const password =
    e.passwordEnv !== undefined
      ? variable('password_env', e.passwordEnv)
      : e.passwordFile !== undefined
        ? file('password_file', e.passwordFile).trim()
        : undefined;
  const apiKey =
    e.apiKeyEnv !== undefined ? variable('api_key_env', e.apiKeyEnv) : e.apiKeyFile !== undefined ? file('api_key_file', e.apiKeyFile).trim() : undefined;
  const ca = e.caFile !== undefined ? file('ca_file', e.caFile) : undefined;
  return {
    url: e.url,
    ...(ca !== undefined ? { ca } : {}),
    ...(e.username !== undefined ? { username: e.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
  };
}

export class ClusterRegistry {
  readonly table: CompactedTable<ClusterEntry>;

  constructor(
    kafka: KafkaAdapter,
    private readonly refs: ReferenceContext,
    logger?: Logger,
  ) {
    this.table = new CompactedTable<ClusterEntry>(kafka, CLUSTERS_TOPIC, logger);
  }

  open(): Promise<void> {
    return this.table.open();
  }

  close(): Promise<void> {
    return this.table.close();
  }

  get(name: string): ClusterEntry | undefined {
    return this.table.get(name);
  }

  list(): ClusterEntry[] {
    return this.table
      .entries()
      .map(([, e]) => e)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async put(entry: ClusterEntry): Promise<void> {
    await this.table.putAndSee(entry.name, entry);
  }

  /** Removes the entry and waits until this reader has seen the removal, so that a following GET agrees. */
  async remove(name: string, timeoutMs = 10_000): Promise<void> {
    const gone = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.table.off('change', onChange);
        reject(new KccrError('KAFKA_UNAVAILABLE', `the removal of cluster ${name} was not read back from ${CLUSTERS_TOPIC} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onChange = (key: string, value: ClusterEntry | undefined) => {
        if (key !== name || value !== undefined) return;
        clearTimeout(timer);
        this.table.off('change', onChange);
        resolve();
      };
      this.table.on('change', onChange);
    });
    gone.catch(() => undefined); // awaited below; this only keeps a failed send from leaving it unhandled
    await this.table.delete(name);
    await gone;
  }

  /** Connects to a registered cluster for `fn`, with credentials read now, and closes the connection after. */
  async withClient<T>(name: string, fn: (es: ElasticsearchAdapter) => Promise<T>): Promise<T> {
    const entry = this.get(name);
    if (!entry)
      throw new KccrError('NOT_FOUND', `cluster ${name} is not registered; register it with PUT /_kccr/clusters/${name} (kccr clusters add ${name} --url ...)`);
    const es = new ElasticsearchAdapter(resolveConnection(entry, this.refs), { requestTimeoutMs: 15_000 });
    try {
      return await fn(es);
    } finally {
      await es.close();
    }
  }
}
