/**
 * `npm run demo`: the first quick-start command. On the local stack (started, or reused when healthy) it runs
 * kccr's three services as child processes, registers the two clusters and starts replication of a sample index
 * through the control API, writes to the leader for a while with a live status table, waits until the follower
 * has caught up and the verifier finds both indices identical, and stops the services again. The stack stays up.
 *
 * `npm run demo -- fan-in`: the same with two leader clusters (the stack started with KCCR_LEADER_CLUSTERS=2): an
 * index of the same name on each, with an extractor each, one auto-follow rule over both that replicates each into a
 * follower index of its own (`{{leader_cluster}}-{{leader_index}}`) read through one alias, and both verified.
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
import type { DemoStatus, WriteCounts } from './demo-status.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
/** One leader index the demo replicates: its leader cluster, the stack's cluster it is, the extractor that reads it. */
interface DemoSource extends DemoNames {
  readonly stackCluster: string;
  readonly extractor: 'extractor' | 'extractor-2';
}
const FOLLOWER_CLUSTER = 'demo-follower';
const NAMES: DemoSource = {
  leaderCluster: 'demo-leader',
  followerCluster: FOLLOWER_CLUSTER,
  leaderIndex: 'kccr-demo',
  followerIndex: 'kccr-demo-follower',
  stackCluster: 'leader',
  extractor: 'extractor',
};
/** Fan-in: the same index name on two leader clusters, each into a follower index of its own, one alias over both. */
const FAN_IN: readonly DemoSource[] = [
  { ...NAMES, leaderCluster: 'demo-east', followerIndex: 'demo-east-kccr-demo' },
  { ...NAMES, leaderCluster: 'demo-west', followerIndex: 'demo-west-kccr-demo', stackCluster: 'leader2', extractor: 'extractor-2' },
];
const FAN_IN_RULE = 'kccr-demo-fan-in';
const FAN_IN_ALIAS = 'kccr-demo-all';
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

