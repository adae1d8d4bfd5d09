/**
 * What the integration tests know of the running stack: read from the stack.json that `npm run stack:up` writes
 * (npm test points KCCR_STACK_STATE / KCCR_SECURE_STACK_STATE at it).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { KafkaConnection } from '../../services/shared/adapters/kafka.js';
import type { EsConnection } from '../../services/shared/config.js';
import type { StackState } from '../../deploy/local/lib/state.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

export type StackKind = 'plain' | 'secure';

/** Where the stack.json of a stack is (its folder holds the stack's processes' files). */
export function stackStateFile(kind: StackKind): string {
  return kind === 'plain'
    ? (process.env.KCCR_STACK_STATE ?? join(ROOT, '.stack', 'stack.json'))
    : (process.env.KCCR_SECURE_STACK_STATE ?? join(ROOT, '.stack-secure', 'stack.json'));
}

export function loadStack(kind: StackKind): StackState {
  const file = stackStateFile(kind);
  if (!existsSync(file)) {
    throw new Error(`no ${kind} stack state at ${file}: run the suite with \`npm test\`, which starts the stacks, or start one with \`npm run stack:up\``);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as StackState;
}

/**
 * The stack's leader clusters' keys in `stack.clusters`, leader 1 (`leader`) first: more than one when the stack was
 * started with KCCR_LEADER_CLUSTERS (fan-in).
 */
export function leaderClusters(stack: StackState): readonly string[] {
  return stack.leaders ?? ['leader'];
}

/**
 * The stack's engines, leader → follower ("opensearch 2.19.4 → elasticsearch 8.19.21"), for test names: the same
 * tests run on whichever engines the stack was started with (KCCR_LEADER_ENGINE, KCCR_FOLLOWER_ENGINE).
 */
export function stackEngines(stack: StackState | StackKind): string {
  if (typeof stack === 'string') {
    if (!existsSync(stackStateFile(stack))) return `no ${stack} stack`;
    stack = loadStack(stack);
  }
  const engine = (role: 'leader' | 'follower') => {
    const e = (stack as StackState).clusters[role].engine ?? { kind: 'elasticsearch', version: (stack as StackState).esVersion };
    return `${e.kind} ${e.version}`;
  };
  return `${engine('leader')} → ${engine('follower')}`;
}

/**
 * Connection to one cluster of the stack (`leader`, `follower`, or a further leader such as `leader2`), as a given
 * user (secure mode) or anonymous (plain mode).
 */
export function esConnection(stack: StackState, role: string, user?: string): EsConnection {
  const cluster = stack.clusters[role];
  if (!cluster) throw new Error(`the stack has no cluster ${role}; it has ${Object.keys(stack.clusters).join(', ')}`);
  // Every node of a multi-node cluster, so that a client goes on when one of them is down.
  const url = cluster.nodes && cluster.nodes.length > 1 ? cluster.nodes.map((n) => n.url).join(',') : cluster.url;
  if (stack.mode === 'plain') return { url };
  const name = user ?? 'kccr-admin';
  const u = cluster.users[name];
  if (!u) throw new Error(`the ${role} cluster has no user ${name}; it has ${Object.keys(cluster.users).join(', ')}`);
  return {
    url,
    ...(cluster.caFile ? { ca: readFileSync(cluster.caFile, 'utf8') } : {}),
    username: name,
    password: readFileSync(u.passwordFile, 'utf8').trim(),
  };
}

/**
 * Connection to the stack's Kafka as one principal (secure mode: TLS with the stack's CA, SCRAM-SHA-512; by default
 * kccr-admin, the super user that tests use to read and write topics directly) or anonymous (plain mode).
 */
export function kafkaConnection(stack: StackState, clientId: string, user = 'kccr-admin'): KafkaConnection {
  const { brokers, tls, sasl } = stack.kafka;
  if (stack.mode === 'plain' || !sasl) return { brokers, clientId };
  const u = sasl.users[user];
  if (!u) throw new Error(`the stack's Kafka has no user ${user}; it has ${Object.keys(sasl.users).join(', ')}`);
  return {
    brokers,
    clientId,
    ...(tls ? { ssl: { ca: readFileSync(tls.caFile, 'utf8') } } : {}),
    sasl: { mechanism: sasl.mechanism, username: user, password: readFileSync(u.passwordFile, 'utf8').trim() },
  };
}

/** The KCCR_KAFKA_* settings of a kccr service connecting as `user` (none beyond the brokers in plain mode). */
export function kafkaEnv(stack: StackState, user: string): Record<string, string> {
  const { brokers, tls, sasl } = stack.kafka;
  const env: Record<string, string> = { KCCR_KAFKA_BROKERS: brokers.join(',') };
  if (stack.mode === 'plain' || !sasl) return env;
  const u = sasl.users[user];
  if (!u) throw new Error(`the stack's Kafka has no user ${user}; it has ${Object.keys(sasl.users).join(', ')}`);
  if (tls) env.KCCR_KAFKA_CA_FILE = tls.caFile;
  env.KCCR_KAFKA_SASL_MECHANISM = sasl.mechanism;
  env.KCCR_KAFKA_SASL_USERNAME = user;
  env.KCCR_KAFKA_SASL_PASSWORD_FILE = u.passwordFile;
  return env;
}

/** A name no other test (or earlier run) uses: indices, topics and groups are never shared between tests. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Polls until `probe` returns a value other than undefined/false; fails with the last observation. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const start = Date.now();
  let last: unknown;
  while (Date.now() - start < timeoutMs) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last observation: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

/** A TCP port free on 127.0.0.1 now (for a listener a test starts: a service's /metrics, a Kafka of its own). */
export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}
