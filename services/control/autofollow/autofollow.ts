/**
 * The auto-follow engine: every KCCR_CONTROL_AUTOFOLLOW_INTERVAL_MS, and right after a rule is added or a replication
 * stopped, each rule lists the open, non-hidden, non-system indices of each of its leader clusters that match its
 * patterns and starts replicating the ones not followed yet, through ReplicationService.start (the same checks as
 * PUT .../_start); then it brings its read alias, when it has one, up to its replications. A failed start is
 * remembered per rule, leader cluster and index and tried again after KCCR_CONTROL_AUTOFOLLOW_RETRY_MS, not every
 * run; a failure of one rule, leader cluster or index never stops the others. The counters are the plugin's
 * autofollow_stats, kept in memory since the engine started (as the plugin keeps them per task).
 */
import { EnvReader } from '../../shared/config.js';
import { errorMessage, KccrError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { ReplicationSpec } from '../../shared/replication.js';
import { CLUSTER_NAME } from '../../shared/replication.js';
import { isIndexName } from '../../shared/rows.js';
import { aliasCandidates, coversSeveral, leadersOf, planAlias, planRun, ruleKey } from './autofollow-rules.js';
import { departedMembers, groupAliasActions, groupAliasCandidates, groupCandidates, groupsOfRule, planGroupAlias, streamsOfSpecs } from './groups.js';
import type { AliasState, LeaderGroup } from './groups.js';
import type { AutofollowRule } from './autofollow-rules.js';
import type { ClusterRegistry } from '../clusters/clusters.js';
import type { StartCommand } from '../replication/replications.js';

export interface AutofollowConfig {
  /** Between the end of one run over every rule and the start of the next. */
  readonly intervalMs: number;
  /** How long a leader index whose start failed waits before a rule tries it again. */
  readonly retryFailedMs: number;
  /** Only the rules of these follower clusters are run (and reported); all when unset. */
  readonly followerClusters?: readonly string[];
}

export function readAutofollowConfig(env: NodeJS.ProcessEnv = process.env): Readonly<AutofollowConfig> {
  const r = new EnvReader(env);
  const scope = env.KCCR_CONTROL_AUTOFOLLOW_FOLLOWER_CLUSTERS ? r.list('KCCR_CONTROL_AUTOFOLLOW_FOLLOWER_CLUSTERS', []) : [];
  for (const name of scope) {
    if (!CLUSTER_NAME.test(name))
      r.problem(
        `KCCR_CONTROL_AUTOFOLLOW_FOLLOWER_CLUSTERS: expected comma-separated cluster names (lower-case letters, digits, _ and -), received ${JSON.stringify(name)}`,
      );
  }
  return r.done({
    intervalMs: r.int('KCCR_CONTROL_AUTOFOLLOW_INTERVAL_MS', 10_000, 100, 86_400_000),
    retryFailedMs: r.int('KCCR_CONTROL_AUTOFOLLOW_RETRY_MS', 300_000, 0, 7 * 86_400_000),
    ...(scope.length ? { followerClusters: scope } : {}),
  });
}

/** What a rule's patterns match on a leader cluster. */
export interface LeaderListing {
  /** Open, non-hidden, non-system concrete indices. */
  readonly indices: string[];
  /** Data streams and aliases, with their member indices (groups.ts). */
  readonly groups: LeaderGroup[];
}

/** Lists what matches any of the patterns on the leader cluster. */
export type LeaderIndexLister = (leaderCluster: string, patterns: readonly string[]) => Promise<LeaderListing>;

/**
 * A read alias on a follower cluster, as the engine keeps it (alias names are checked by the rules API; index names
 * come from replication specs).
 */
export interface FollowerAliases {
  /** The indices the alias points at now; none when it does not exist. */
  members(followerCluster: string, alias: string): Promise<string[]>;
  /** Which of these indices exist on the follower cluster. */
  existing(followerCluster: string, indices: readonly string[]): Promise<string[]>;
  /** Adds and removes members in one atomic `POST /_aliases`. */
  update(followerCluster: string, alias: string, changes: { readonly add: readonly string[]; readonly remove: readonly string[] }): Promise<void>;
  /** A data stream's alias as it is: its members and its write index. */
  state(followerCluster: string, alias: string): Promise<AliasState>;
  /** `POST /_aliases` with these actions, atomically. */
  apply(followerCluster: string, actions: readonly Record<string, unknown>[]): Promise<void>;
}

/** What retiring a data stream's member that the leader deleted (ILM) needs. */
export interface MemberRetirement {
  /** Whether the leader index exists (a data stream's backing index is hidden: looked up by name). */
  leaderIndexExists(leaderCluster: string, index: string): Promise<boolean>;
  /** Stops the replication (its follower index becomes an ordinary index) ... */
  stop(followerCluster: string, followerIndex: string, requestedBy: string): Promise<unknown>;
  /** ... and deletes that follower index, as the leader deleted its own. */
  deleteFollowerIndex(followerCluster: string, index: string): Promise<void>;
}

/** {@link FollowerAliases} through the registered follower cluster's client. */
export function followerAliases(clusters: ClusterRegistry): FollowerAliases {
  return {
    members: (followerCluster, alias) =>
      clusters.withClient(followerCluster, async (es) => {
        const r = await es.request<Record<string, unknown>>('GET', `/_alias/${encodeURIComponent(alias)}`, { ignore: [404] });
        return r.status === 404 ? [] : Object.keys(r.body ?? {});
      }),
    existing: (followerCluster, indices) =>
      clusters.withClient(followerCluster, async (es) => {
        const found: string[] = [];
        for (const index of indices) if (await es.indexExists(index)) found.push(index);
        return found;
      }),
    update: (followerCluster, alias, changes) =>
      clusters.withClient(followerCluster, async (es) => {
        const actions = [...changes.remove.map((index) => ({ remove: { index, alias } })), ...changes.add.map((index) => ({ add: { index, alias } }))];
        if (actions.length) await es.request('POST', '/_aliases', { body: { actions } });
      }),
    state: (followerCluster, alias) =>
      clusters.withClient(followerCluster, async (es) => {
        const r = await es.request<Record<string, { aliases?: Record<string, { is_write_index?: boolean }> }>>('GET', `/_alias/${encodeURIComponent(alias)}`, {
          ignore: [404],
          query: { expand_wildcards: 'all' },
        });
        const entries = r.status === 404 ? [] : Object.entries(r.body ?? {});
        const write = entries.find(([, v]) => v.aliases?.[alias]?.is_write_index === true)?.[0];
        return { members: entries.map(([index]) => index), ...(write ? { writeIndex: write } : {}) };
      }),
    apply: (followerCluster, actions) =>
      clusters.withClient(followerCluster, async (es) => {
        if (actions.length) await es.request('POST', '/_aliases', { body: { actions } });
      }),
  };
}

/** {@link MemberRetirement} through the registered clusters and the replication service. */
export function memberRetirement(
  clusters: ClusterRegistry,
  replications: { setState(followerCluster: string, followerIndex: string, state: 'stopped', requestedBy: string): Promise<unknown> },
): MemberRetirement {
  return {
    leaderIndexExists: (leaderCluster, index) => clusters.withClient(leaderCluster, (es) => es.indexExists(index)),
    stop: (followerCluster, followerIndex, requestedBy) => replications.setState(followerCluster, followerIndex, 'stopped', requestedBy),
    deleteFollowerIndex: (followerCluster, index) => clusters.withClient(followerCluster, (es) => es.deleteIndex(index)),
  };
}

export interface RuleSource {
  list(): AutofollowRule[];
  get(key: string): AutofollowRule | undefined;
}

export interface ReplicationStarter {
  list(): ReplicationSpec[];
  start(cmd: StartCommand): Promise<unknown>;
}

interface ResolvedIndex {
  readonly name: string;
  readonly attributes?: readonly string[];
  readonly data_stream?: string;
}

interface Resolved {
  readonly indices?: ResolvedIndex[];
  readonly aliases?: { readonly name: string; readonly indices?: string[] }[];
  readonly data_streams?: { readonly name: string; readonly backing_indices?: string[] }[];
}

const NOT_FOLLOWED = ['hidden', 'system', 'closed', 'frozen'];

/**
 * `GET /_resolve/index/<patterns>?expand_wildcards=open`: wildcards expand to open, non-hidden indices only; a name
 * without a wildcard resolves even when hidden or closed, hence the attribute check. Data stream backing indices are
 * not listed as indices: a data stream matching the patterns is listed as a group with its backing indices, as is an
 * alias with its indices (groups.ts). Needs view_index_metadata on the matching indices.
 */
export function leaderIndexLister(clusters: ClusterRegistry): LeaderIndexLister {
  return (leaderCluster, patterns) =>
    clusters.withClient(leaderCluster, async (es) => {
      const path = `/_resolve/index/${patterns.map((p) => encodeURIComponent(p)).join(',')}`;
      const r = await es.request<Resolved>('GET', path, { query: { expand_wildcards: 'open', ignore_unavailable: true } });
      // Names from the leader are checked like names from a request: a cluster (or something in its place)
      // answering with a name Elasticsearch would never make starts nothing.
      const names = (list: readonly string[] | undefined) => (list ?? []).filter((name) => isIndexName(name));
      const indices = (r.body.indices ?? [])
        .filter((i) => i.data_stream === undefined && (i.attributes ?? []).includes('open') && !(i.attributes ?? []).some((a) => NOT_FOLLOWED.includes(a)))
        .map((i) => i.name);
      const groups: LeaderGroup[] = [
        ...(r.body.data_streams ?? []).map((d) => ({ kind: 'data_stream' as const, name: d.name, members: names(d.backing_indices) })),
        ...(r.body.aliases ?? [])
          .filter((a) => !a.name.startsWith('.'))
          .map((a) => ({ kind: 'alias' as const, name: a.name, members: names(a.indices).sort() })),
      ].filter((g) => isIndexName(g.name));
      return { indices: names(indices), groups };
    });
}

interface Failure {
  readonly leaderCluster: string;
  readonly leaderIndex: string;
  readonly followerIndex: string;
  readonly code: string;
  readonly reason: string;
  readonly failedAt: number;
  readonly attempts: number;
  readonly retryAt: number;
}

/** What the engine remembers of one rule; a rule deleted and added again starts afresh (another createdAt). */
interface RuleRun {
  readonly createdAt: number;
  updatedAt: number;
  successes: number;
  failures: number;
  leaderFailures: number;
  lastLeaderError?: string;
  lastAliasError?: string;
  /** Why a data stream or rollover alias could not be kept in the last run (groups.ts); unset when all were. */
  lastGroupError?: string;
  /** The group failures of the run in progress. */
  groupErrors: string[];
  executions: number;
  lastExecutionTime: number;
  /** Keyed `<leader cluster>/<leader index>`. */
  readonly failed: Map<string, Failure>;
}

export interface RuleStats {
  readonly name: string;
  readonly pattern: string;
  readonly num_success_start_replication: number;
  readonly num_failed_start_replication: number;
  readonly num_failed_leader_calls: number;
  readonly failed_indices: string[];
  /** Epoch milliseconds when the rule's last run ended; 0 before its first run. */
  readonly last_execution_time: number;
  // kccr's additions to the plugin's shape:
  readonly leader_alias: string;
  /** A rule over several leader clusters: those it covers (`*`: every registered one but its follower cluster). */
  readonly leader_clusters?: readonly string[] | '*';
  readonly follower_cluster: string;
  readonly follower_alias?: string;
  readonly executions: number;
  readonly failures: {
    leader_cluster: string;
    leader_index: string;
    follower_index: string;
    code: string;
    reason: string;
    attempts: number;
    failed_at: string;
    retry_at: string;
  }[];
  readonly last_leader_error?: string;
  readonly last_alias_error?: string;
  /** Why a data stream (or rollover alias) the rule follows could not be kept in its last run. */
  readonly last_group_error?: string;
}

export interface AutofollowStats {
  readonly num_success_start_replication: number;
  readonly num_failed_start_replication: number;
  readonly num_failed_leader_calls: number;
  readonly failed_indices: string[];
  readonly autofollow_stats: RuleStats[];
}

export interface AutofollowEngineOptions extends AutofollowConfig {
  readonly rules: RuleSource;
  readonly replications: ReplicationStarter;
  readonly listLeaderIndices: LeaderIndexLister;
  /** The registered clusters' names: the leader clusters of a rule over every registered one. */
  readonly registeredClusters?: () => string[];
  /** Where rules with a follower_alias keep it; without it such rules start replications but keep no alias. */
  readonly aliases?: FollowerAliases;
  /** Retires data stream members the leader deleted; without it they are left as they are. */
  readonly retirement?: MemberRetirement;
  readonly logger?: Logger;
  readonly now?: () => number;
}

export class AutofollowEngine {
  private readonly runs = new Map<string, RuleRun>();
  private running = false;
  /** Set by stop(): a run in progress starts no further replication. */
  private stopping = false;
  private timer?: NodeJS.Timeout;
  private current?: Promise<void>;
  private again = false;
  private completed = 0;
  private lastCycleEnd = 0;
  private readonly now: () => number;

  constructor(private readonly opts: AutofollowEngineOptions) {
    this.now = opts.now ?? Date.now;
  }

  get intervalMs(): number {
    return this.opts.intervalMs;
  }

  /** Runs completed over every rule since the engine was made. */
  get cycles(): number {
    return this.completed;
  }

  /** Epoch milliseconds when the last run over every rule ended; 0 before the first. */
  get lastCycleAt(): number {
    return this.lastCycleEnd;
  }

  /** Starts the periodic runs, the first one now (rules loaded from Kafka may have indices waiting). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    // A run still finishing after a stop() that was not awaited schedules the next one itself.
    if (this.current) this.again = true;
    else this.schedule(0);
  }

  /** Stops the periodic runs and waits for a run in progress (it stops before its next start of a replication). */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.current;
  }

  /** Asks for a run as soon as possible (after a rule was added); a run in progress is followed by another. */
  trigger(): void {
    if (!this.running) return;
    if (this.current) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.schedule(0);
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => void this.cycle(), ms);
    this.timer.unref();
  }

  private async cycle(): Promise<void> {
    this.timer = undefined;
    this.current = this.runOnce().catch((e: unknown) => {
      // runOnce counts what fails per rule; this is a bug, and the timer must go on regardless.
      this.opts.logger?.error({ err: errorMessage(e) }, 'auto-follow run failed unexpectedly');
    });
    await this.current;
    this.current = undefined;
    if (!this.running) return;
    const soon = this.again;
    this.again = false;
    this.schedule(soon ? 0 : this.opts.intervalMs);
  }

  /** The rules this engine runs: all, or those of its follower clusters. */
  private rules(): AutofollowRule[] {
    const scope = this.opts.followerClusters;
    const all = this.opts.rules.list();
    return scope ? all.filter((r) => scope.includes(r.followerCluster)) : all;
  }

  /** One run over every rule. Never throws: each rule's failures are counted and logged. */
  async runOnce(): Promise<void> {
    const rules = this.rules();
    const keys = new Set(rules.map(ruleKey));
    for (const key of this.runs.keys()) if (!keys.has(key)) this.runs.delete(key);
    for (const rule of rules) {
      if (this.stopping) break;
      try {
        await this.runRule(rule);
      } catch (e) {
        // A bug in one rule's run must not stop the others.
        this.opts.logger?.error({ rule: ruleKey(rule), err: errorMessage(e) }, 'auto-follow run of a rule failed unexpectedly');
      }
    }
    this.completed++;
    this.lastCycleEnd = this.now();
  }

  private runOf(rule: AutofollowRule): RuleRun {
    const key = ruleKey(rule);
    let run = this.runs.get(key);
    if (!run || run.createdAt !== rule.createdAt) {
      run = {
        createdAt: rule.createdAt,
        updatedAt: rule.updatedAt,
        successes: 0,
        failures: 0,
        leaderFailures: 0,
        executions: 0,
        lastExecutionTime: 0,
        groupErrors: [],
        failed: new Map(),
      };
      this.runs.set(key, run);
    } else if (run.updatedAt !== rule.updatedAt) {
      // A changed rule (pattern, settings, follower name) deserves a fresh try of what failed before.
      run.updatedAt = rule.updatedAt;
      run.failed.clear();
    }
    return run;
  }

  private async runRule(rule: AutofollowRule): Promise<void> {
    const run = this.runOf(rule);
    const log = this.opts.logger?.child({ rule: rule.name, leaderCluster: rule.leaderCluster, followerCluster: rule.followerCluster });
    run.groupErrors = [];
    try {
      const leaders = leadersOf(rule, this.opts.registeredClusters?.() ?? []);
      const errors: string[] = [];
      // One leader cluster down (or refusing) leaves the rule's other leader clusters served.
      for (const leaderCluster of leaders) {
        if (this.stopping) return;
        const error = await this.runLeader(rule, run, leaderCluster, log);
        if (error !== undefined) errors.push(coversSeveral(rule) ? `${leaderCluster}: ${error}` : error);
      }
      const message = errors.length ? errors.join('; ') : undefined;
      // Logged when it changes, not on every run while a cluster is down.
      if (message !== undefined && message !== run.lastLeaderError) log?.warn({ err: message }, 'auto-follow could not list the leader indices');
      run.lastLeaderError = message;
      if (!this.stopping) await this.keepStreamAliases(rule, run, log);
      const groupError = run.groupErrors.length ? run.groupErrors.join('; ') : undefined;
      if (groupError !== undefined && groupError !== run.lastGroupError)
        log?.warn({ err: groupError }, 'auto-follow could not keep a data stream or rollover alias');
      run.lastGroupError = groupError;
      if (rule.followerAlias && !this.stopping) await this.keepAlias(rule, run, rule.followerAlias, log);
    } finally {
      run.executions++;
      run.lastExecutionTime = this.now();
    }
  }

  /** One leader cluster of a rule's run; returns why its indices could not be listed, if they could not. */
  private async runLeader(rule: AutofollowRule, run: RuleRun, leaderCluster: string, log: Logger | undefined): Promise<string | undefined> {
    const key = ruleKey(rule);
    let listing: LeaderListing;
    try {
      listing = await this.opts.listLeaderIndices(leaderCluster, rule.patterns);
    } catch (e) {
      run.leaderFailures++;
      return errorMessage(e);
    }
    const groups = groupsOfRule(rule, listing.groups);
    const members = groupCandidates(rule, groups, leaderCluster);
    const names = [...listing.indices, ...members.map((m) => m.leaderIndex)];
    const plan = planRun(rule, leaderCluster, listing.indices, this.opts.replications.list(), members);
    // Forget failures of indices that are gone from the leader or followed now (by hand, say).
    const present = new Set(names);
    const followed = new Set(plan.followed);
    for (const [failedKey, f] of run.failed)
      if (f.leaderCluster === leaderCluster && (!present.has(f.leaderIndex) || followed.has(f.leaderIndex))) run.failed.delete(failedKey);

    for (const c of plan.invalid) this.recordFailure(run, leaderCluster, c.leaderIndex, c.followerIndex, new KccrError('BAD_REQUEST', c.reason), log);
    for (const c of plan.start) {
      const failed = run.failed.get(`${leaderCluster}/${c.leaderIndex}`);
      if (failed && failed.retryAt > this.now()) continue;
      // The rule may have been deleted or changed while this run went on; a stopped engine starts nothing more.
      if (this.stopping || this.opts.rules.get(key)?.updatedAt !== rule.updatedAt) return undefined;
      try {
        await this.opts.replications.start({
          followerCluster: rule.followerCluster,
          followerIndex: c.followerIndex,
          leaderCluster,
          leaderIndex: c.leaderIndex,
          ...(rule.followerSettings && Object.keys(rule.followerSettings).length ? { settings: rule.followerSettings } : {}),
          ...(rule.acceptPartialSource ? { acceptPartialSource: true } : {}),
          ...(rule.merge ? { merge: rule.merge } : {}),
          requestedBy: `autofollow:${rule.name}`,
        });
        run.successes++;
        run.failed.delete(`${leaderCluster}/${c.leaderIndex}`);
        log?.info({ leaderCluster, leaderIndex: c.leaderIndex, followerIndex: c.followerIndex }, 'auto-follow started a replication');
      } catch (e) {
        this.recordFailure(run, leaderCluster, c.leaderIndex, c.followerIndex, e, log);
      }
    }
    for (const group of groups) {
      if (this.stopping) return undefined;
      await this.retireDeparted(rule, run, leaderCluster, group, log);
    }
    return undefined;
  }

  /** Members of a followed group that the leader deleted (ILM) are retired on the follower: stopped, index deleted. */
  private async retireDeparted(rule: AutofollowRule, run: RuleRun, leaderCluster: string, group: LeaderGroup, log: Logger | undefined): Promise<void> {
    const retirement = this.opts.retirement;
    if (!retirement) return;
    try {
      for (const spec of departedMembers(rule, group, leaderCluster, this.opts.replications.list())) {
        // Gone from the group is not enough: only an index the leader says does not exist is retired.
        if (await retirement.leaderIndexExists(leaderCluster, spec.leaderIndex)) continue;
        await retirement.stop(spec.followerCluster, spec.followerIndex, `autofollow:${rule.name}`);
        await retirement.deleteFollowerIndex(spec.followerCluster, spec.followerIndex);
        log?.info(
          { leaderCluster, group: group.name, leaderIndex: spec.leaderIndex, followerIndex: spec.followerIndex },
          'auto-follow retired a member the leader deleted',
        );
      }
    } catch (e) {
      run.groupErrors.push(`${coversSeveral(rule) ? `${leaderCluster}:` : ''}${group.name}: ${errorMessage(e)}`);
    }
  }

  /**
   * The follower's alias of each data stream the rule follows (groups.ts), known from its replications, so that it is
   * kept, and its write index set once the newest member is stopped, while the leader is down too.
   */
  private async keepStreamAliases(rule: AutofollowRule, run: RuleRun, log: Logger | undefined): Promise<void> {
    const aliases = this.opts.aliases;
    if (!aliases) return;
    for (const { leaderCluster, group } of streamsOfSpecs(rule, this.opts.replications.list())) {
      if (this.stopping) return;
      try {
        const specs = this.opts.replications.list();
        const existing = await aliases.existing(rule.followerCluster, groupAliasCandidates(rule, group, leaderCluster, specs));
        const plan = planGroupAlias(rule, group, leaderCluster, specs, existing);
        const actions = groupAliasActions(plan, await aliases.state(rule.followerCluster, plan.alias));
        if (actions.length) {
          await aliases.apply(rule.followerCluster, actions);
          log?.info({ alias: plan.alias, members: plan.members, writeIndex: plan.writeIndex }, 'auto-follow updated a data stream alias');
        }
      } catch (e) {
        run.groupErrors.push(`${coversSeveral(rule) ? `${leaderCluster}:` : ''}${group.name}: ${errorMessage(e)}`);
      }
    }
  }

  /**
   * Brings the rule's read alias up to its replications (planAlias): a follower index joins once the applier made it,
   * and leaves when its replication is stopped. A failure is kept for the stats and tried again on the next run.
   */
  private async keepAlias(rule: AutofollowRule, run: RuleRun, alias: string, log: Logger | undefined): Promise<void> {
    const aliases = this.opts.aliases;
    if (!aliases) return;
    try {
      const specs = this.opts.replications.list();
      const current = await aliases.members(rule.followerCluster, alias);
      const existing = await aliases.existing(rule.followerCluster, aliasCandidates(rule, specs, current));
      const changes = planAlias(rule, specs, current, existing);
      if (changes.add.length || changes.remove.length) {
        await aliases.update(rule.followerCluster, alias, changes);
        log?.info({ alias, added: changes.add, removed: changes.remove }, 'auto-follow updated its read alias');
      }
      run.lastAliasError = undefined;
    } catch (e) {
      const message = errorMessage(e);
      if (message !== run.lastAliasError) log?.warn({ alias, err: message }, 'auto-follow could not update its read alias');
      run.lastAliasError = message;
    }
  }

  private recordFailure(run: RuleRun, leaderCluster: string, leaderIndex: string, followerIndex: string, e: unknown, log: Logger | undefined): void {
    const previous = run.failed.get(`${leaderCluster}/${leaderIndex}`);
    if (previous && previous.retryAt > this.now()) return;
    const now = this.now();
    const code = e instanceof KccrError ? e.code : 'INTERNAL';
    const reason = errorMessage(e);
    run.failures++;
    run.failed.set(`${leaderCluster}/${leaderIndex}`, {
      leaderCluster,
      leaderIndex,
      followerIndex,
      code,
      reason,
      failedAt: now,
      attempts: (previous?.attempts ?? 0) + 1,
      retryAt: now + this.opts.retryFailedMs,
    });
    log?.warn(
      { leaderCluster, leaderIndex, followerIndex, code, err: reason, retryInMs: this.opts.retryFailedMs },
      'auto-follow could not start a replication',
    );
  }

  /** The plugin's autofollow_stats over the rules this engine runs (as they are now), with kccr's details per rule. */
  stats(): AutofollowStats {
    const perRule: RuleStats[] = this.rules().map((rule) => {
      const run = this.runs.get(ruleKey(rule));
      const current = run && run.createdAt === rule.createdAt ? run : undefined;
      const failed = [...(current?.failed.values() ?? [])].sort(
        (a, b) => a.leaderIndex.localeCompare(b.leaderIndex) || a.leaderCluster.localeCompare(b.leaderCluster),
      );
      // A rule over several leader clusters names each failed index with its cluster (`east:orders-1`), as a
      // cross-cluster index name reads.
      const several = coversSeveral(rule);
      return {
        name: rule.name,
        pattern: rule.patterns.join(','),
        num_success_start_replication: current?.successes ?? 0,
        num_failed_start_replication: current?.failures ?? 0,
        num_failed_leader_calls: current?.leaderFailures ?? 0,
        failed_indices: failed.map((f) => (several ? `${f.leaderCluster}:${f.leaderIndex}` : f.leaderIndex)),
        last_execution_time: current?.lastExecutionTime ?? 0,
        leader_alias: rule.leaderCluster,
        ...(rule.leaderClusters !== undefined ? { leader_clusters: rule.leaderClusters } : {}),
        follower_cluster: rule.followerCluster,
        ...(rule.followerAlias !== undefined ? { follower_alias: rule.followerAlias } : {}),
        executions: current?.executions ?? 0,
        failures: failed.map((f) => ({
          leader_cluster: f.leaderCluster,
          leader_index: f.leaderIndex,
          follower_index: f.followerIndex,
          code: f.code,
          reason: f.reason,
          attempts: f.attempts,
          failed_at: new Date(f.failedAt).toISOString(),
          retry_at: new Date(f.retryAt).toISOString(),
        })),
        ...(current?.lastLeaderError !== undefined ? { last_leader_error: current.lastLeaderError } : {}),
        ...(current?.lastAliasError !== undefined ? { last_alias_error: current.lastAliasError } : {}),
        ...(current?.lastGroupError !== undefined ? { last_group_error: current.lastGroupError } : {}),
      };
    });
    const sum = (f: (s: RuleStats) => number) => perRule.reduce((acc, s) => acc + f(s), 0);
    return {
      num_success_start_replication: sum((s) => s.num_success_start_replication),
      num_failed_start_replication: sum((s) => s.num_failed_start_replication),
      num_failed_leader_calls: sum((s) => s.num_failed_leader_calls),
      failed_indices: [...new Set(perRule.flatMap((s) => s.failed_indices))].sort(),
      autofollow_stats: perRule,
    };
  }
}
