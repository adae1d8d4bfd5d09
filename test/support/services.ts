/**
 * Runs kccr's extractor and applier as real processes against the stack, as the tests' users would,
 * so that they can be stopped gracefully or killed with SIGKILL and started again.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { StackState } from '../../deploy/local/lib/state.js';
import { kafkaEnv } from './stack.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const LOGS = join(ROOT, '.stack', 'test-logs');

export type ServiceName = 'extractor' | 'applier';

export interface ServiceOptions {
  readonly leaderCluster: string;
  readonly followerCluster: string;
  /** The stack's cluster an extractor reads (`leader` by default; `leader2` ... on a fan-in stack). */
  readonly leaderStackCluster?: string;
  /** The users the services run as in secure mode (least privilege). */
  readonly leaderUser?: string;
  readonly followerUser?: string;
  /** The Kafka principals they run as in secure mode (default kccr-extractor and kccr-applier). */
  readonly extractorKafkaUser?: string;
  readonly applierKafkaUser?: string;
  readonly env?: Record<string, string>;
  /** Settings for one service only, over `env` (e.g. pointing one of them through a proxy). */
  readonly extractorEnv?: Record<string, string>;
  readonly applierEnv?: Record<string, string>;
}

/** The environment a service needs to reach this stack, as docs/reference/settings.md documents it. */
export function serviceEnv(stack: StackState, name: ServiceName, opts: ServiceOptions): Record<string, string> {
  const kafkaUser = name === 'extractor' ? (opts.extractorKafkaUser ?? 'kccr-extractor') : (opts.applierKafkaUser ?? 'kccr-applier');
  const env: Record<string, string> = {
    // Each service with its own Kafka principal in secure mode (docs/operations/security.md, Kafka principals).
    ...kafkaEnv(stack, kafkaUser),
    KCCR_REGISTRY_URL: stack.registry.url,
    KCCR_LEADER_CLUSTER: opts.leaderCluster,
    KCCR_FOLLOWER_CLUSTER: opts.followerCluster,
    KCCR_LOG_LEVEL: 'info',
    KCCR_STATUS_INTERVAL_MS: '500',
    // Many services run at once: each /metrics listener on a free port of its own.
    KCCR_METRICS_PORT: '0',
    KCCR_EXTRACTOR_MIN_POLL_MS: '200',
    KCCR_EXTRACTOR_MAX_POLL_MS: '1000',
    KCCR_EXTRACTOR_IDLE_CHECKPOINT_MS: '1000',
    // Failures only an operator fixes are probed again every minute by default; tests fix them faster.
    KCCR_FAILED_PROBE_MS: '2000',
  };
  const role = name === 'extractor' ? (opts.leaderStackCluster ?? 'leader') : 'follower';
  const prefix = name === 'extractor' ? 'KCCR_LEADER_' : 'KCCR_FOLLOWER_';
  const cluster = stack.clusters[role];
  if (!cluster) throw new Error(`the stack has no cluster ${role}; it has ${Object.keys(stack.clusters).join(', ')}`);
  env[`${prefix}URL`] = cluster.nodes && cluster.nodes.length > 1 ? cluster.nodes.map((n) => n.url).join(',') : cluster.url;
  if (stack.mode === 'secure') {
    const user = (name === 'extractor' ? opts.leaderUser : opts.followerUser) ?? (name === 'extractor' ? 'kccr-extractor' : 'kccr-applier');
    env[`${prefix}USERNAME`] = user;
    env[`${prefix}PASSWORD_FILE`] = cluster.users[user]!.passwordFile;
    if (cluster.caFile) env[`${prefix}CA_FILE`] = cluster.caFile;
  }
  return { ...env, ...opts.env, ...(name === 'extractor' ? opts.extractorEnv : opts.applierEnv) };
}

export class ServiceProcess {
  private child?: ChildProcess;
  private exit?: Promise<number | null>;
  starts = 0;

  constructor(
    readonly name: ServiceName,
    private readonly env: Record<string, string>,
    private readonly label: string,
  ) {}

  start(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) throw new Error(`${this.name} is already running`);
    mkdirSync(LOGS, { recursive: true });
    const log = createWriteStream(join(LOGS, `${this.label}-${this.name}.log`), { flags: 'a' });
    this.starts++;
    const child = spawn(process.execPath, serviceArgs(this.name), {
      cwd: ROOT,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    this.exit = new Promise((res) => child.on('exit', (code) => res(code)));
    this.child = child;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** SIGKILL: no chance to finish or commit anything. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exit;
  }

  /** SIGTERM and wait: returns the exit code and how long the stop took. */
  async stop(): Promise<{ code: number | null; ms: number }> {
    const t0 = Date.now();
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return { code: this.child?.exitCode ?? null, ms: 0 };
    this.child.kill('SIGTERM');
    const code = await this.exit!;
    return { code: code ?? null, ms: Date.now() - t0 };
  }
}

/**
 * How a service is started: from the TypeScript sources through tsx (tests), or, with
 * KCCR_SERVICE_RUNTIME=dist, the compiled build as users run it (`npm run build` first; benchmarks do).
 */
export function serviceArgs(name: ServiceName): string[] {
  // Extra Node options for profiling (e.g. --cpu-prof, which NODE_OPTIONS does not take).
  const extra = (process.env.KCCR_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // The heap ceiling docs/operations/running.md, `npm run start:*` and the image give the services (KCCR_SERVICE_HEAP_MIB to try others).
  const heap = process.env.KCCR_SERVICE_HEAP_MIB ?? '128';
  if (process.env.KCCR_SERVICE_RUNTIME === 'dist')
    return [`--max-old-space-size=${heap}`, '--max-semi-space-size=16', ...extra, join(ROOT, 'dist', 'services', name, 'main.js')];
  return [...extra, '--import', 'tsx', join(ROOT, 'services', name, 'main.ts')];
}

export function startService(stack: StackState, name: ServiceName, opts: ServiceOptions, label: string): ServiceProcess {
  const p = new ServiceProcess(name, serviceEnv(stack, name, opts), label);
  p.start();
  return p;
}