function readDemoSettings(args: readonly string[] = process.argv.slice(2)) {
  const r = new EnvReader(process.env);
  const variant = args.filter((a) => a !== '--');
  if (variant.length > 1 || (variant.length === 1 && variant[0] !== 'fan-in'))
    r.problem(`unknown demo variant ${JSON.stringify(variant.join(' '))}: run \`npm run demo\` (one leader cluster) or \`npm run demo -- fan-in\` (two)`);
  return r.done({
    fanIn: variant[0] === 'fan-in',
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
  private readonly sources: readonly DemoSource[];
  private control?: DemoControlClient;
  /** What the demo wrote to each leader cluster. */
  private readonly counts = new Map<string, WriteCounts>();
  private readonly adapters: { close(): Promise<void> }[] = [];
  private stackChild?: ReturnType<typeof spawn>;
  private demoPidFile?: string;

  constructor(private readonly settings: ReturnType<typeof readDemoSettings>) {
    this.sources = settings.fanIn ? FAN_IN : [NAMES];
    for (const s of this.sources) this.counts.set(s.leaderCluster, emptyCounts());
  }

  private countsOf(source: DemoSource): WriteCounts {
    return this.counts.get(source.leaderCluster)!;
  }

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
    const env = { ...process.env, ...this.stackEnv() };
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
    this.control = control;
    this.startService('control', serviceEnv.control, paths);
    await this.waitHealthy(control);
    out(
      `  control    pid ${this.pidOf('control')}  ${url}${port !== this.settings.port ? ` (port ${this.settings.port} was taken)` : ''}, admin token in ${rel(creds.tokenFile)}`,
    );

    const { leaders, follower } = this.clusters(stack);
    await this.freshStart(control, leaders, follower, stack);
    for (const source of this.sources) this.startService(source.extractor, serviceEnv.extractor(source), paths);
    this.startService('applier', serviceEnv.applier, paths);
    for (const source of this.sources)
      out(`  ${source.extractor.padEnd(10)} pid ${this.pidOf(source.extractor)}  leader cluster ${source.leaderCluster} (${this.urlOf(stack, source)})`);
    out(`  applier    pid ${this.pidOf('applier')}  follower cluster ${FOLLOWER_CLUSTER} (${stack.clusters.follower.url})`);
    out(`  logs       ${rel(join(paths.logs, 'demo-<service>.log'))}`);

    step(3, 'register the clusters with the control service');
    for (const [name, url] of [
      ...this.sources.map((s) => [s.leaderCluster, this.urlOf(stack, s)] as const),
      [FOLLOWER_CLUSTER, stack.clusters.follower.url] as const,
    ]) {
      const r = await control.call<{ created: boolean }>('PUT', `/_kccr/clusters/${name}`, { url });
      out(`  PUT /_kccr/clusters/${name} {"url": "${url}"}   ${r.created ? 'registered' : 'already registered'}`);
    }

    step(4, `sample leader index ${NAMES.leaderIndex}${this.settings.fanIn ? ' on each leader cluster (the same ids, content of its own)' : ''}`);
    const writers = this.sources.map((source) => ({
      source,
      writer: new LeaderWriter(leaders.get(source.leaderCluster)!, source.leaderIndex, this.countsOf(source)),
    }));
    for (const { source, writer } of writers) {
      const tLoad = Date.now();
      await writer.createIndex(this.settings.docs);
      const counts = this.countsOf(source);
      if (counts.failed > 0) throw new DemoFailure(`${source.leaderCluster} refused ${counts.failed} of the ${this.settings.docs} sample documents`);
      out(
        `  ${this.settings.fanIn ? `${source.leaderCluster}: ` : ''}3 shards, ${this.settings.docs.toLocaleString('en-US')} documents (a quarter with custom routing) in ${((Date.now() - tLoad) / 1000).toFixed(1)} s`,
      );
      Object.assign(counts, emptyCounts());
    }

    step(5, 'start replication through the control API');
    await this.startReplication(control);

    step(6, `writing to the leader${this.settings.fanIn ? 's' : ''} for ${this.settings.seconds} s: creates, updates and deletes, some with custom routing`);
    const live = new LiveBlock();
    await this.writePhase(
      writers.map((w) => w.writer),
      live,
    );

    step(7, 'writes stopped: waiting for the follower to catch up, then verifying');
    const verdict = await this.catchUpAndVerify(leaders, live, stack);
    for (const line of verdict) out(`  ${line}`);

    const seconds = Math.round((Date.now() - t0) / 1000);
    if (this.settings.fanIn) {
      await this.waitForAlias(follower);
      out(
        `\nEach leader's ${NAMES.leaderIndex} is identical to its follower index on ${stack.clusters.follower.url} (${this.sources.map((s) => `${s.leaderCluster} -> ${s.followerIndex}`).join(', ')}), both read as ${FAN_IN_ALIAS} (demo took ${seconds} s).`,
      );
      this.printNextFanIn(creds, port, stack);
      return;
    }
    out(
      `\nThe follower index ${NAMES.followerIndex} on ${stack.clusters.follower.url} is identical to ${NAMES.leaderIndex} on ${stack.clusters.leader.url} (demo took ${seconds} s).`,
    );
    this.printNext(paths, creds, port, stack);
  }

  /** The rule's read alias holds both follower indices (it adds one at its first run after the index exists). */
  private async waitForAlias(follower: ElasticsearchAdapter): Promise<void> {
    const deadline = Date.now() + 30_000;
    const wanted = this.sources.map((s) => s.followerIndex).sort();
    for (;;) {
      const r = await follower.request<Record<string, unknown>>('GET', `/_alias/${FAN_IN_ALIAS}`, { ignore: [404] });
      const members = r.status === 200 ? Object.keys(r.body).sort() : [];
      if (JSON.stringify(members) === JSON.stringify(wanted)) return;
      if (Date.now() > deadline)
        throw new DemoFailure(`the alias ${FAN_IN_ALIAS} holds [${members.join(', ')}], not both follower indices, after 30 s`, this.logHint());
      await this.sleep(500);
    }
  }

  /** The stack's settings the demo needs: plain mode, and a second leader cluster for fan-in. */
  private stackEnv(): Record<string, string> {
    return { KCCR_SECURE: '0', ...(this.settings.fanIn ? { KCCR_LEADER_CLUSTERS: '2' } : {}) };
  }

  private urlOf(stack: StackState, source: DemoSource): string {
    const cluster = stack.clusters[source.stackCluster];
    if (!cluster) throw new DemoFailure(`the stack has no cluster ${source.stackCluster}`, 'Run `npm run stack:down`, then `npm run demo -- fan-in` again.');
    return cluster.url;
  }

  /** One `_start`; with fan-in, an auto-follow rule over both leader clusters, waited on until both replications run. */
  private async startReplication(control: DemoControlClient): Promise<void> {
    if (!this.settings.fanIn) {
      const startBody = { leader_alias: NAMES.leaderCluster, leader_index: NAMES.leaderIndex };
      await control.call('PUT', `/_plugins/_replication/${NAMES.followerIndex}/_start`, startBody);
      out(`  PUT /_plugins/_replication/${NAMES.followerIndex}/_start ${JSON.stringify(startBody)}   acknowledged`);
      return;
    }
    const rule = {
      leader_clusters: this.sources.map((s) => s.leaderCluster),
      name: FAN_IN_RULE,
      pattern: NAMES.leaderIndex,
      follower_index_pattern: '{{leader_cluster}}-{{leader_index}}',
      follower_alias: FAN_IN_ALIAS,
    };
    await control.call('POST', '/_plugins/_replication/_autofollow', rule);
    out(`  POST /_plugins/_replication/_autofollow ${JSON.stringify(rule)}   acknowledged`);
    const deadline = Date.now() + 60_000;
    for (const source of this.sources) {
      for (;;) {
        const status = await this.status(source);
        if (status && status.status !== 'STOPPED') break;
        // A previous run's replication, stopped by this run's fresh start: a rule never takes back a stopped
        // follower index (someone may have failed over to it), so it is started again by hand.
        if (status?.status === 'STOPPED' && Date.now() > deadline - 50_000) {
          const body = { leader_alias: source.leaderCluster, leader_index: source.leaderIndex };
          await control.call('PUT', `/_plugins/_replication/${source.followerIndex}/_start`, body);
          out(
            `  PUT /_plugins/_replication/${source.followerIndex}/_start ${JSON.stringify(body)}   (the previous run's, stopped: a rule does not take it back)`,
          );
          continue;
        }
        if (Date.now() > deadline) throw new DemoFailure(`the auto-follow rule did not start ${source.followerIndex} within 60 s`, this.logHint());
        await this.sleep(500);
      }
      out(`  replicating ${source.leaderCluster}:${source.leaderIndex} -> ${source.followerIndex}`);
    }
  }

  /** The stack's settings as the stack script reads them (KCCR_STACK_DIR, ports, ...), in plain mode. */
  private stackConfig(): StackConfig {
    try {
      return readStackConfig({ ...process.env, ...this.stackEnv() });
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
    for (const source of this.sources) this.urlOf(state, source);
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
        KCCR_CONTROL_FOLLOWER_CLUSTER: FOLLOWER_CLUSTER,
        // Other control services may share this Kafka (the test suite's): act only on the demo's own auto-follow rules.
        KCCR_CONTROL_AUTOFOLLOW_FOLLOWER_CLUSTERS: FOLLOWER_CLUSTER,
        KCCR_CONTROL_AUTOFOLLOW_INTERVAL_MS: '2000',
      },
      extractor: (source: DemoSource): NodeJS.ProcessEnv => ({
        ...base,
        ...kafka,
        KCCR_REGISTRY_URL: stack.registry.url,
        KCCR_LEADER_CLUSTER: source.leaderCluster,
        KCCR_LEADER_URL: this.urlOf(stack, source),
        KCCR_EXTRACTOR_IDLE_CHECKPOINT_MS: '2000',
        // Two extractors beside each other: the second's metrics listener on a free port.
        ...(source.extractor === 'extractor-2' ? { KCCR_METRICS_PORT: '0' } : {}),
      }),
      applier: {
        ...base,
        ...kafka,
        KCCR_REGISTRY_URL: stack.registry.url,
        KCCR_FOLLOWER_CLUSTER: FOLLOWER_CLUSTER,
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

  /** An adapter for each source's leader cluster (by its kccr name) and one for the follower. */
  private clusters(stack: StackState) {
    const leaders = new Map(this.sources.map((s) => [s.leaderCluster, new ElasticsearchAdapter({ url: this.urlOf(stack, s) })]));
    const follower = new ElasticsearchAdapter({ url: stack.clusters.follower.url });
    this.adapters.push(...leaders.values(), follower);
    return { leaders, follower };
  }

  /**
   * Every run starts from nothing: the previous demo replication is stopped through the control API, both demo
   * indices are deleted, and the previous run's topic and extractor cursors go (see demo-reset.ts).
   */
  private async freshStart(
    control: DemoControlClient,
    leaders: ReadonlyMap<string, ElasticsearchAdapter>,
    follower: ElasticsearchAdapter,
    stack: StackState,
  ): Promise<void> {
    if (this.settings.fanIn) {
      // The rule first: it would start the replications again as soon as they are stopped.
      const gone = await control.request('DELETE', '/_plugins/_replication/_autofollow', {
        leader_clusters: this.sources.map((s) => s.leaderCluster),
        name: FAN_IN_RULE,
      });
      if (gone.status === 200) out(`  deleted the previous run's auto-follow rule ${FAN_IN_RULE}`);
    }
    const { replications } = await control.call<{
      replications: { follower_cluster: string; follower_index: string; leader_cluster: string; leader_index: string; state: string }[];
    }>('GET', `/_kccr/replications?follower_cluster=${FOLLOWER_CLUSTER}`);
    const ours = replications.filter(
      (r) =>
        r.state !== 'stopped' &&
        this.sources.some((s) => r.follower_index === s.followerIndex || (r.leader_cluster === s.leaderCluster && r.leader_index === s.leaderIndex)),
    );
    for (const r of ours) {
      await control.call('POST', `/_plugins/_replication/${encodeURIComponent(r.follower_index)}/_stop?follower_cluster=${r.follower_cluster}`, {});
      out(`  stopped the previous demo replication (POST /_plugins/_replication/${r.follower_index}/_stop)`);
    }
    const kafka = new KafkaAdapter({ brokers: stack.kafka.brokers, clientId: 'kccr-demo' });
    try {
      for (const source of this.sources) {
        await leaders.get(source.leaderCluster)!.deleteIndex(source.leaderIndex);
        await follower.deleteIndex(source.followerIndex);
        const cleared = await resetDemoTopic(kafka, source);
        if (cleared.length) out(`  cleared the previous run: indices, ${cleared.join(', ')}`);
      }
    } finally {
      await kafka.close();
    }
    this.check();
  }

  private async status(source: DemoSource): Promise<DemoStatus | undefined> {
    const r = await this.control?.request<DemoStatus>('GET', `/_plugins/_replication/${source.followerIndex}/_status`).catch(() => undefined);
    return r && r.status === 200 ? r.body : undefined;
  }

  /** The live block: each source's status table (with its leader cluster's name when there are several). */
  private async liveLines(phase: string): Promise<{ lines: string[]; statuses: (DemoStatus | undefined)[] }> {
    const statuses = await Promise.all(this.sources.map((s) => this.status(s)));
    const lines = this.sources.flatMap((s, i) =>
      statusLines(this.settings.fanIn ? `${phase}   ${s.leaderCluster} -> ${s.followerIndex}` : phase, statuses[i], this.countsOf(s)),
    );
    return { lines, statuses };
  }

  private failedOf(statuses: readonly (DemoStatus | undefined)[]): DemoFailure | undefined {
    const i = statuses.findIndex((s) => s?.status === 'FAILED');
    if (i < 0) return undefined;
    return new DemoFailure(`replication of ${this.sources[i]!.followerIndex} failed: ${statuses[i]!.reason ?? 'no reason given'}`, this.logHint());
  }

  private async writePhase(writers: readonly LeaderWriter[], live: LiveBlock): Promise<void> {
    const started = Date.now();
    const end = started + this.settings.seconds * 1000;
    let writeError: unknown;
    let stopWriting = false;
    const writing = Promise.all(
      writers.map(async (writer) => {
        while (Date.now() < end && !this.signal.aborted && !stopWriting && writeError === undefined) {
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
      }),
    );
    try {
      for (;;) {
        const elapsed = Math.min(this.settings.seconds, Math.round((Date.now() - started) / 1000));
        const { lines, statuses } = await this.liveLines(`  ${String(elapsed).padStart(3)} s / ${this.settings.seconds} s`);
        live.draw(lines);
        if (writeError) throw new DemoFailure(`writing to the leader failed: ${errorMessage(writeError)}`);
        const failed = this.failedOf(statuses);
        if (failed) throw failed;
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

  private async catchUpAndVerify(leaders: ReadonlyMap<string, ElasticsearchAdapter>, live: LiveBlock, stack: StackState): Promise<string[]> {
    // What each follower index must reach: its leader's global checkpoints now that the writes have stopped.
    const targets = await Promise.all(
      this.sources.map(async (s) => new Map((await leaders.get(s.leaderCluster)!.shardStats(s.leaderIndex)).map((x) => [x.shard, x.globalCheckpoint]))),
    );
    const started = Date.now();
    const deadline = started + this.settings.waitSeconds * 1000;
    let last: (DemoStatus | undefined)[] = [];
    const verified: ({ code: number; lines: string[] } | undefined)[] = this.sources.map(() => undefined);
    let verifications = 0;
    while (Date.now() < deadline) {
      const waited = Math.round((Date.now() - started) / 1000);
      const view = await this.liveLines(`  +${String(waited).padStart(2)} s catching up`);
      last = view.statuses;
      live.draw(view.lines);
      const failed = this.failedOf(last);
      if (failed) throw failed;
      for (const [i, source] of this.sources.entries()) {
        if (verified[i]?.code === 0 || !caughtUp(last[i], targets[i]!)) continue;
        verifications++;
        const v = await this.verify(stack, source);
        verified[i] = v;
        // Differences right after catching up are deletes still on their way (reconciliation); look again.
        if (v.code !== 0 && v.code !== 1) throw new DemoFailure(`the verifier could not compare the indices (exit code ${v.code})`, v.lines.join('\n'));
      }
      if (verified.every((v) => v?.code === 0)) break;
      await this.sleep(STATUS_EVERY_MS);
    }
    live.keep();
    const open = this.sources.findIndex((_, i) => verified[i]?.code !== 0);
    if (open >= 0) {
      const v = verified[open];
      const s = last[open];
      const why = !v
        ? `${this.sources[open]!.followerIndex} did not catch up within ${this.settings.waitSeconds} s (status ${s?.status ?? 'unknown'}, lag ${s?.lag_operations ?? '?'} operations)`
        : `the verifier still found differences in ${this.sources[open]!.followerIndex} after ${verifications} tries in ${this.settings.waitSeconds} s`;
      throw new DemoFailure(why, [...(v?.lines ?? []), this.logHint()].join('\n'));
    }
    out(`  caught up in ${((Date.now() - started) / 1000).toFixed(1)} s; the verifier compared every document (_id, _routing, _source bytes):`);
    return this.sources.flatMap((s, i) => [
      ...(this.settings.fanIn ? [`${s.leaderCluster}:${s.leaderIndex} -> ${s.followerIndex}`] : []),
      ...verified[i]!.lines,
    ]);
  }

  private async verify(stack: StackState, source: DemoSource): Promise<{ code: number; lines: string[] }> {
    const lines: string[] = [];
    const env = { KCCR_LEADER_URL: this.urlOf(stack, source), KCCR_FOLLOWER_URL: stack.clusters.follower.url };
    const code = await runVerify(['--leader-index', source.leaderIndex, '--follower-index', source.followerIndex, '--max-print', '10'], env, {
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

  private printNextFanIn(creds: DemoCredentials, port: number, stack: StackState): void {
    const api = `http://127.0.0.1:${port}`;
    const [east, west] = this.sources as [DemoSource, DemoSource];
    out(`
Logs of the services: demo-control.log, demo-extractor.log, demo-extractor-2.log, demo-applier.log (${rel(stackPaths(this.stackConfig()).logs)})

Try next, with this run's admin token (the services are stopped; \`npm run demo -- fan-in\` runs them again):
  TOKEN=$(cat ${rel(creds.tokenFile)})
  curl -H "Authorization: Bearer $TOKEN" '${api}/_kccr/replications?follower_cluster=${FOLLOWER_CLUSTER}&pretty'
  curl -H "Authorization: Bearer $TOKEN" '${api}/_plugins/_replication/autofollow_stats?pretty'
Both sources, read through one alias on the central cluster, and each on its own:
  curl '${stack.clusters.follower.url}/${FAN_IN_ALIAS}/_count?pretty'
  curl '${stack.clusters.follower.url}/${east.followerIndex}/_count?pretty'
  curl '${stack.clusters.follower.url}/${west.followerIndex}/_count?pretty'
The same ids on both leaders, kept apart on the central cluster (documents per source through the alias):
  curl -H 'Content-Type: application/json' '${stack.clusters.follower.url}/${FAN_IN_ALIAS}/_search?size=0&pretty' -d '{"aggs": {"source": {"terms": {"field": "_index"}}}}'

The local stack stays up (\`npm run stack:status\`); \`npm run stack:down\` stops it.`);
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
