/** What the control app needs, made from one Kafka connection; main.ts and the tests build it the same way. */
import type { KafkaAdapter } from '../shared/adapters/kafka.js';
import type { Logger } from '../shared/logger.js';
import type { AuthSettings } from './auth.js';
import { ClusterRegistry } from './clusters.js';
import { ReplicationService } from './replications.js';
import { StatusBoard } from './status-board.js';
import { ReplicationStore } from './store.js';

export interface ControlDeps {
  readonly replications: ReplicationService;
  readonly clusters: ClusterRegistry;
  readonly board: StatusBoard;
  readonly auth: AuthSettings;
  /** The follower cluster of requests that name none. */
  readonly followerCluster: string;
  /** Where *_env references of registered clusters are looked up. */
  readonly env: NodeJS.ProcessEnv;
  readonly secretsDir?: string;
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
  opts: { auth: AuthSettings; followerCluster: string; env?: NodeJS.ProcessEnv; secretsDir?: string; bodyLimit?: number; logger?: Logger },
): ControlState {
  const env = opts.env ?? process.env;
  const store = new ReplicationStore(kafka, opts.logger);
  const clusters = new ClusterRegistry(kafka, env, opts.logger);
  const board = new StatusBoard(kafka, opts.logger);
  const replications = new ReplicationService(store, clusters, board);
  const deps: ControlDeps = {
    replications,
    clusters,
    board,
    auth: opts.auth,
    followerCluster: opts.followerCluster,
    env,
    ...(opts.secretsDir !== undefined ? { secretsDir: opts.secretsDir } : {}),
    ...(opts.bodyLimit !== undefined ? { bodyLimit: opts.bodyLimit } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  };
  return {
    deps,
    async open() {
      await Promise.all([store.open(), clusters.open(), board.open()]);
    },
    async close() {
      await Promise.all([store.close(), clusters.close(), board.close()]);
    },
  };
}
