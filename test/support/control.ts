/**
 * A control service for tests: the real app over the real Kafka tables (the same construction main.ts uses),
 * with an admin (basic auth) and a read-only principal (token), and the stack's clusters registered by the names
 * the extractor and applier processes of a harness use.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { KafkaAdapter } from '../../services/shared/adapters/kafka.js';
import { buildApp } from '../../services/control/http/app.js';
import type { AppOptions } from '../../services/control/http/app.js';
import { createControlState } from '../../services/control/deps.js';
import type { ControlState } from '../../services/control/deps.js';
import { hashPassword, parsePrincipals, sha256Hex } from '../../services/control/http/principals.js';
import type { StackState } from '../../deploy/local/lib/state.js';
import { startHarness } from './replication.js';
import type { Harness } from './replication.js';
import type { ServiceOptions } from './services.js';
import { esConnection, kafkaConnection, loadStack } from './stack.js';

export const ADMIN = { name: 'ops-admin', password: 'ops-admin-password' } as const;
export const READER_TOKEN = 'kccr_reader-token-for-tests';
export const PRINCIPALS = parsePrincipals(
  JSON.stringify([
    { name: ADMIN.name, role: 'admin', password_scrypt: hashPassword(ADMIN.password) },
    { name: 'dashboard', role: 'read', token_sha256: sha256Hex(READER_TOKEN) },
  ]),
).principals;

export const adminHeaders = { authorization: `Basic ${Buffer.from(`${ADMIN.name}:${ADMIN.password}`).toString('base64')}` };
export const readerHeaders = { authorization: `Bearer ${READER_TOKEN}` };

export interface Control {
  readonly app: FastifyInstance;
  readonly state: ControlState;
  readonly kafka: KafkaAdapter;
  /** inject as the admin, JSON body; returns status and parsed body. */
  call<T = Record<string, unknown>>(
    method: InjectOptions['method'],
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: T }>;
  /** This control service's KCCR_CONTROL_SECRETS_DIR: copies of the stack's CA and password files, by their names. */
  readonly secretsDir: string;
  /** Where the copy of one of the stack's CA or password files lies in the secrets directory. */
  secret(stackFile: string): string;
  close(): Promise<void>;
}

/** A secrets directory as an operator would lay it out: the stack's CA and password files copied in. */
function secretsOf(stack: StackState): string {
  const dir = mkdtempSync(join(tmpdir(), 'kccr-control-secrets-'));
  for (const cluster of Object.values(stack.clusters)) {
    if (!cluster) continue;
    if (cluster.caFile) copyFileSync(cluster.caFile, join(dir, `${basename(cluster.caFile)}`));
    for (const user of Object.values(cluster.users ?? {})) copyFileSync(user.passwordFile, join(dir, basename(user.passwordFile)));
  }
  return dir;
}

export async function startControl(
  stack: StackState,
  opts: { followerCluster: string; env?: NodeJS.ProcessEnv; app?: AppOptions; snapshotRepository?: string },
): Promise<Control> {
  // As the control service runs: with its own principal in secure mode.
  const kafka = new KafkaAdapter(kafkaConnection(stack, 'kccr-control-test', 'kccr-control'));
  const secretsDir = secretsOf(stack);
  const state = createControlState(kafka, {
    secretsDir,
    auth: { mode: 'users', principals: PRINCIPALS },
    followerCluster: opts.followerCluster,
    env: opts.env ?? process.env,
    snapshotRepository: opts.snapshotRepository ?? stack.snapshotRepository.name,
  });
  await state.open();
  const app = buildApp(state.deps, opts.app ?? {});
  await app.ready();
  return {
    app,
    state,
    kafka,
    async call(method, url, body, headers = adminHeaders) {
      const r = await app.inject({
        method,
        url,
        headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
      });
      return { status: r.statusCode, body: (r.body ? JSON.parse(r.body) : {}) as never };
    },
    secretsDir,
    secret: (stackFile) => join(secretsDir, basename(stackFile)),
    async close() {
      await app.close();
      await state.close();
      await kafka.close();
      rmSync(secretsDir, { recursive: true, force: true });
    },
  };
}

/**
 * A control service's environment for auto-follow tests: a run every `intervalMs`; a failed index stays failed for
 * the rest of the test (tried again after 10 minutes, not every run); only the rules of this test's follower cluster
 * are run, so that other runs sharing the stack (and Kafka) keep theirs to themselves.
 */
export function autofollowEnv(followerCluster: string, intervalMs: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KCCR_CONTROL_AUTOFOLLOW_INTERVAL_MS: String(intervalMs),
    KCCR_CONTROL_AUTOFOLLOW_RETRY_MS: '600000',
    KCCR_CONTROL_AUTOFOLLOW_FOLLOWER_CLUSTERS: followerCluster,
  };
}

/** Registers the stack's leader and follower under the given names (plain stack: no credentials). */
export async function registerPlainClusters(control: Control, stack: StackState, names: { leaderCluster: string; followerCluster: string }): Promise<void> {
  for (const [name, role] of [
    [names.leaderCluster, 'leader'],
    [names.followerCluster, 'follower'],
  ] as const) {
    const r = await control.call('PUT', `/_kccr/clusters/${name}`, { url: esConnection(stack, role).url });
    if (r.status !== 200) throw new Error(`registering ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

/** Removes clusters from the registry, used or not (test cleanup), then closes the control instance. */
export async function forgetClusters(control: Control, names: readonly string[]): Promise<void> {
  try {
    for (const name of names) if (control.state.deps.clusters.get(name)) await control.state.deps.clusters.remove(name);
  } finally {
    await control.close();
  }
}

/**
 * The usual set-up of a control-service test: real extractor and applier processes (a harness), a control service
 * over the same Kafka, and the plain stack's clusters registered under the harness's names. `env` is the control
 * service's environment, `services` the options of the extractor and applier processes. `listen` also serves the
 * app on a free port for the CLI.
 */
export async function startControlledHarness(
  label: string,
  opts: { env?: NodeJS.ProcessEnv; listen?: boolean; services?: Partial<ServiceOptions> } = {},
): Promise<{ h: Harness; control: Control; url: string }> {
  const h = await startHarness(loadStack('plain'), label, opts.services);
  const control = await startControl(h.stack, { followerCluster: h.names.followerCluster, ...(opts.env ? { env: opts.env } : {}) });
  await registerPlainClusters(control, h.stack, h.names);
  const url = opts.listen ? await control.app.listen({ host: '127.0.0.1', port: 0 }) : '';
  return { h, control, url };
}

/** Stops the harness's processes, forgets its clusters and closes the control service (either may be missing). */
export async function closeControlledHarness(h: Harness | undefined, control: Control | undefined): Promise<void> {
  await h?.close();
  if (control) await forgetClusters(control, h ? [h.names.leaderCluster, h.names.followerCluster] : []);
}
