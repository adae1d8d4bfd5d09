/**
 * `npm run demo`: the first quick-start command. On the local stack (started, or reused when healthy) it runs
 * kccr's three services as child processes, registers the two clusters and starts replication of a sample index
 * through the control API, writes to the leader for a while with a live status table, waits until the follower
 * has caught up and the verifier finds both indices identical, and stops the services again. The stack stays up.
 *
 *   KCCR_DEMO_SECONDS       how long to write to the leader (default 30)
 *   KCCR_DEMO_DOCS          documents in the sample index before replication starts (default 3000)
 *   KCCR_DEMO_PORT          the control service's port (default 8090; another free one when taken)
 *   KCCR_DEMO_WAIT_SECONDS  bound on catching up and verifying after the writes stop (default 120)
 *
 * Exit code 0 when the verifier found the follower identical; 1 on any failure (with what failed and where its
 * log is); 130 / 143 when interrupted. The services are stopped in every case.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { KafkaAdapter } from '../../services/shared/adapters/kafka.js';
import { EnvReader } from '../../services/shared/config.js';
import { errorMessage } from '../../services/shared/errors.js';
import { runVerify } from '../../services/verifier/main.js';
import { readStackConfig, StackConfigError, stackPaths } from './lib/config.js';
import type { StackConfig } from './lib/config.js';
import type { StackState } from './lib/state.js';
import { readState } from './lib/state.js';
import { choosePort, DemoControlClient, writeDemoCredentials } from './demo-control.js';
import type { DemoCredentials } from './demo-control.js';
import { LeaderWriter } from './demo-load.js';
import { DemoService, livePidRunning, stopLeftovers } from './demo-processes.js';
import type { DemoServiceName, ExitInfo } from './demo-processes.js';
import { resetDemoTopic } from './demo-reset.js';
import type { DemoNames } from './demo-reset.js';
import { caughtUp, emptyCounts, LiveBlock, statusLines } from './demo-status.js';
import type { DemoStatus } from './demo-status.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const NAMES: DemoNames = { leaderCluster: 'demo-leader', followerCluster: 'demo-follower', leaderIndex: 'kccr-demo', followerIndex: 'kccr-demo-follower' };
const STATUS_EVERY_MS = 2000;
const WRITE_EVERY_MS = 200;
const OPS_PER_WRITE = 30;

class DemoFailure extends Error {
  constructor(
    message: string,
    /** Shown after the message: a log tail, what to run. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted (${signal})`);
  }
}

function readDemoSettings() {
  const r = new EnvReader(process.env);
  return r.done({
    seconds: r.int('KCCR_DEMO_SECONDS', 30, 0, 3600),
    docs: r.int('KCCR_DEMO_DOCS', 3000, 100, 1_000_000),
    port: r.int('KCCR_DEMO_PORT', 8090, 1, 65_535),
    waitSeconds: r.int('KCCR_DEMO_WAIT_SECONDS', 120, 10, 3600),
  });
}

const out = (line = '') => process.stdout.write(`${line}\n`);
const rel = (p: string) => {
  const r = relative(process.cwd(), p);
  return r.startsWith('..') ? p : r;
};
const step = (n: number, text: string) => out(`\n[${n}/7] ${text}`);

class Demo {
  private readonly abort = new AbortController();
  private readonly services = new Map<DemoServiceName, DemoService>();
  private readonly counts = emptyCounts();
  private readonly adapters: { close(): Promise<void> }[] = [];
  private stackChild?: ReturnType<typeof spawn>;
  private demoPidFile?: string;

  constructor(private readonly settings: ReturnType<typeof readDemoSettings>) {}

  /** First signal: stop what runs and clean up. Second: no more grace. */
  installSignals(): void {
    let firstAt: number | undefined;
    const on = (signal: NodeJS.Signals) => {
      // A Ctrl-C reaches this process twice at once: from the terminal and relayed by tsx (npm run demo).
      if (firstAt !== undefined && Date.now() - firstAt < 1000) return;
      if (firstAt === undefined) {
        firstAt = Date.now();
        process.stderr.write(`\ndemo: ${signal}: stopping the kccr services (press Ctrl-C again to kill them) ...\n`);
        this.stackChild?.kill(signal);
        this.abort.abort(new Interrupted(signal));
      } else {
        for (const s of this.services.values()) s.kill();
        process.exit(signal === 'SIGINT' ? 130 : signal === 'SIGHUP' ? 129 : 143);
      }
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
    // The terminal went away: still stop the services.
    process.on('SIGHUP', on);
  }

  private get signal(): AbortSignal {
    return this.abort.signal;
  }

  private check(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.signal.aborted) return reject(this.signal.reason as Error);
      const timer = setTimeout(() => {
        this.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(this.signal.reason as Error);
      };
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private stackScript(args: string[], quiet: boolean): Promise<number> {
    // Plain mode always: the demo's services run without cluster credentials.
    const env = { ...process.env, KCCR_SECURE: '0' };
    return new Promise((resolve) => {
      const child = spawn(TSX, [join(ROOT, 'deploy/local/stack.ts'), ...args], { cwd: ROOT, env, stdio: quiet ? 'ignore' : 'inherit' });
      this.stackChild = child;
      child.on('exit', (code) => {
        this.stackChild = undefined;
        resolve(code ?? 1);
      });
    });
  }

  async run(): Promise<void> {
    const t0 = Date.now();
    out('kccr demo: cross-cluster replication of an Elasticsearch index, through Kafka');

    const config = this.stackConfig();
    const paths = stackPaths(config);
    this.claimDemo(paths.pids);
    step(1, 'local stack (plain mode; reused when it is up)');
    const stack = await this.stackUp(config);
    const leftovers = await stopLeftovers(ROOT, paths.pids);
    if (leftovers.length) out(`  stopped services a previous demo left running: ${leftovers.join(', ')}`);

    step(2, 'kccr services (child processes of this demo)');
    const creds = writeDemoCredentials(config.stackDir, paths.secrets);
    const port = await choosePort('127.0.0.1', this.settings.port);
    const url = `http://127.0.0.1:${port}`;
    const serviceEnv = this.serviceEnvs(stack, creds, port);
    const control = new DemoControlClient(url, creds.token);
    this.startService('control', serviceEnv.control, paths);
    await this.waitHealthy(control);
    out(
      `  control    pid ${this.pidOf('control')}  ${url}${port !== this.settings.port ? ` (port ${this.settings.port} was taken)` : ''}, admin token in ${rel(creds.tokenFile)}`,
    );

    const { leader, follower } = this.clusters(stack);
    await this.freshStart(control, leader, follower, stack);
    this.startService('extractor', serviceEnv.extractor, paths);
    this.startService('applier', serviceEnv.applier, paths);
    out(`  extractor  pid ${this.pidOf('extractor')}  leader cluster ${NAMES.leaderCluster} (${stack.clusters.leader.url})`);
    out(`  applier    pid ${this.pidOf('applier')}  follower cluster ${NAMES.followerCluster} (${stack.clusters.follower.url})`);
    out(`  logs       ${rel(join(paths.logs, 'demo-<service>.log'))}`);

    step(3, 'register the clusters with the control service');
    for (const [name, role] of [
      [NAMES.leaderCluster, 'leader'],
      [NAMES.followerCluster, 'follower'],
    ] as const) {
      const r = await control.call<{ created: boolean }>('PUT', `/_kccr/clusters/${name}`, { url: stack.clusters[role].url });
      out(`  PUT /_kccr/clusters/${name} {"url": "${stack.clusters[role].url}"}   ${r.created ? 'registered' : 'already registered'}`);
    }

    step(4, `sample leader index ${NAMES.leaderIndex}`);
    const writer = new LeaderWriter(leader, NAMES.leaderIndex, this.counts);
    const tLoad = Date.now();
    await writer.createIndex(this.settings.docs);
    if (this.counts.failed > 0) throw new DemoFailure(`the leader refused ${this.counts.failed} of the ${this.settings.docs} sample documents`);
    out(`  3 shards, ${this.settings.docs.toLocaleString('en-US')} documents (a quarter with custom routing) in ${((Date.now() - tLoad) / 1000).toFixed(1)} s`);
    Object.assign(this.counts, emptyCounts());

    step(5, 'start replication through the control API');
    const startBody = { leader_alias: NAMES.leaderCluster, leader_index: NAMES.leaderIndex };
    await control.call('PUT', `/_plugins/_replication/${NAMES.followerIndex}/_start`, startBody);
    out(`  PUT /_plugins/_replication/${NAMES.followerIndex}/_start ${JSON.stringify(startBody)}   acknowledged`);

    step(6, `writing to the leader for ${this.settings.seconds} s: creates, updates and deletes, some with custom routing`);
    const live = new LiveBlock();
    await this.writePhase(writer, control, live);

    step(7, 'writes stopped: waiting for the follower to catch up, then verifying');
    const verdict = await this.catchUpAndVerify(leader, control, live, stack);
    for (const line of verdict) out(`  ${line}`);

    const seconds = Math.round((Date.now() - t0) / 1000);
    out(
      `\nThe follower index ${NAMES.followerIndex} on ${stack.clusters.follower.url} is identical to ${NAMES.leaderIndex} on ${stack.clusters.leader.url} (demo took ${seconds} s).`,
    );
    this.printNext(paths, creds, port, stack);
  }

  /** The stack's settings as the stack script reads them (KCCR_STACK_DIR, ports, ...), in plain mode. */
  private stackConfig(): StackConfig {
    try {
      return readStackConfig({ ...process.env, KCCR_SECURE: '0' });
    } catch (e) {
      if (e instanceof StackConfigError) throw new DemoFailure(e.message);
      throw e;
    }
  }

  private async stackUp(config: StackConfig): Promise<StackState> {
    if ((await this.stackScript(['up'], false)) !== 0) {
      this.check();
      throw new DemoFailure(
        'the local stack did not come up (see the messages above)',
        'Fix what they name and run `npm run demo` again; `npm run stack:status` shows each part.',
      );
    }
    this.check();
    if ((await this.stackScript(['status'], true)) !== 0) {
      this.check();
      throw new DemoFailure(
        'the local stack is up but not healthy',
        'See `npm run stack:status` and the logs under .stack/logs; `npm run stack:down` then `npm run demo` starts it anew.',
      );
    }
    const state = readState(stackPaths(config).state);
    if (!state) throw new DemoFailure(`no stack state in ${stackPaths(config).state} after \`stack up\``);
    if (state.mode !== 'plain')
      throw new DemoFailure(`the stack in ${config.stackDir} runs in ${state.mode} mode; the demo needs plain mode`, 'Run `npm run stack:down` first.');
    return state;
  }

  /** One demo at a time: its names (clusters, indices, pid files) are fixed. */
  private claimDemo(pidsDir: string): void {
    mkdirSync(pidsDir, { recursive: true });
    const file = join(pidsDir, 'demo.pid');
    const other = livePidRunning(file, 'deploy/local/demo.ts');
    if (other !== undefined && other !== process.pid) {
      throw new DemoFailure(`another demo is running (pid ${other})`, 'Wait for it to finish, or stop it with Ctrl-C in its terminal.');
    }
    writeFileSync(file, `${process.pid}\n`);
    this.demoPidFile = file;
  }

  private serviceEnvs(stack: StackState, creds: DemoCredentials, port: number) {
    // The user's own KCCR_* settings are left out (bar the log level): the demo sets what its services need.
    const base: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KCCR_') || k === 'KCCR_LOG_LEVEL'));
    const kafka = { KCCR_KAFKA_BROKERS: stack.kafka.brokers.join(','), KCCR_STATUS_INTERVAL_MS: '1000' };
    return {
      control: {
        ...base,
        KCCR_KAFKA_BROKERS: kafka.KCCR_KAFKA_BROKERS,
        KCCR_CONTROL_PORT: String(port),
        KCCR_CONTROL_USERS_FILE: creds.usersFile,
        KCCR_CONTROL_FOLLOWER_CLUSTER: NAMES.followerCluster,
        // Other control services may share this Kafka (the test suite's): act only on the demo's own auto-follow rules.
        KCCR_CONTROL_AUTOFOLLOW_FOLLOWER_CLUSTERS: NAMES.followerCluster,
      },
      extractor: {
        ...base,
        ...kafka,
        KCCR_REGISTRY_URL: stack.registry.url,
        KCCR_LEADER_CLUSTER: NAMES.leaderCluster,
        KCCR_LEADER_URL: stack.clusters.leader.url,
        KCCR_EXTRACTOR_IDLE_CHECKPOINT_MS: '2000',
      },
      applier: {
        ...base,
        ...kafka,
        KCCR_REGISTRY_URL: stack.registry.url,
        KCCR_FOLLOWER_CLUSTER: NAMES.followerCluster,
        KCCR_FOLLOWER_URL: stack.clusters.follower.url,
      },
    };
  }

  private startService(name: DemoServiceName, env: NodeJS.ProcessEnv, paths: ReturnType<typeof stackPaths>): void {
    const service = new DemoService(name, ROOT, env, join(paths.logs, `demo-${name}.log`), join(paths.pids, `demo-${name}.pid`));
    this.services.set(name, service);
    service.start((info) => this.onUnexpectedExit(service, info));
  }

  private pidOf(name: DemoServiceName): string {
    return String(this.services.get(name)?.pid ?? '-');
  }

  private onUnexpectedExit(service: DemoService, info: ExitInfo): void {
    // A Ctrl-C on the terminal reaches the services too; give the demo's own handler its turn first.
    setTimeout(() => {
      if (this.signal.aborted) return;
      const how = info.signal ? `was killed (${info.signal})` : `exited with code ${info.code}`;
      this.abort.abort(new DemoFailure(`the ${service.name} ${how}`, `Last lines of ${rel(service.logFile)}:\n${indent(service.tail())}`));
    }, 300);
  }

  private async waitHealthy(control: DemoControlClient): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (!(await control.healthy())) {
      this.check();
      if (Date.now() > deadline) {
        const s = this.services.get('control')!;
        throw new DemoFailure(
          `the control service did not answer ${control.baseUrl}/_kccr/health within 60 s`,
          `Last lines of ${rel(s.logFile)}:\n${indent(s.tail())}`,
        );
      }
      await this.sleep(250);
    }
  }

  private clusters(stack: StackState) {
    const leader = new ElasticsearchAdapter({ url: stack.clusters.leader.url });
    const follower = new ElasticsearchAdapter({ url: stack.clusters.follower.url });
    this.adapters.push(leader, follower);
    return { leader, follower };
  }

  /**
   * Every run starts from nothing: the previous demo replication is stopped through the control API, both demo
   * indices are deleted, and the previous run's topic and extractor cursors go (see demo-reset.ts).
   */
  private async freshStart(control: DemoControlClient, leader: ElasticsearchAdapter, follower: ElasticsearchAdapter, stack: StackState): Promise<void> {
    const { replications } = await control.call<{
      replications: { follower_cluster: string; follower_index: string; leader_cluster: string; leader_index: string; state: string }[];
    }>('GET', `/_kccr/replications?follower_cluster=${NAMES.followerCluster}`);
    const ours = replications.filter(
      (r) =>
        r.state !== 'stopped' &&
        (r.follower_index === NAMES.followerIndex || (r.leader_cluster === NAMES.leaderCluster && r.leader_index === NAMES.leaderIndex)),
    );
    for (const r of ours) {
      await control.call('POST', `/_plugins/_replication/${encodeURIComponent(r.follower_index)}/_stop?follower_cluster=${r.follower_cluster}`, {});
      out(`  stopped the previous demo replication (POST /_plugins/_replication/${r.follower_index}/_stop)`);
    }
    await leader.deleteIndex(NAMES.leaderIndex);
    await follower.deleteIndex(NAMES.followerIndex);
    const kafka = new KafkaAdapter({ brokers: stack.kafka.brokers, clientId: 'kccr-demo' });
    try {
      const cleared = await resetDemoTopic(kafka, NAMES);
      if (cleared.length) out(`  cleared the previous run: indices, ${cleared.join(', ')}`);
    } finally {
      await kafka.close();
    }
    this.check();
  }

  private async status(control: DemoControlClient): Promise<DemoStatus | undefined> {
    const r = await control.request<DemoStatus>('GET', `/_plugins/_replication/${NAMES.followerIndex}/_status`).catch(() => undefined);
    return r && r.status === 200 ? r.body : undefined;
  }

  private async writePhase(writer: LeaderWriter, control: DemoControlClient, live: LiveBlock): Promise<void> {
    const started = Date.now();
    const end = started + this.settings.seconds * 1000;
    let writeError: unknown;
    let stopWriting = false;
    const writing = (async () => {
      while (Date.now() < end && !this.signal.aborted && !stopWriting) {
        const t = Date.now();
        try {
          await writer.tick(OPS_PER_WRITE);
          writer.compact();
        } catch (e) {
          writeError = e;
          return;
        }
        await new Promise((r) => setTimeout(r, Math.max(0, WRITE_EVERY_MS - (Date.now() - t))));
      }
    })();
    try {
      for (;;) {
        const elapsed = Math.min(this.settings.seconds, Math.round((Date.now() - started) / 1000));
        const status = await this.status(control);
        live.draw(statusLines(`  ${String(elapsed).padStart(3)} s / ${this.settings.seconds} s`, status, this.counts));
        if (writeError) throw new DemoFailure(`writing to the leader failed: ${errorMessage(writeError)}`);
        if (status?.status === 'FAILED') throw new DemoFailure(`replication failed: ${status.reason ?? 'no reason given'}`, this.logHint());
        if (Date.now() >= end) break;
        await this.sleep(Math.min(STATUS_EVERY_MS, Math.max(0, end - Date.now())));
      }
    } finally {
      stopWriting = true;
      await writing;
    }
    if (writeError) throw new DemoFailure(`writing to the leader failed: ${errorMessage(writeError)}`);
    live.keep();
  }

  private async catchUpAndVerify(leader: ElasticsearchAdapter, control: DemoControlClient, live: LiveBlock, stack: StackState): Promise<string[]> {
    // What the follower must reach: the leader's global checkpoints now that the writes have stopped.
    const target = new Map((await leader.shardStats(NAMES.leaderIndex)).map((s) => [s.shard, s.globalCheckpoint]));
    const started = Date.now();
    const deadline = started + this.settings.waitSeconds * 1000;
    let last: DemoStatus | undefined;
    let verified: { code: number; lines: string[] } | undefined;
    let verifications = 0;
    while (Date.now() < deadline) {
      last = await this.status(control);
      const waited = Math.round((Date.now() - started) / 1000);
      live.draw(statusLines(`  +${String(waited).padStart(2)} s catching up`, last, this.counts));
      if (last?.status === 'FAILED') throw new DemoFailure(`replication failed: ${last.reason ?? 'no reason given'}`, this.logHint());
      if (caughtUp(last, target)) {
        verifications++;
        verified = await this.verify(stack);
        // Differences right after catching up are deletes still on their way (reconciliation); look again.
        if (verified.code === 0) break;
        if (verified.code !== 1) throw new DemoFailure(`the verifier could not compare the indices (exit code ${verified.code})`, verified.lines.join('\n'));
      }
      await this.sleep(STATUS_EVERY_MS);
    }
    live.keep();
    if (!verified || verified.code !== 0) {
      const why = !verified
        ? `the follower did not catch up within ${this.settings.waitSeconds} s (status ${last?.status ?? 'unknown'}, lag ${last?.lag_operations ?? '?'} operations)`
        : `the verifier still found differences after ${verifications} tries in ${this.settings.waitSeconds} s`;
      throw new DemoFailure(why, [...(verified?.lines ?? []), this.logHint()].join('\n'));
    }
    out(`  caught up in ${((Date.now() - started) / 1000).toFixed(1)} s; the verifier compared every document (_id, _routing, _source bytes):`);
    return verified.lines;
  }

  private async verify(stack: StackState): Promise<{ code: number; lines: string[] }> {
    const lines: string[] = [];
    const env = { KCCR_LEADER_URL: stack.clusters.leader.url, KCCR_FOLLOWER_URL: stack.clusters.follower.url };
    const code = await runVerify(['--leader-index', NAMES.leaderIndex, '--follower-index', NAMES.followerIndex, '--max-print', '10'], env, {
      log: (l) => lines.push(...l.split('\n')),
      error: (l) => lines.push(...l.split('\n')),
    });
    return { code, lines };
  }

  private logHint(): string {
    return `Logs: ${[...this.services.values()].map((s) => rel(s.logFile)).join(', ')}`;
  }

  private printNext(paths: ReturnType<typeof stackPaths>, creds: DemoCredentials, port: number, stack: StackState): void {
    const logs = rel(paths.logs);
    const api = `http://127.0.0.1:${port}`;
    // Only the settings that differ from the services' defaults (the local stack's default ports).
    const set = (pairs: [string, string, string][]) =>
      pairs
        .filter(([, value, fallback]) => value !== fallback)
        .map(([k, v]) => `${k}=${v} `)
        .join('');
    const kafka: [string, string, string][] = [['KCCR_KAFKA_BROKERS', stack.kafka.brokers.join(','), '127.0.0.1:9092']];
    const registry: [string, string, string] = ['KCCR_REGISTRY_URL', stack.registry.url, 'http://127.0.0.1:8081/apis/ccompat/v7'];
    const extractor = set([
      ['KCCR_LEADER_CLUSTER', NAMES.leaderCluster, ''],
      ['KCCR_LEADER_URL', stack.clusters.leader.url, 'http://127.0.0.1:9200'],
      ...kafka,
      registry,
    ]);
    const applier = set([
      ['KCCR_FOLLOWER_CLUSTER', NAMES.followerCluster, ''],
      ['KCCR_FOLLOWER_URL', stack.clusters.follower.url, 'http://127.0.0.1:9201'],
      ...kafka,
      registry,
    ]);
    const controlEnv = set([
      ['KCCR_CONTROL_USERS_FILE', rel(creds.usersFile), ''],
      ['KCCR_CONTROL_FOLLOWER_CLUSTER', NAMES.followerCluster, ''],
      ['KCCR_CONTROL_PORT', String(port), '8090'],
      ...kafka,
    ]);
    const verifier = set([
      ['KCCR_LEADER_URL', stack.clusters.leader.url, 'http://127.0.0.1:9200'],
      ['KCCR_FOLLOWER_URL', stack.clusters.follower.url, 'http://127.0.0.1:9201'],
    ]);
    const status = `${api}/_plugins/_replication/${NAMES.followerIndex}`;
    out(`
Logs of the services: ${logs}/demo-control.log, demo-extractor.log, demo-applier.log

Try next. The replication stays started (it lives in Kafka): run the services again, a terminal each,
in ${ROOT}, and they take it up where it is:
  ${extractor}npx tsx services/extractor/main.ts
  ${applier}npx tsx services/applier/main.ts
  ${controlEnv}npx tsx services/control/main.ts
Then ask the control service, with this run's admin token:
  TOKEN=$(cat ${rel(creds.tokenFile)})
  curl -H "Authorization: Bearer $TOKEN" '${status}/_status?pretty'
  curl -H "Authorization: Bearer $TOKEN" '${api}/_kccr/replications?pretty'
  curl -H "Authorization: Bearer $TOKEN" -XPOST '${status}/_pause'
  curl -H "Authorization: Bearer $TOKEN" -XPOST '${status}/_resume'
  KCCR_CONTROL_URL=${api} KCCR_CONTROL_TOKEN=$TOKEN node bin/kccr.js status ${NAMES.followerIndex}
Write to the leader, read the follower, compare the two:
  curl -XPUT -H 'Content-Type: application/json' '${stack.clusters.leader.url}/${NAMES.leaderIndex}/_doc/hello' -d '{"title": "hello"}'
  curl '${stack.clusters.follower.url}/${NAMES.followerIndex}/_doc/hello?pretty'
  ${verifier}npx tsx services/verifier/main.ts --leader-index ${NAMES.leaderIndex} --follower-index ${NAMES.followerIndex}

The local stack stays up (\`npm run stack:status\`); \`npm run stack:down\` stops it.
A new \`npm run demo\` starts afresh.`);
  }

  /** Stops the services (SIGTERM, all at once) and says how each ended. */
  async stopServices(): Promise<boolean> {
    const running = [...this.services.values()].filter((s) => s.running);
    if (running.length === 0) return true;
    out(`\nstopping the kccr services (SIGTERM) ...`);
    const results = await Promise.all(running.map(async (s) => ({ s, r: await s.stop() })));
    let clean = true;
    for (const { s, r } of results) {
      if (!r) continue;
      const ok = !r.killed && r.info.code === 0;
      clean &&= ok;
      out(
        `  ${s.name.padEnd(9)} ${r.killed ? `did not stop within 25 s: killed` : r.info.signal ? `ended by ${r.info.signal}` : `exited with code ${r.info.code}`} after ${(r.ms / 1000).toFixed(1)} s`,
      );
    }
    return clean;
  }

  async close(): Promise<void> {
    await Promise.all(this.adapters.map((a) => a.close().catch(() => undefined)));
    if (this.demoPidFile && readFileSync(this.demoPidFile, 'utf8').trim() === String(process.pid)) rmSync(this.demoPidFile, { force: true });
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

async function main(): Promise<number> {
  let settings: ReturnType<typeof readDemoSettings>;
  try {
    settings = readDemoSettings();
  } catch (e) {
    process.stderr.write(`demo: ${errorMessage(e)}\n`);
    return 2;
  }
  const demo = new Demo(settings);
  demo.installSignals();
  let code = 0;
  try {
    await demo.run();
  } catch (e) {
    if (e instanceof Interrupted) {
      code = e.signal === 'SIGINT' ? 130 : e.signal === 'SIGHUP' ? 129 : 143;
    } else {
      code = 1;
      process.stderr.write(`\ndemo failed: ${errorMessage(e)}\n`);
      if (e instanceof DemoFailure && e.detail) process.stderr.write(`${e.detail}\n`);
    }
  } finally {
    const clean = await demo.stopServices().catch((e: unknown) => {
      process.stderr.write(`demo: stopping the services: ${errorMessage(e)}\n`);
      return false;
    });
    if (!clean && code === 0) {
      process.stderr.write('demo: a service did not stop cleanly; see its log\n');
      code = 1;
    }
    await demo.close().catch(() => undefined);
  }
  return code;
}

process.exit(await main());
