/**
 * Auto-follow rules in the OpenSearch plugin's shapes, registered under /_plugins/_replication and
 * /_opendistro/_replication: POST /_autofollow adds a rule (or replaces the rule of the same name, as the plugin
 * does), DELETE /_autofollow removes one (replications it started go on), GET /_autofollow lists them (kccr's own:
 * the plugin has no list). The leader cluster is `leader_alias` (OpenSearch) or `connection` (Open Distro).
 *
 * kccr's fan-in addition: `leader_clusters` (a list of leader clusters, or "*" for every registered one) instead of
 * leader_alias makes one rule over several leader clusters, each source into follower indices of its own
 * (`{{leader_cluster}}` in follower_index_pattern, required then), optionally under one read alias
 * (`follower_alias`). Such a rule is keyed by `*` in place of the leader cluster: it is named, replaced and deleted
 * with `leader_clusters` given, whatever its list.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KccrError } from '../../shared/errors.js';
import { idTemplateProblem, originFieldProblem } from '../../shared/merge.js';
import { principalOf } from '../http/auth.js';
import {
  autofollowKey,
  checkExcludePatterns,
  checkFollowerAlias,
  checkFollowerIndexPattern,
  checkLeaderClusters,
  coversLeader,
  LEADER_CLUSTER_PLACEHOLDER,
  LEADER_INDEX_PLACEHOLDER,
  parsePatterns,
  PER_SOURCE_PATTERN,
  RULE_NAME,
  SEVERAL_LEADERS,
} from './autofollow-rules.js';
import type { AutofollowRule } from './autofollow-rules.js';
import type { ControlDeps } from '../deps.js';
import { acknowledged, clusterName, errorResponses, freeObject, mergeBody, query } from '../http/schemas.js';
import { normalizeSettings } from '../replication/settings.js';

interface RuleRef {
  readonly leader_alias?: string;
  readonly connection?: string;
  readonly leader_clusters?: string[] | '*';
  readonly name: string;
  readonly follower_cluster?: string;
}

interface RuleBody extends RuleRef {
  readonly pattern: string;
  readonly exclude_patterns?: string[];
  readonly follower_index_pattern?: string;
  readonly follower_alias?: string;
  readonly use_roles?: { readonly leader_cluster_role: string; readonly follower_cluster_role: string };
  readonly settings?: Record<string, unknown>;
  readonly accept_partial_source?: boolean;
  readonly mode?: 'per_source' | 'merged';
  readonly merge?: { readonly id_template?: string; readonly origin_field?: string };
}

interface ClusterQuery {
  Querystring: { follower_cluster?: string; pretty?: string };
}

const ruleName = {
  type: 'string',
  pattern: RULE_NAME.source,
  description: 'a rule name: letters, digits, _, - and ., starting with a letter or digit, at most 128 characters',
} as const;

const leaderAlias = { ...clusterName, description: 'the registered leader cluster (OpenSearch spelling)' } as const;
const connection = { ...clusterName, description: 'the registered leader cluster (Open Distro spelling)' } as const;
const followerCluster = { ...clusterName, description: 'the follower cluster; by default KCCR_CONTROL_FOLLOWER_CLUSTER' } as const;

const leaderClusters = {
  anyOf: [
    { type: 'string', enum: [SEVERAL_LEADERS] },
    { type: 'array', minItems: 1, maxItems: 100, uniqueItems: true, items: clusterName },
  ],
  description: `kccr (fan-in): the rule covers these leader clusters, or "${SEVERAL_LEADERS}" for every registered cluster but the follower cluster (those registered later included); instead of leader_alias. A list of one is the same as leader_alias.`,
} as const;

const refProperties = { leader_alias: leaderAlias, connection, leader_clusters: leaderClusters, name: ruleName, follower_cluster: followerCluster } as const;

const ruleBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'pattern'],
  description:
    'Name the leader cluster with leader_alias (OpenSearch) or connection (Open Distro), or several with leader_clusters (kccr, fan-in). A rule of the same name for the same leader cluster (or for several) and follower cluster is replaced.',
  properties: {
    ...refProperties,
    pattern: {
      type: 'string',
      minLength: 1,
      maxLength: 4096,
      description: 'comma-separated index patterns with * as the wildcard, such as "logs-*,metrics-*"',
    },
    exclude_patterns: {
      type: 'array',
      maxItems: 100,
      items: { type: 'string', minLength: 1, maxLength: 255 },
      description: 'leader indices matching any of these patterns are not followed',
    },
    follower_index_pattern: {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      description: `the follower index name, with ${LEADER_INDEX_PLACEHOLDER} standing for the leader index name and ${LEADER_CLUSTER_PLACEHOLDER} for the leader cluster's (required with leader_clusters, so that two leaders' indices of the same name stay apart); by default ${LEADER_INDEX_PLACEHOLDER} (the same name), with leader_clusters ${PER_SOURCE_PATTERN}`,
    },
    follower_alias: {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      description:
        "kccr: a read alias on the follower cluster over the follower indices of the rule's replications that are not stopped, such as orders-all: each joins once its follower index exists, and leaves when its replication is stopped. The alias is the rule's: other indices in it are taken out",
    },
    use_roles: {
      type: 'object',
      additionalProperties: false,
      required: ['leader_cluster_role', 'follower_cluster_role'],
      description: 'accepted for compatibility with the OpenSearch plugin; kccr services act with their own cluster credentials',
      properties: {
        leader_cluster_role: { type: 'string', minLength: 1, maxLength: 256 },
        follower_cluster_role: { type: 'string', minLength: 1, maxLength: 256 },
      },
    },
    settings: {
      ...freeObject,
      maxProperties: 256,
      description: 'settings of every follower index the rule starts, laid over the leader index settings (not number_of_shards)',
    },
    accept_partial_source: {
      type: 'boolean',
      description:
        "replicate matching leader indices whose _source has includes/excludes (each follower then holds what its leader's _source keeps); without it they are refused and listed in autofollow_stats",
    },
    mode: {
      type: 'string',
      enum: ['per_source', 'merged'],
      description:
        'kccr (fan-in): per_source (the default) gives each leader index a follower index of its own; merged makes each one a source of the merged index follower_index_pattern names (placeholders optional), as _start with merge does',
    },
    merge: mergeBody(
      'with mode merged: the id template and the provenance field, as for _start (defaults {{leader_cluster}}:{{leader_index}}:{{id}} and _kccr.origin)',
    ),
  },
} as const;

const refBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  description: 'The rule to delete: its leader cluster (leader_alias or connection; leader_clusters for a rule over several) and name.',
  properties: refProperties,
} as const;

const ruleView = {
  type: 'object',
  required: [
    'name',
    'leader_alias',
    'follower_cluster',
    'pattern',
    'exclude_patterns',
    'follower_index_pattern',
    'created_by',
    'updated_by',
    'created_at',
    'updated_at',
  ],
  properties: {
    name: { type: 'string' },
    leader_alias: { type: 'string', description: `the leader cluster; ${SEVERAL_LEADERS} for a rule over several (see leader_clusters)` },
    leader_clusters: {
      anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
      description: `a rule over several leader clusters: their names, or ${SEVERAL_LEADERS} for every registered one`,
    },
    follower_cluster: { type: 'string' },
    pattern: { type: 'string' },
    exclude_patterns: { type: 'array', items: { type: 'string' } },
    follower_index_pattern: { type: 'string' },
    follower_alias: { type: 'string' },
    settings: freeObject,
    accept_partial_source: { type: 'boolean' },
    mode: { type: 'string', enum: ['per_source', 'merged'] },
    merge: { type: 'object', properties: { id_template: { type: 'string' }, origin_field: { type: 'string' } } },
    use_roles: { type: 'object', properties: { leader_cluster_role: { type: 'string' }, follower_cluster_role: { type: 'string' } } },
    created_by: { type: 'string' },
    updated_by: { type: 'string' },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
  },
} as const;

export function autofollowView(rule: AutofollowRule) {
  return {
    name: rule.name,
    leader_alias: rule.leaderCluster,
    ...(rule.leaderClusters !== undefined ? { leader_clusters: rule.leaderClusters === SEVERAL_LEADERS ? SEVERAL_LEADERS : [...rule.leaderClusters] } : {}),
    follower_cluster: rule.followerCluster,
    pattern: rule.patterns.join(','),
    exclude_patterns: [...rule.excludePatterns],
    follower_index_pattern: rule.followerIndexPattern,
    ...(rule.followerAlias !== undefined ? { follower_alias: rule.followerAlias } : {}),
    ...(rule.followerSettings ? { settings: rule.followerSettings } : {}),
    ...(rule.acceptPartialSource ? { accept_partial_source: true } : {}),
    mode: rule.merge ? 'merged' : 'per_source',
    ...(rule.merge
      ? {
          merge: {
            ...(rule.merge.idTemplate !== undefined ? { id_template: rule.merge.idTemplate } : {}),
            ...(rule.merge.originField !== undefined ? { origin_field: rule.merge.originField } : {}),
          },
        }
      : {}),
    ...(rule.useRoles ? { use_roles: { leader_cluster_role: rule.useRoles.leaderClusterRole, follower_cluster_role: rule.useRoles.followerClusterRole } } : {}),
    created_by: rule.createdBy,
    updated_by: rule.updatedBy,
    created_at: new Date(rule.createdAt).toISOString(),
    updated_at: new Date(rule.updatedAt).toISOString(),
  };
}

interface Leaders {
  /** The key's leader part: the one leader cluster, or `*`. */
  readonly leaderCluster: string;
  readonly leaderClusters?: readonly string[] | typeof SEVERAL_LEADERS;
}

