import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine, StackConfig } from './config.js';
import { stackPaths } from './config.js';
import type { ClusterId, ClusterRole } from './elasticsearch.js';
import { clusterHeap, clusterNodes, clusterUrl, nodeUrl, passwordFile, roleOf, SNAPSHOT_REPOSITORY, USERS } from './elasticsearch.js';
import { leaderClusterIds } from './config.js';
import { KAFKA_USERS } from './kafka-acls.js';
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
    /** Secure mode: every listener is TLS with the stack's CA (`KCCR_KAFKA_CA_FILE`). */
    readonly tls?: { readonly caFile: string };
    /**
     * Secure mode: SASL with this mechanism, one principal per kccr part (`KCCR_KAFKA_SASL_USERNAME`, and the password
     * file for `KCCR_KAFKA_SASL_PASSWORD_FILE`); what each may do is in docs/operations/security.md.
     */
    readonly sasl?: {
      readonly mechanism: 'scram-sha-512';
      readonly users: Record<string, { readonly passwordFile: string; readonly superUser: boolean; readonly purpose: string }>;
    };
  };
  readonly registry: { readonly url: string };
  /** Each Elasticsearch node's heap (KCCR_ES_HEAP), so that a node started again gets the same. */
  readonly esHeap?: string;
  readonly snapshotRepository: { readonly name: string; readonly path: string };
  /**
   * Every cluster: `leader` and `follower`, and with KCCR_LEADER_CLUSTERS=N the leader clusters `leader2` ... `leader<N>`
   * (listed in order in {@link leaders}).
   */
  readonly clusters: Record<ClusterRole, ClusterState> & { readonly [extraLeader: string]: ClusterState | undefined };
  /** The leader clusters' keys in `clusters`, leader 1 (`leader`) first; absent in a stack.json written before fan-in. */
  readonly leaders?: readonly ClusterId[];
}

export interface ClusterState {
  readonly name: string;
  /** The engine and version it runs (absent in a stack.json written before OpenSearch could run: Elasticsearch of esVersion). */
  readonly engine?: Engine;
  /** Node 1's address. */
  readonly url: string;
  /** Every node (the part is its pid file's and log's name); absent in a stack.json written before nodes were listed. */
  readonly nodes?: readonly { readonly name: string; readonly part: string; readonly url: string }[];
  readonly caFile?: string;
  readonly users: Record<string, { readonly roles: readonly string[]; readonly passwordFile: string }>;
  /** Each node's heap. */
  readonly heap?: string;
}

export function describeStack(config: StackConfig): StackState {
  const p = stackPaths(config);
  const cluster = (id: ClusterId): ClusterState => ({
    name: `kccr-${id}`,
    // A further leader cluster runs the leader side's engine (KCCR_LEADER_ENGINE).
    engine: config.engines[roleOf(id)],
    url: clusterUrl(config, id),
    nodes: clusterNodes(config, id).map((n) => ({ name: n.name, part: n.part, url: nodeUrl(config, n) })),
    ...(config.secure ? { caFile: join(p.certs, 'ca.crt') } : {}),
    users: config.secure ? Object.fromEntries(USERS[roleOf(id)].map((u) => [u.name, { roles: u.roles, passwordFile: passwordFile(config, id, u.name) }])) : {},
    heap: clusterHeap(config, id),
  });
  const leaders = leaderClusterIds(config);
  return {
    mode: config.secure ? 'secure' : 'plain',
    esVersion: config.esVersion,
    kafkaVersion: config.kafkaVersion,
    kafka: {
      brokers: [`127.0.0.1:${config.ports.kafka}`],
      proxied: { listenerPort: config.ports.kafkaProxied, advertisedPort: config.ports.kafkaProxy },
      ...(config.secure
        ? {
            tls: { caFile: join(p.certs, 'ca.crt') },
            sasl: {
              mechanism: 'scram-sha-512' as const,
              users: Object.fromEntries(
                KAFKA_USERS.map((u) => [u.name, { passwordFile: p.kafkaPassword(u.name), superUser: u.superUser, purpose: u.purpose }]),
              ),
            },
          }
        : {}),
    },
    registry: { url: registryUrl(config) },
    esHeap: config.heaps.es,
    snapshotRepository: { name: SNAPSHOT_REPOSITORY, path: p.snapshots },
    clusters: { leader: cluster('leader'), follower: cluster('follower'), ...Object.fromEntries(leaders.slice(1).map((id) => [id, cluster(id)])) },
    leaders,
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
