/**
 * Data streams and rollover aliases under auto-follow, the pure part. A leader name that stands for indices that
 * come and go (a data stream's backing indices, the indices behind a rollover alias) is followed as what it is: each
 * member index is replicated as it appears, the follower keeps an alias of the group's name over the follower indices
 * (readable under the stream's or the alias's name), a member the leader deleted (ILM) is retired on the follower too,
 * and once the newest member's replication is stopped it becomes the alias's write index (failover: writes under the
 * group's name land there). No I/O here; the engine (autofollow.ts) lists, starts, stops and updates.
 *
 * Why an alias and not a data stream on the follower: a follower data stream would own its backing indices (it rolls
 * them over itself and refuses writes to them by name), so kccr could not write the leader's documents into them with
 * their versions, and Elasticsearch's integ-test distribution and OpenSearch's differ in their data stream APIs. An
 * alias reads the same on every engine and version; writes through it after a stop keep the stream's rules (the
 * backing index's `_data_stream_timestamp` mapping still requires `@timestamp`).
 */
import type { ReplicationSpec } from '../../shared/replication.js';
import { followerBackingName, followerIndexName, matchesRule, streamOfBackingIndex } from './autofollow-rules.js';
import type { AutofollowRule, Candidate } from './autofollow-rules.js';

export interface LeaderGroup {
  readonly kind: 'data_stream' | 'alias';
  /** The data stream's or the alias's name on the leader. */
  readonly name: string;
  /** Its member indices, oldest first (a data stream's generations; an alias's indices by name). */
  readonly members: readonly string[];
}

/**
 * The data streams of a rule as its replications tell them, per leader cluster: known without asking the leader, so
 * that the follower's alias is kept (and its write index set after a stop) while the leader is down, when a
 * failover needs it most.
 */
export { streamOfBackingIndex };

export function streamsOfSpecs(rule: AutofollowRule, specs: readonly ReplicationSpec[]): { leaderCluster: string; group: LeaderGroup }[] {
  const found = new Map<string, { leaderCluster: string; name: string; members: string[] }>();
  for (const s of specs) {
    if (s.followerCluster !== rule.followerCluster) continue;
    const name = streamOfBackingIndex(s.leaderIndex);
    if (name === undefined || !matchesRule(name, rule.patterns, rule.excludePatterns)) continue;
    if (s.followerIndex !== followerBackingName(rule, name, s.leaderIndex, s.leaderCluster)) continue;
    const key = `${s.leaderCluster}\u0000${name}`;
    const entry = found.get(key) ?? { leaderCluster: s.leaderCluster, name, members: [] };
    entry.members.push(s.leaderIndex);
    found.set(key, entry);
  }
  return [...found.values()]
    .sort((a, b) => a.leaderCluster.localeCompare(b.leaderCluster) || a.name.localeCompare(b.name))
    .map((e) => ({ leaderCluster: e.leaderCluster, group: { kind: 'data_stream' as const, name: e.name, members: e.members.sort(generationOrder) } }));
}

/** The follower name of a group: the rule's follower index pattern applied to the group's name. */
export function followerGroupName(rule: AutofollowRule, group: Pick<LeaderGroup, 'name'>, leaderCluster: string): string {
  return followerIndexName(rule.followerIndexPattern, group.name, leaderCluster);
}

/**
 * The follower index of a member: a backing index keeps its form with the follower stream's name
 * (`.ds-logs-app-2026.11.29-000002` of `logs-app` into `eu-logs-app` is `.ds-eu-logs-app-2026.11.29-000002`); an
 * alias's member is named by the rule's pattern, as any leader index.
 */
export function followerMemberName(rule: AutofollowRule, group: LeaderGroup, member: string, leaderCluster: string): string {
  if (group.kind === 'data_stream') return followerBackingName(rule, group.name, member, leaderCluster);
  return followerIndexName(rule.followerIndexPattern, member, leaderCluster);
}

/** The groups of a listing that a rule follows: their names match its patterns (and no exclude). */
export function groupsOfRule(rule: AutofollowRule, groups: readonly LeaderGroup[]): LeaderGroup[] {
  return groups.filter((g) => g.members.length > 0 && matchesRule(g.name, rule.patterns, rule.excludePatterns));
}

/** The members of the rule's groups with their follower names, to start as any matching leader index would be. */
export function groupCandidates(rule: AutofollowRule, groups: readonly LeaderGroup[], leaderCluster: string): Candidate[] {
  return groupsOfRule(rule, groups).flatMap((g) => g.members.map((m) => ({ leaderIndex: m, followerIndex: followerMemberName(rule, g, m, leaderCluster) })));
}