/** The rule's leader cluster(s): leader_alias or connection for one, leader_clusters for several (a list of one is one). */
function leadersOf(body: RuleRef): Leaders {
  const { leader_alias: a, connection: c, leader_clusters: several } = body;
  if (a !== undefined && c !== undefined && a !== c)
    throw new KccrError('BAD_REQUEST', `leader_alias ${JSON.stringify(a)} and connection ${JSON.stringify(c)} disagree; give one of them`);
  const v = a ?? c;
  if (several !== undefined) {
    if (v !== undefined)
      throw new KccrError(
        'BAD_REQUEST',
        `give the leader cluster as leader_alias (or connection) for a rule of one, or leader_clusters for a rule over several, not both (received ${JSON.stringify(v)} and ${JSON.stringify(several)})`,
      );
    if (Array.isArray(several) && several.length === 1) return { leaderCluster: several[0]! };
    return { leaderCluster: SEVERAL_LEADERS, leaderClusters: checkLeaderClusters(several) };
  }
  if (v === undefined)
    throw new KccrError('BAD_REQUEST', 'the body lacks the leader cluster: give leader_alias (or connection), or leader_clusters for several');
  return { leaderCluster: v };
}

export function autofollowRoutes(deps: ControlDeps) {
  const followerClusterOf = (request: FastifyRequest<ClusterQuery>, fromBody?: string): string => {
    const q = request.query.follower_cluster;
    if (q !== undefined && fromBody !== undefined && q !== fromBody)
      throw new KccrError('BAD_REQUEST', `follower_cluster is ${JSON.stringify(q)} in the query but ${JSON.stringify(fromBody)} in the body; give one`);
    return fromBody ?? q ?? deps.followerCluster;
  };
  const registered = (name: string, role: 'leader' | 'follower'): void => {
    if (!deps.clusters.get(name)) {
      throw new KccrError(
        'NOT_FOUND',
        `${role} cluster ${name} is not registered; register it first with PUT /_kccr/clusters/${name} (kccr clusters add ${name} <url>)`,
        { cluster: name },
      );
    }
  };

  return async function routes(app: FastifyInstance): Promise<void> {
    app.post<ClusterQuery & { Body: RuleBody }>('/_autofollow', {
      schema: {
        summary: 'Add an auto-follow rule, or replace the rule of the same name: leader indices matching its patterns are replicated as they appear',
        tags: ['autofollow'],
        querystring: query({ follower_cluster: followerCluster }),
        body: ruleBody,
        response: { 200: acknowledged, ...errorResponses },
      },
      handler: async (request) => {
        const body = request.body;
        const { leaderCluster, leaderClusters } = leadersOf(body);
        const several = leaderClusters !== undefined;
        const follower = followerClusterOf(request, body.follower_cluster);
        const patterns = parsePatterns(body.pattern);
        const excludePatterns = checkExcludePatterns(body.exclude_patterns ?? []);
        const merged = body.mode === 'merged';
        if (!merged && body.merge !== undefined) throw new KccrError('BAD_REQUEST', 'merge goes with mode "merged"');
        const merge = merged ? ruleMerge(body.merge) : undefined;
        if (merged && body.follower_index_pattern === undefined)
          throw new KccrError(
            'BAD_REQUEST',
            'a rule in mode "merged" needs follower_index_pattern: the merged index (such as orders-all, or {{leader_index}}-all)',
          );
        const followerIndexPattern = checkFollowerIndexPattern(
          body.follower_index_pattern ?? (several ? PER_SOURCE_PATTERN : LEADER_INDEX_PLACEHOLDER),
          several,
          merged,
        );
        const followerAlias = body.follower_alias !== undefined ? checkFollowerAlias(body.follower_alias) : undefined;
        const settings = body.settings ? normalizeSettings(body.settings) : undefined;
        if (!several) registered(leaderCluster, 'leader');
        else if (leaderClusters !== SEVERAL_LEADERS) for (const name of leaderClusters) registered(name, 'leader');
        registered(follower, 'follower');
        const by = principalOf(request).name;
        const key = autofollowKey(follower, leaderCluster, body.name);
        const previous = deps.autofollowRules.get(key);
        const now = Date.now();
        const rule: AutofollowRule = {
          followerCluster: follower,
          leaderCluster,
          ...(leaderClusters !== undefined ? { leaderClusters } : {}),
          name: body.name,
          patterns,
          excludePatterns,
          followerIndexPattern,
          ...(followerAlias !== undefined ? { followerAlias } : {}),
          ...(settings && Object.keys(settings).length ? { followerSettings: settings } : {}),
          ...(body.accept_partial_source ? { acceptPartialSource: true } : {}),
          ...(merge ? { merge } : {}),
          ...(body.use_roles
            ? { useRoles: { leaderClusterRole: body.use_roles.leader_cluster_role, followerClusterRole: body.use_roles.follower_cluster_role } }
            : {}),
          createdBy: previous?.createdBy ?? by,
          updatedBy: by,
          createdAt: previous?.createdAt ?? now,
          // Strictly later than the previous version: the engine tells a changed rule by it.
          updatedAt: previous ? Math.max(now, previous.updatedAt + 1) : now,
        };
        await deps.autofollowRules.put(rule);
        deps.autofollow.trigger();
        request.log.info(
          { rule: body.name, leaderCluster, followerCluster: follower, pattern: patterns.join(','), by },
          previous ? 'auto-follow rule replaced' : 'auto-follow rule added',
        );
        return { acknowledged: true };
      },
    });

    app.delete<ClusterQuery & { Body: RuleRef }>('/_autofollow', {
      schema: {
        summary: 'Delete an auto-follow rule (replications it started go on)',
        tags: ['autofollow'],
        querystring: query({ follower_cluster: followerCluster }),
        body: refBody,
        response: { 200: acknowledged, ...errorResponses },
      },
      handler: async (request) => {
        const { leaderCluster } = leadersOf(request.body);
        const follower = followerClusterOf(request, request.body.follower_cluster);
        const key = autofollowKey(follower, leaderCluster, request.body.name);
        if (!deps.autofollowRules.get(key)) {
          throw new KccrError(
            'NOT_FOUND',
            `there is no auto-follow rule ${request.body.name} for leader cluster ${leaderCluster} on follower cluster ${follower}; list the rules with GET .../_autofollow`,
            {
              name: request.body.name,
              leaderCluster,
              followerCluster: follower,
            },
          );
        }
        await deps.autofollowRules.remove(key);
        request.log.info({ rule: request.body.name, leaderCluster, followerCluster: follower, by: principalOf(request).name }, 'auto-follow rule deleted');
        return { acknowledged: true };
      },
    });

    app.get<{ Querystring: { follower_cluster?: string; leader_alias?: string } }>('/_autofollow', {
      schema: {
        summary: 'List the auto-follow rules (kccr; the plugin has no list)',
        tags: ['autofollow'],
        querystring: query({
          follower_cluster: { ...clusterName, description: 'only the rules of this follower cluster' },
          leader_alias: { ...clusterName, description: 'only the rules that cover this leader cluster' },
        }),
        response: { 200: { type: 'object', required: ['rules'], properties: { rules: { type: 'array', items: ruleView } } }, ...errorResponses },
      },
      handler: async (request) => {
        const { follower_cluster: fc, leader_alias: lc } = request.query;
        // A rule over several leader clusters is listed under each leader cluster it covers.
        const rules = deps.autofollowRules.list().filter((r) => (fc === undefined || r.followerCluster === fc) && (lc === undefined || coversLeader(r, lc)));
        return { rules: rules.map(autofollowView) };
      },
    });
  };
}

/** A merged rule's template and field, checked now (a bad one is a 400 at the rule, not a failure at each start). */
function ruleMerge(body: RuleBody['merge']): NonNullable<AutofollowRule['merge']> {
  const idTemplate = body?.id_template;
  const originField = body?.origin_field;
  const problem =
    (idTemplate !== undefined ? idTemplateProblem(idTemplate) : undefined) ?? (originField !== undefined ? originFieldProblem(originField) : undefined);
  if (problem) throw new KccrError('BAD_REQUEST', problem);
  return { ...(idTemplate !== undefined ? { idTemplate } : {}), ...(originField !== undefined ? { originField } : {}) };
}
