/** What the control app needs, made from one Kafka connection; main.ts and the tests build it the same way. */
import type { KafkaAdapter } from '../shared/adapters/kafka.js';
import type { Logger } from '../shared/logger.js';
import type { AuthSettings } from './http/auth.js';
import { ClusterRegistry, defaultSecretsDir } from './clusters/clusters.js';
import { ReplicationService } from './replication/replications.js';
import { StatusBoard } from './status/status-board.js';
import { ReplicationStore } from './replication/store.js';
import { SnapshotBootstrapper } from './replication/bootstrap.js';
import type { BootstrapStatus } from '../shared/replication.js';
import { applierGroupId } from '../shared/replication.js';
import { CompactedTable, CONTROL_TOPICS } from '../shared/table.js';
import { AutofollowEngine, followerAliases, leaderIndexLister, memberRetirement, readAutofollowConfig } from './autofollow/autofollow.js';
import type { AutofollowConfig } from './autofollow/autofollow.js';
import { AutofollowStore } from './autofollow/autofollow-store.js';
import { OffsetsService } from './positions/offsets.js';
import { RebuildService } from './rebuild/rebuild.js';
import { EnvReader } from '../shared/config.js';
import { StatusHistory } from './status/history.js';

/** KCCR_CONTROL_HISTORY_INTERVAL_MS: how often the status page's history samples every replication (10 s). */
function readHistoryIntervalMs(env: NodeJS.ProcessEnv): number {
  const r = new EnvReader(env);
  return r.done({ ms: r.int('KCCR_CONTROL_HISTORY_INTERVAL_MS', 10_000, 100, 600_000) }).ms;
}

export interface ControlDeps {
  readonly replications: ReplicationService;
  readonly clusters: ClusterRegistry;
  readonly board: StatusBoard;
  /** Auto-follow rules (kccr._autofollow) and the engine that acts on them (started by main.ts). */
  readonly autofollowRules: AutofollowStore;
  readonly autofollow: AutofollowEngine;
  /** Position requests (POST .../_offsets) and rebuilds with their alias move (POST .../_rebuild). */
  readonly offsets: OffsetsService;
  readonly rebuilds: RebuildService;
  /** The last hour of every replication, sampled from the status views (the status page's charts). */
  readonly history: StatusHistory;
  readonly auth: AuthSettings;
  /** The follower cluster of requests that name none. */
  readonly followerCluster: string;
  /** Where *_env references of registered clusters are looked up. */
  readonly env: NodeJS.ProcessEnv;
  /** Where file references of registered clusters must lie. */
  readonly secretsDir: string;
  readonly bodyLimit?: number;
  readonly logger?: Logger;
}

export interface ControlState {
  readonly deps: ControlDeps;
  /** Loads every table (replications, clusters, status) before the app serves. */
  open(): Promise<void>;
  close(): Promise<void>;
}

export function createControlState(
  kafka: KafkaAdapter,
  opts: {
    auth: AuthSettings;
    followerCluster: string;
    env?: NodeJS.ProcessEnv;
    /** Default: `secrets` in the working directory. */
    secretsDir?: string;
    bodyLimit?: number;
    logger?: Logger;
    /** Snapshot bootstrap: the repository both clusters share, and the follower's index.gc_deletes. */
    snapshotRepository?: string;
    gcDeletes?: string;
    /** The status history's sampling interval; by default KCCR_CONTROL_HISTORY_INTERVAL_MS of `env`, else 10 s. */
    historyIntervalMs?: number;
    /** By default read from `env` (KCCR_CONTROL_AUTOFOLLOW_INTERVAL_MS, KCCR_CONTROL_AUTOFOLLOW_RETRY_MS). */
    autofollow?: AutofollowConfig;
  },
): ControlState {
  const env = opts.env ?? process.env;
  const secretsDir = opts.secretsDir ?? defaultSecretsDir();
  const store = new ReplicationStore(kafka, opts.logger);
  const clusters = new ClusterRegistry(kafka, { env, secretsDir }, opts.logger);
  const board = new StatusBoard(kafka, opts.logger);
  const bootstrapStatus = new CompactedTable<BootstrapStatus>(kafka, CONTROL_TOPICS.status, opts.logger);
  const bootstrapper = new SnapshotBootstrapper({
    clusters,
    store,
    status: bootstrapStatus,
    repository: opts.snapshotRepository ?? 'kccr-shared',
    gcDeletes: opts.gcDeletes ?? '24h',
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  const replications = new ReplicationService(store, clusters, board, bootstrapper, async (followerCluster, topic) => {
    if ((await kafka.partitionCount(topic)) === undefined) return false;
    return (await kafka.groupOffsets(applierGroupId(followerCluster), topic)).some((o) => BigInt(o.offset) >= 0n);
  });
  const autofollowRules = new AutofollowStore(kafka, opts.logger);
  const autofollow = new AutofollowEngine({
    ...(opts.autofollow ?? readAutofollowConfig(env)),
    rules: autofollowRules,
    replications,
    listLeaderIndices: leaderIndexLister(clusters),
    registeredClusters: () => clusters.list().map((c) => c.name),
    aliases: followerAliases(clusters),
    retirement: memberRetirement(clusters, replications),
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  const history = new StatusHistory(opts.historyIntervalMs ?? readHistoryIntervalMs(env));
  let historyTimer: NodeJS.Timeout | undefined;
  const offsets = new OffsetsService(replications, kafka);
  const rebuilds = new RebuildService(replications, kafka, opts.logger ? { logger: opts.logger } : {});
  const deps: ControlDeps = {
    replications,
    clusters,
    board,
    autofollowRules,
    autofollow,
    offsets,
    rebuilds,
    history,
    auth: opts.auth,
    followerCluster: opts.followerCluster,
    env,
    secretsDir,
    ...(opts.bodyLimit !== undefined ? { bodyLimit: opts.bodyLimit } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  };
  return {
    deps,
    async open() {
      await Promise.all([store.open(), clusters.open(), board.open(), autofollowRules.open()]);
      // Snapshot bootstraps under way when the service last stopped go on.
      bootstrapper.resume(store.list());
      // Rebuilds under way when the service last stopped are watched again.
      rebuilds.open();
      const sample = () => {
        const now = Date.now();
        history.record(now, board.views(replications.list(), now));
      };
      sample();
      historyTimer = setInterval(sample, history.intervalMs);
      historyTimer.unref();
    },
    async close() {
      // No auto-follow run or bootstrap retry may outlive the tables it reads.
      bootstrapper.stop();
      if (historyTimer) clearInterval(historyTimer);
      await autofollow.stop();
      await rebuilds.close();
      await Promise.all([autofollowRules.close(), store.close(), clusters.close(), board.close(), bootstrapStatus.close()]);
    },
  };
}
