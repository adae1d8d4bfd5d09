/**
 * The Kafka principals of the secure stack and what each may do (docs/operations/security.md, "Kafka principals and
 * ACLs", is this module in prose). Kafka runs StandardAuthorizer with `allow.everyone.if.no.acl.found=false`: a
 * principal may do only what an ACL below grants it.
 *
 * Two kinds of grants:
 * - {@link stackAcls}: what does not depend on cluster names (the control tables, the registry's topics), made by the
 *   stack launcher at every start;
 * - {@link clusterAcls}: what belongs to one leader cluster (its change topics, `kccr.<leader>.*`, and its reconcile
 *   group) and one follower cluster (its dead-letter topic and consumer group). kccr cluster names are chosen by
 *   whoever registers clusters, so these are granted per cluster: by an operator for production, by the tests'
 *   harness for each test's unique cluster names.
 *
 * Change topics (`kccr.<cluster>.<index>`) and control tables (`kccr._<name>`) share the prefix `kccr.`, and a Kafka
 * prefixed ACL cannot say "kccr. but not kccr._": nothing here is granted on `kccr.` as a whole, except Describe to
 * the control service (it reads the offsets of every change topic), which reads no record and writes nothing.
 */
import type { KafkaAcl, KafkaAclOperation } from '../../../services/shared/adapters/kafka.js';
import { REGISTRY_JOURNAL_TOPIC } from './registry.js';
import { applierGroupId, RECONCILE_TOPIC, reconcileGroup } from '../../../services/shared/replication.js';
import { CONTROL_TOPICS } from '../../../services/shared/table.js';
import { changeTopicPrefix, deadLetterTopic } from '../../../services/shared/topics.js';

export interface KafkaUserSpec {
  readonly name: string;
  /** Super users pass every ACL check (super.users). */
  readonly superUser: boolean;
  readonly purpose: string;
}

/** The SCRAM-SHA-512 users of the secure stack's Kafka, made when its storage is formatted. */
export const KAFKA_USERS: readonly KafkaUserSpec[] = [
  { name: 'kccr-admin', superUser: true, purpose: 'set-up (ACLs, control tables) and tests' },
  { name: 'kccr-broker', superUser: true, purpose: 'the broker itself: inter-broker (SCRAM) and broker to controller (PLAIN)' },
  { name: 'kccr-control', superUser: false, purpose: 'the control service' },
  { name: 'kccr-extractor', superUser: false, purpose: 'the extractor' },
  { name: 'kccr-applier', superUser: false, purpose: 'the applier' },
  { name: 'kccr-registry', superUser: false, purpose: 'the schema registry (KafkaSQL storage)' },
];

/** The users every ACL check lets pass (super.users). */
export const SUPER_USERS: readonly string[] = KAFKA_USERS.filter((u) => u.superUser).map((u) => u.name);

/** The consumer groups of the control tables: `kccr-table-<topic>-<random>`, one per reader (services/shared/table.ts). */
const TABLE_GROUP_PREFIX = 'kccr-table-';

/** A table's owner reads, writes and creates it; a reader reads it (and finds it: Describe). */
const TABLE_OWNER: readonly KafkaAclOperation[] = ['read', 'write', 'create', 'describe', 'describe_configs'];
const TABLE_READER: readonly KafkaAclOperation[] = ['read', 'describe'];

function allow(user: string, resource: KafkaAcl['resource'], pattern: KafkaAcl['pattern'], name: string, operations: readonly KafkaAclOperation[]): KafkaAcl {
  return { principal: `User:${user}`, resource, pattern, name, operations, permission: 'allow' };
}

/** The grants that hold for any cluster names. */
export function stackAcls(): KafkaAcl[] {
  const t = CONTROL_TOPICS;
  return [
    // The control service: owns the replication specs, registered clusters and auto-follow rules; writes bootstrap
    // status rows; reads every status row; reads the offsets of change topics and of the appliers' groups.
    ...[t.replications, t.clusters, t.autofollow, t.status].map((topic) => allow('kccr-control', 'topic', 'literal', topic, TABLE_OWNER)),
    allow('kccr-control', 'topic', 'prefixed', 'kccr.', ['describe']),
    allow('kccr-control', 'group', 'prefixed', TABLE_GROUP_PREFIX, ['read']),
    allow('kccr-control', 'group', 'prefixed', applierGroupId(''), ['describe']),

    // The extractor: owns its cursors and the index metadata, writes status rows, reads the replication specs and the
    // reconcile requests. Never writes a spec, a cluster or a rule.
    ...[t.cursors, t.metadata, t.status].map((topic) => allow('kccr-extractor', 'topic', 'literal', topic, TABLE_OWNER)),
    allow('kccr-extractor', 'topic', 'literal', t.replications, TABLE_READER),
    allow('kccr-extractor', 'topic', 'literal', RECONCILE_TOPIC, ['read', 'describe', 'create']),
    allow('kccr-extractor', 'group', 'prefixed', TABLE_GROUP_PREFIX, ['read']),

    // The applier: writes status rows and reconcile requests, reads the specs and the index metadata, and how far each
    // extractor's reconcile group has read.
    allow('kccr-applier', 'topic', 'literal', t.status, TABLE_OWNER),
    ...[t.replications, t.metadata].map((topic) => allow('kccr-applier', 'topic', 'literal', topic, TABLE_READER)),
    allow('kccr-applier', 'topic', 'literal', RECONCILE_TOPIC, ['write', 'create', 'describe']),
    allow('kccr-applier', 'group', 'prefixed', TABLE_GROUP_PREFIX, ['read']),
    allow('kccr-applier', 'group', 'prefixed', reconcileGroup(''), ['describe']),

    // The registry: its journal, snapshots and events topics (`kccr._registry*`) and its journal readers' groups
    // (`kccr._registry-<uuid>`, a new one each start).
    allow('kccr-registry', 'topic', 'prefixed', REGISTRY_JOURNAL_TOPIC, ['all']),
    allow('kccr-registry', 'group', 'prefixed', REGISTRY_JOURNAL_TOPIC, ['all']),
  ];
}

/**
 * The grants of one leader cluster's extractor (its change topics and reconcile group) and of one follower cluster's
 * applier (its dead letters and group, and reading the change topics of that leader cluster).
 */
export function clusterAcls(names: { readonly leaderCluster: string; readonly followerCluster: string }): KafkaAcl[] {
  const changes = changeTopicPrefix(names.leaderCluster);
  return [
    allow('kccr-extractor', 'topic', 'prefixed', changes, ['write', 'create', 'describe', 'describe_configs']),
    allow('kccr-extractor', 'group', 'literal', reconcileGroup(names.leaderCluster), ['read', 'describe']),
    allow('kccr-applier', 'topic', 'prefixed', changes, ['read', 'describe']),
    allow('kccr-applier', 'topic', 'literal', deadLetterTopic(names.followerCluster), ['write', 'create', 'describe', 'describe_configs']),
    allow('kccr-applier', 'group', 'literal', applierGroupId(names.followerCluster), ['read', 'describe']),
  ];
}
