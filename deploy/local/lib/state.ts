import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from './config.js';
import { stackPaths } from './config.js';
import type { ClusterRole } from './elasticsearch.js';
import { clusterNodes, clusterUrl, nodeUrl, passwordFile, SNAPSHOT_REPOSITORY, USERS } from './elasticsearch.js';
import { registryUrl } from './registry.js';

/**
 * What a running stack offers, written to <stack>/stack.json for the tests, the demo and the services.
 * Secrets stay in their own files (mode 600); this file only names them.
 */
export interface StackState {
  readonly mode: 'plain' | 'secure';
  readonly esVersion: string;
  readonly kafkaVersion: string;
  readonly kafka: {
    readonly brokers: readonly string[];
    /**
     * Kafka's second client listener (`listenerPort`), which advertises `advertisedPort`, where nothing of the stack
     * listens: a TCP proxy put there (the fault tests') carries all of a client's Kafka traffic. Absent in a
     * stack.json written before the listener existed.
     */
    readonly proxied?: { readonly listenerPort: number; readonly advertisedPort: number };
  };
  readonly registry: { readonly url: string };
  /** Each Elasticsearch node's heap (KCCR_ES_HEAP), so that a node started again gets the same. */
  readonly esHeap?: string;
  readonly snapshotRepository: { readonly name: string; readonly path: string };
  readonly clusters: Record<ClusterRole, ClusterState>;
}

export interface ClusterState {
  readonly name: string;
  /** Node 1's address. */
  readonly url: string;
  /** Every node (the part is its pid file's and log's name); absent in a stack.json written before nodes were listed. */
  readonly nodes?: readonly { readonly name: string; readonly part: string; readonly url: string }[];
  readonly caFile?: string;
  readonly users: Record<string, { readonly roles: readonly string[]; readonly passwordFile: string }>;
}

export function describeStack(config: StackConfig): StackState {
  const p = stackPaths(config);
  const cluster = (role: ClusterRole): ClusterState => ({
    name: `kccr-${role}`,
    url: clusterUrl(config, role),
    nodes: clusterNodes(config, role).map((n) => ({ name: n.name, part: n.part, url: nodeUrl(config, n) })),
    ...(config.secure ? { caFile: join(p.certs, 'ca.crt') } : {}),
    users: config.secure
      ? Object.fromEntries(USERS[role].map((u) => [u.name, { roles: u.roles, passwordFile: passwordFile(config, role, u.name) }]))
      : {},
  });
  return {
    mode: config.secure ? 'secure' : 'plain',
    esVersion: config.esVersion,
    kafkaVersion: config.kafkaVersion,
    kafka: { brokers: [`127.0.0.1:${config.ports.kafka}`], proxied: { listenerPort: config.ports.kafkaProxied, advertisedPort: config.ports.kafkaProxy } },
    registry: { url: registryUrl(config) },
    esHeap: config.heaps.es,
    snapshotRepository: { name: SNAPSHOT_REPOSITORY, path: p.snapshots },
    clusters: { leader: cluster('leader'), follower: cluster('follower') },
  };
}

export function writeState(config: StackConfig): StackState {
  const state = describeStack(config);
  writeFileSync(stackPaths(config).state, `${JSON.stringify(state, null, 2)}\n`);
  return state;
}

export function readState(stateFile: string): StackState | undefined {
  if (!existsSync(stateFile)) return undefined;
  return JSON.parse(readFileSync(stateFile, 'utf8')) as StackState;
}