/** Whether a replication belongs to a group of the rule: its follower index is the one the group's naming gives. */
function memberSpec(rule: AutofollowRule, group: LeaderGroup, leaderCluster: string, spec: ReplicationSpec): boolean {
  return (
    spec.followerCluster === rule.followerCluster &&
    spec.leaderCluster === leaderCluster &&
    spec.followerIndex === followerMemberName(rule, group, spec.leaderIndex, leaderCluster) &&
    (group.members.includes(spec.leaderIndex) || belongsByName(group, spec.leaderIndex))
  );
}

/** A leader index gone from the leader still names its group: a backing index by its prefix. */
function belongsByName(group: LeaderGroup, leaderIndex: string): boolean {
  return group.kind === 'data_stream' && streamOfBackingIndex(leaderIndex) === group.name;
}

/**
 * Replications of a group's members that the leader no longer lists in the group (not stopped: a stopped one is an
 * index someone failed over to). The engine retires one only after the leader says that index does not exist any
 * more (an ILM delete), never because a listing left it out.
 */
export function departedMembers(rule: AutofollowRule, group: LeaderGroup, leaderCluster: string, specs: readonly ReplicationSpec[]): ReplicationSpec[] {
  const listed = new Set(group.members);
  return specs.filter((s) => s.state !== 'stopped' && !listed.has(s.leaderIndex) && memberSpec(rule, group, leaderCluster, s));
}

export interface GroupAlias {
  /** The alias on the follower: the group's follower name. */
  readonly alias: string;
  /** The follower indices it should hold: every member replication's (stopped ones too) whose index exists. */
  readonly members: readonly string[];
  /** The newest member's follower index once its replication is stopped: writes under the alias land there. */
  readonly writeIndex?: string;
}

/** Orders follower members as the leader does: by the generation at their end, then by name. */
function generationOrder(a: string, b: string): number {
  const gen = (s: string) => Number(/(\d+)$/.exec(s)?.[1] ?? Number.NaN);
  const ga = gen(a);
  const gb = gen(b);
  if (Number.isFinite(ga) && Number.isFinite(gb) && ga !== gb) return ga - gb;
  return a.localeCompare(b);
}

/**
 * What the group's alias on the follower should be. Members stay in it when stopped (their data is the stream's
 * history, readable after a failover); the write index is the newest member only once its replication is stopped,
 * so that nothing writes into a follower index kccr still writes.
 */
export function planGroupAlias(
  rule: AutofollowRule,
  group: LeaderGroup,
  leaderCluster: string,
  specs: readonly ReplicationSpec[],
  existing: readonly string[],
): GroupAlias {
  const present = new Set(existing);
  const mine = specs.filter((s) => memberSpec(rule, group, leaderCluster, s) && present.has(s.followerIndex));
  const members = [...new Set(mine.map((s) => s.followerIndex))].sort(generationOrder);
  const newest = members[members.length - 1];
  const newestStopped = newest !== undefined && mine.filter((s) => s.followerIndex === newest).every((s) => s.state === 'stopped');
  return {
    alias: followerGroupName(rule, group, leaderCluster),
    members,
    ...(newest !== undefined && newestStopped ? { writeIndex: newest } : {}),
  };
}

/** The follower indices whose existence planGroupAlias needs: every member replication's. */
export function groupAliasCandidates(rule: AutofollowRule, group: LeaderGroup, leaderCluster: string, specs: readonly ReplicationSpec[]): string[] {
  return [...new Set(specs.filter((s) => memberSpec(rule, group, leaderCluster, s)).map((s) => s.followerIndex))].sort();
}

export interface AliasState {
  readonly members: readonly string[];
  readonly writeIndex?: string;
}

/** The `POST /_aliases` actions that turn the alias as it is into the alias as planned; none when they agree. */
export function groupAliasActions(plan: GroupAlias, current: AliasState): Record<string, unknown>[] {
  const now = new Set(current.members);
  const wanted = new Set(plan.members);
  const actions: Record<string, unknown>[] = [];
  for (const index of current.members) if (!wanted.has(index)) actions.push({ remove: { index, alias: plan.alias } });
  for (const index of plan.members) {
    const write = index === plan.writeIndex;
    const wasWrite = index === current.writeIndex;
    if (!now.has(index) || write !== wasWrite) actions.push({ add: { index, alias: plan.alias, ...(write || wasWrite ? { is_write_index: write } : {}) } });
  }
  return actions;
}
