/**
 * Auto-follow rules, the pure part: what a rule is, which leader clusters it covers, how its patterns are checked and
 * matched against leader index names, how the follower index is named, which leader indices a run of a rule should
 * start, and which follower indices its read alias should hold. No I/O here; the engine (autofollow.ts) lists the
 * leader indices, starts replications and updates the alias.
 */
import { KccrError } from '../../shared/errors.js';
import type { ReplicationSpec } from '../../shared/replication.js';
import { CLUSTER_NAME, targetIndex } from '../../shared/replication.js';
import { idTemplateProblem, mergedSourceName, originFieldProblem } from '../../shared/merge.js';
import { normalizeSettings } from '../replication/settings.js';
import { indexName } from '../http/schemas.js';

export const LEADER_INDEX_PLACEHOLDER = '{{leader_index}}';
export const LEADER_CLUSTER_PLACEHOLDER = '{{leader_cluster}}';

/**
 * The leader-cluster part of the key of a rule over several leader clusters (fan-in, per source). No cluster name can
 * be `*` (CLUSTER_NAME), so such a rule never shares a key with a rule of one leader cluster.
 */
export const SEVERAL_LEADERS = '*';

/** The default follower index name of a rule over several leader clusters: one follower index per source. */
export const PER_SOURCE_PATTERN = `${LEADER_CLUSTER_PLACEHOLDER}-${LEADER_INDEX_PLACEHOLDER}`;

/** Rule names: what the OpenSearch examples use (my-replication-rule), and safe inside a table key. */
export const RULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export interface AutofollowRule {
  readonly followerCluster: string;
  /** The one leader cluster of the rule, or {@link SEVERAL_LEADERS} for a rule over several (then `leaderClusters`). */
  readonly leaderCluster: string;
  /**
   * Only on a rule over several leader clusters: the leader clusters it covers (two or more names), or `*` for every
   * registered cluster but the rule's follower cluster, those registered later included.
   */
  readonly leaderClusters?: readonly string[] | typeof SEVERAL_LEADERS;
  readonly name: string;
  /** Wildcard patterns (`*` only, as Elasticsearch index patterns); a leader index matching any of them is followed. */
  readonly patterns: readonly string[];
  /** A leader index matching any of these is never followed by this rule. */
  readonly excludePatterns: readonly string[];
  /**
   * The follower index name, with `{{leader_index}}` replaced by the leader index name and `{{leader_cluster}}` by the
   * leader cluster's (required when the rule covers several leader clusters).
   */
  readonly followerIndexPattern: string;
  /**
   * A read alias on the follower cluster over the follower indices of the rule's replications that are not stopped:
   * each joins it once its follower index exists and leaves it when its replication is stopped (failover).
   */
  readonly followerAlias?: string;
  /** Follower index settings, already normalized (settings.ts), handed to every start. */
  readonly followerSettings?: Record<string, unknown>;
  /** Handed to every start: matching leader indices that keep only part of _source are replicated, not refused. */
  readonly acceptPartialSource?: boolean;
  /**
   * Merged mode (docs/design/fan-in.md): each matching leader index becomes one source of the merged index the
   * follower index pattern names (`{{leader_cluster}}` not needed); absent: per source, one follower index each.
   */
  readonly merge?: { readonly idTemplate?: string; readonly originField?: string };
  /** Accepted for compatibility with the OpenSearch plugin and shown back; kccr's services use their own users. */
  readonly useRoles?: { readonly leaderClusterRole: string; readonly followerClusterRole: string };
  readonly createdBy: string;
  readonly updatedBy: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export function autofollowKey(followerCluster: string, leaderCluster: string, name: string): string {
  return `${followerCluster}/${leaderCluster}/${name}`;
}

export function ruleKey(rule: Pick<AutofollowRule, 'followerCluster' | 'leaderCluster' | 'name'>): string {
  return autofollowKey(rule.followerCluster, rule.leaderCluster, rule.name);
}

/** Elasticsearch's rules for index names (schemas.ts). */
const INDEX = new RegExp(indexName.pattern, 'u');
/** The same with `*` allowed: a wildcard pattern. */
const PATTERN = new RegExp(indexName.pattern.replace('*', ''), 'u');

function patternProblem(p: string): string | undefined {
  if (p.startsWith('-')) return `${JSON.stringify(p)} starts with -; exclusions go in exclude_patterns`;
  if (Buffer.byteLength(p, 'utf8') > 255) return `${JSON.stringify(p)} is longer than 255 bytes`;
  if (!PATTERN.test(p))
    return `${JSON.stringify(p)} is not an index pattern: lower case, * as the only wildcard, none of \\ / ? " < > | # : or space, not starting with _ or +`;
  return undefined;
}

/** Checks and splits `pattern` ("logs-*,metrics-*"); every problem is named at once. */
export function parsePatterns(text: string, field = 'pattern'): string[] {
  const parts = text.split(',').map((p) => p.trim());
  const problems: string[] = [];
  if (parts.some((p) => p === ''))
    problems.push(`${field} ${JSON.stringify(text)} has an empty element; give comma-separated patterns such as "logs-*,metrics-*"`);
  for (const p of parts) {
    if (p === '') continue;
    const problem = patternProblem(p);
    if (problem) problems.push(`${field}: ${problem}`);
  }
  if (problems.length) throw new KccrError('BAD_REQUEST', problems.join('; '));
  return [...new Set(parts)];
}

/** Checks exclude_patterns (one pattern per element; a comma inside an element is refused). */
export function checkExcludePatterns(list: readonly string[]): string[] {
  const problems: string[] = [];
  for (const p of list) {
    const problem =
      p.trim() === '' ? 'an element is empty' : p.includes(',') ? `${JSON.stringify(p)} holds a comma; give one pattern per element` : patternProblem(p.trim());
    if (problem) problems.push(`exclude_patterns: ${problem}`);
  }
  if (problems.length) throw new KccrError('BAD_REQUEST', problems.join('; '));
  return [...new Set(list.map((p) => p.trim()))];
}

/** Whether a rule covers more than one leader cluster (a list of several, or every registered one). */
export function coversSeveral(rule: Pick<AutofollowRule, 'leaderClusters'>): boolean {
  return rule.leaderClusters !== undefined;
}

/** Whether the rule takes leader indices of `leaderCluster`. */
export function coversLeader(rule: Pick<AutofollowRule, 'leaderCluster' | 'leaderClusters' | 'followerCluster'>, leaderCluster: string): boolean {
  const c = rule.leaderClusters;
  if (c === undefined) return rule.leaderCluster === leaderCluster;
  return c === SEVERAL_LEADERS ? leaderCluster !== rule.followerCluster : c.includes(leaderCluster);
}

/** The leader clusters a run of the rule lists, given the registered clusters' names. */
export function leadersOf(rule: Pick<AutofollowRule, 'leaderCluster' | 'leaderClusters' | 'followerCluster'>, registered: readonly string[]): string[] {
  const c = rule.leaderClusters;
  if (c === undefined) return [rule.leaderCluster];
  return c === SEVERAL_LEADERS ? [...new Set(registered)].filter((n) => n !== rule.followerCluster).sort() : [...c];
}

/**
 * Checks follower_index_pattern: it must hold `{{leader_index}}` (otherwise every matching leader index would get the
 * same follower index), and `{{leader_cluster}}` too when the rule covers several leader clusters (otherwise two
 * leaders' indices of the same name would get the same follower index); what surrounds them must make a valid
 * index name.
 */
export function checkFollowerIndexPattern(pattern: string, severalLeaders = false, merged = false): string {
  if (!merged && !pattern.includes(LEADER_INDEX_PLACEHOLDER)) {
    throw new KccrError(
      'BAD_REQUEST',
      `follower_index_pattern ${JSON.stringify(pattern)} lacks ${LEADER_INDEX_PLACEHOLDER}; without it every matching leader index would be given the same follower index`,
    );
  }
  if (severalLeaders && !merged && !pattern.includes(LEADER_CLUSTER_PLACEHOLDER)) {
    throw new KccrError(
      'BAD_REQUEST',
      `follower_index_pattern ${JSON.stringify(pattern)} lacks ${LEADER_CLUSTER_PLACEHOLDER}; the rule covers several leader clusters, and without it two leader clusters' indices of the same name would be given the same follower index (such as ${JSON.stringify(PER_SOURCE_PATTERN)})`,
    );
  }
  const sample = followerIndexName(pattern, 'x', 'x');
  if (!INDEX.test(sample) || Buffer.byteLength(sample, 'utf8') > 255) {
    throw new KccrError(
      'BAD_REQUEST',
      `follower_index_pattern ${JSON.stringify(pattern)} does not make valid index names: outside ${LEADER_INDEX_PLACEHOLDER} and ${LEADER_CLUSTER_PLACEHOLDER}, lower case, none of \\ / * ? " < > | , # : or space, not starting with - _ or +`,
    );
  }
  return pattern;
}

/** Checks follower_alias: an alias is named like an index, and holds no placeholder (one alias over every source). */
export function checkFollowerAlias(alias: string): string {
  if (alias.includes('{{') || !INDEX.test(alias) || Buffer.byteLength(alias, 'utf8') > 255 || alias === '.' || alias === '..') {
    throw new KccrError(
      'BAD_REQUEST',
      `follower_alias ${JSON.stringify(alias)} is not an alias name: one name for every follower index of the rule (no placeholder), lower case, none of \\ / * ? " < > | , # : or space, not starting with - _ or +`,
    );
  }
  return alias;
}

/**
 * Checks the leader clusters of a rule over several: two or more distinct cluster names, or `*`. One name is a rule of
 * one leader cluster (the API turns it into one).
 */
export function checkLeaderClusters(value: unknown): readonly string[] | typeof SEVERAL_LEADERS {
  if (value === SEVERAL_LEADERS) return SEVERAL_LEADERS;
  if (
    !Array.isArray(value) ||
    value.length < 2 ||
    value.length > 100 ||
    !value.every((v) => typeof v === 'string' && CLUSTER_NAME.test(v)) ||
    new Set(value).size !== value.length
  ) {
    throw new KccrError(
      'BAD_REQUEST',
      `leader_clusters must be "*" (every registered cluster) or a list of 2 to 100 distinct cluster names; received ${JSON.stringify(value)?.slice(0, 300)}`,
    );
  }
  return value as string[];
}

/**
 * A row of `kccr._autofollow` as the rules API would have written it (table.ts refuses it otherwise: the engine never
 * starts a replication from a row something else wrote). The same checks as the API, and the key must be the rule's.
 */
export function parseAutofollowRule(key: string, value: unknown): AutofollowRule {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new KccrError('BAD_REQUEST', `auto-follow rule ${JSON.stringify(key)} refused: not a JSON object`);
  const r = value as Record<string, unknown>;
  const problems: string[] = [];
  const check = (what: string, fn: () => unknown) => {
    try {
      if (fn() === false) problems.push(what);
    } catch (e) {
      problems.push(e instanceof Error ? e.message : what);
    }
  };
  const texts = (v: unknown): v is string[] => Array.isArray(v) && v.length <= 1000 && v.every((x) => typeof x === 'string');
  check('followerCluster must be a cluster name', () => typeof r.followerCluster === 'string' && CLUSTER_NAME.test(r.followerCluster));
  // One leader cluster by name, or several: then the key's `*` and the list (or `*`) in leaderClusters.
  check(`leaderCluster must be a cluster name, or ${SEVERAL_LEADERS} with leaderClusters`, () =>
    r.leaderClusters === undefined
      ? typeof r.leaderCluster === 'string' && CLUSTER_NAME.test(r.leaderCluster)
      : r.leaderCluster === SEVERAL_LEADERS && checkLeaderClusters(r.leaderClusters) !== undefined,
  );
  check('name must be a rule name', () => typeof r.name === 'string' && RULE_NAME.test(r.name));
  check(
    'patterns must be a list of index patterns',
    () => texts(r.patterns) && r.patterns.length > 0 && parsePatterns(r.patterns.join(','), 'patterns').length > 0,
  );
  check('excludePatterns must be a list of index patterns', () => texts(r.excludePatterns) && checkExcludePatterns(r.excludePatterns).length >= 0);
  check(
    'followerIndexPattern must be a text',
    () =>
      typeof r.followerIndexPattern === 'string' &&
      checkFollowerIndexPattern(r.followerIndexPattern, r.leaderClusters !== undefined, r.merge !== undefined).length > 0,
  );
  check('merge must be {idTemplate?, originField?} of a valid template and field', () => r.merge === undefined || isRuleMerge(r.merge));
  check(
    'followerAlias must be an alias name',
    () => r.followerAlias === undefined || (typeof r.followerAlias === 'string' && checkFollowerAlias(r.followerAlias).length > 0),
  );
  check(
    'followerSettings must be flat index settings',
    () =>
      r.followerSettings === undefined ||
      (typeof r.followerSettings === 'object' && r.followerSettings !== null && normalizeSettings(r.followerSettings as Record<string, unknown>) !== undefined),
  );
  check('acceptPartialSource must be true or false', () => r.acceptPartialSource === undefined || typeof r.acceptPartialSource === 'boolean');
  for (const field of ['createdBy', 'updatedBy'] as const)
    check(`${field} must be a text`, () => typeof r[field] === 'string' && (r[field] as string).length > 0);
  for (const field of ['createdAt', 'updatedAt'] as const) check(`${field} must be a time`, () => Number.isSafeInteger(r[field]) && (r[field] as number) >= 0);
  if (problems.length === 0 && key !== autofollowKey(r.followerCluster as string, r.leaderCluster as string, r.name as string))
    problems.push(`the key must be ${JSON.stringify(autofollowKey(r.followerCluster as string, r.leaderCluster as string, r.name as string))}`);
  if (problems.length) throw new KccrError('BAD_REQUEST', `auto-follow rule ${JSON.stringify(key.slice(0, 300))} refused: ${problems.join('; ')}`);
  return value as AutofollowRule;
}

function isRuleMerge(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const m = v as Record<string, unknown>;
  if (Object.keys(m).some((k) => k !== 'idTemplate' && k !== 'originField')) return false;
  const t = m.idTemplate;
  const f = m.originField;
  return (t === undefined || (typeof t === 'string' && !idTemplateProblem(t))) && (f === undefined || (typeof f === 'string' && !originFieldProblem(f)));
}

/** The follower index name of a leader index: the placeholders replaced in one pass (a name holding one stays as it is). */
export function followerIndexName(pattern: string, leaderIndex: string, leaderCluster: string): string {
  return pattern
    .split(LEADER_INDEX_PLACEHOLDER)
    .map((part) => part.split(LEADER_CLUSTER_PLACEHOLDER).join(leaderCluster))
    .join(leaderIndex);
}

/** `*` matches any run of characters (none included); everything else matches itself. */
export function wildcardMatch(pattern: string, name: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === name;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (name.length < first.length + last.length || !name.startsWith(first) || !name.endsWith(last)) return false;
  let at = first.length;
  const end = name.length - last.length;
  for (const middle of parts.slice(1, -1)) {
    const found = name.indexOf(middle, at);
    if (found < 0 || found + middle.length > end) return false;
    at = found + middle.length;
  }
  return true;
}

export function matchesRule(name: string, patterns: readonly string[], excludes: readonly string[]): boolean {
  return patterns.some((p) => wildcardMatch(p, name)) && !excludes.some((p) => wildcardMatch(p, name));
}

export interface Candidate {
  readonly leaderIndex: string;
  readonly followerIndex: string;
}

export interface Plan {
  /** Leader indices to start, with their follower index names. */
  readonly start: readonly Candidate[];
  /** Matching leader indices that are followed already (by this rule or otherwise). */
  readonly followed: readonly string[];
  /** Matching leader indices whose follower index name would be invalid (too long). */
  readonly invalid: readonly (Candidate & { readonly reason: string })[];
}

/**
 * Which of the listed leader indices of `leaderCluster` a run of `rule` starts. Skipped: names that do not match (or
 * match an exclude), leader indices already replicated into the rule's follower cluster (a spec that is not stopped,
 * under any follower name), and follower indices that have a spec in any state — a stopped one is an index someone
 * failed over to, which a rule must not take back.
 */
export function planRun(
  rule: AutofollowRule,
  leaderCluster: string,
  leaderIndices: readonly string[],
  specs: readonly ReplicationSpec[],
  groupMembers: readonly Candidate[] = [],
): Plan {
  const onFollower = specs.filter((s) => s.followerCluster === rule.followerCluster);
  const replicated = new Set(onFollower.filter((s) => s.state !== 'stopped' && s.leaderCluster === leaderCluster).map((s) => s.leaderIndex));
  const taken = new Set(onFollower.map((s) => s.followerIndex));
  // Merged: the candidate's follower index is the merged index; the name a spec takes is the source's.
  const specName = (followerIndex: string, leaderIndex: string) =>
    rule.merge ? mergedSourceName(followerIndex, { leaderCluster, leaderIndex }) : followerIndex;
  const start: Candidate[] = [];
  const followed: string[] = [];
  const invalid: (Candidate & { reason: string })[] = [];
  // Members of a followed data stream or rollover alias are followed whatever their own names (a backing index is
  // hidden and matches no pattern), under the names the group gives them (groups.ts).
  const named = new Map(groupMembers.map((c) => [c.leaderIndex, c.followerIndex]));
  const matching = leaderIndices.filter((i) => matchesRule(i, rule.patterns, rule.excludePatterns));
  for (const leaderIndex of [...new Set([...matching, ...named.keys()])].sort()) {
    const followerIndex = named.get(leaderIndex) ?? followerIndexName(rule.followerIndexPattern, leaderIndex, leaderCluster);
    if (replicated.has(leaderIndex) || taken.has(specName(followerIndex, leaderIndex))) {
      followed.push(leaderIndex);
      continue;
    }
    if (Buffer.byteLength(followerIndex, 'utf8') > 255) {
      invalid.push({ leaderIndex, followerIndex, reason: `follower index name ${followerIndex} is longer than 255 bytes, the most Elasticsearch allows` });
      continue;
    }
    start.push({ leaderIndex, followerIndex });
  }
  return { start, followed, invalid };
}

/** A backing index's name: `.ds-<stream>-` then a generation, after a date on Elasticsearch (`2026.11.29-000002`). */
const BACKING = /^\.ds-(.+?)-(?:\d{4}\.\d{2}\.\d{2}-)?\d{6,}$/;

/** The data stream a backing index name belongs to; undefined for a name of another form. */
export function streamOfBackingIndex(index: string): string | undefined {
  return BACKING.exec(index)?.[1];
}

/**
 * The follower index of a data stream's backing index (groups.ts): its form kept under the follower stream's name
 * (`.ds-logs-app-2026.11.29-000002` of `logs-app` into `eu-logs-app` is `.ds-eu-logs-app-2026.11.29-000002`).
 */
export function followerBackingName(rule: AutofollowRule, stream: string, backing: string, leaderCluster: string): string {
  const prefix = `.ds-${stream}-`;
  if (!backing.startsWith(prefix)) return followerIndexName(rule.followerIndexPattern, backing, leaderCluster);
  return `.ds-${followerIndexName(rule.followerIndexPattern, stream, leaderCluster)}-${backing.slice(prefix.length)}`;
}

/**
 * Whether a replication is one that the rule made (or would have made): its leader and follower index fit the rule,
 * or it is a backing index of a data stream the rule follows, named as groups.ts names them.
 */
export function madeByRule(rule: AutofollowRule, spec: ReplicationSpec): boolean {
  if (spec.followerCluster !== rule.followerCluster || !coversLeader(rule, spec.leaderCluster)) return false;
  if (
    matchesRule(spec.leaderIndex, rule.patterns, rule.excludePatterns) &&
    (rule.merge ? spec.merge?.into : spec.followerIndex) === followerIndexName(rule.followerIndexPattern, spec.leaderIndex, spec.leaderCluster)
  )
    return true;
  const stream = streamOfBackingIndex(spec.leaderIndex);
  return (
    stream !== undefined &&
    matchesRule(stream, rule.patterns, rule.excludePatterns) &&
    spec.followerIndex === followerBackingName(rule, stream, spec.leaderIndex, spec.leaderCluster)
  );
}

export interface AliasChanges {
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

/**
 * What the rule's read alias should change: it holds exactly the follower indices of the rule's replications that are
 * not stopped, each once it exists on the follower cluster. Anything else in the alias (a stopped replication's
 * follower index, which someone failed over to and writes now, or an index added by hand) leaves it: the alias is the
 * rule's.
 */
export function planAlias(rule: AutofollowRule, specs: readonly ReplicationSpec[], current: readonly string[], existing: readonly string[]): AliasChanges {
  const wanted = new Set(specs.filter((s) => s.state !== 'stopped' && madeByRule(rule, s)).map((s) => targetIndex(s)));
  const now = new Set(current);
  const present = new Set(existing);
  return {
    add: [...wanted].filter((i) => !now.has(i) && present.has(i)).sort(),
    remove: [...now].filter((i) => !wanted.has(i)).sort(),
  };
}

/** The follower indices whose existence planAlias needs to know: those the alias should hold and does not yet. */
export function aliasCandidates(rule: AutofollowRule, specs: readonly ReplicationSpec[], current: readonly string[]): string[] {
  const now = new Set(current);
  return [...new Set(specs.filter((s) => s.state !== 'stopped' && madeByRule(rule, s)).map((s) => targetIndex(s)))].filter((i) => !now.has(i)).sort();
}
