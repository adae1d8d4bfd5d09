/**
 * Auto-follow rules in the OpenSearch plugin's shapes, registered under /_plugins/_replication and
 * /_opendistro/_replication: POST /_autofollow adds a rule (or replaces the rule of the same name, as the plugin
 * does), DELETE /_autofollow removes one (replications it started go on), GET /_autofollow lists them (kccr's own:
 * the plugin has no list). The leader cluster is `leader_alias` (OpenSearch) or `connection` (Open Distro).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KccrError } from '../../shared/errors.js';
import { principalOf } from '../http/auth.js';
import { autofollowKey, checkExcludePatterns, checkFollowerIndexPattern, LEADER_INDEX_PLACEHOLDER, parsePatterns, RULE_NAME } from './autofollow-rules.js';
import type { AutofollowRule } from './autofollow-rules.js';
import type { ControlDeps } from '../deps.js';
import { acknowledged, clusterName, errorResponses, freeObject, query } from '../http/schemas.js';
import { normalizeSettings } from '../replication/settings.js';

interface RuleRef {
  readonly leader_alias?: string;
  readonly connection?: string;
  readonly name: string;
  readonly follower_cluster?: string;
}

interface RuleBody extends RuleRef {
  readonly pattern: string;
  readonly exclude_patterns?: string[];
  readonly follower_index_pattern?: string;
  readonly use_roles?: { readonly leader_cluster_role: string; readonly follower_cluster_role: string };
  readonly settings?: Record<string, unknown>;
  readonly accept_partial_source?: boolean;
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

const refProperties = { leader_alias: leaderAlias, connection, name: ruleName, follower_cluster: followerCluster } as const;

const ruleBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'pattern'],
  description:
    'Name the leader cluster with leader_alias (OpenSearch) or connection (Open Distro). A rule of the same name for the same leader and follower cluster is replaced.',
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
      description: `the follower index name, with ${LEADER_INDEX_PLACEHOLDER} standing for the leader index name; by default ${LEADER_INDEX_PLACEHOLDER} (the same name)`,
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
  },
} as const;

const refBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  description: 'The rule to delete: its leader cluster (leader_alias or connection) and name.',
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
    leader_alias: { type: 'string' },
    follower_cluster: { type: 'string' },
    pattern: { type: 'string' },
    exclude_patterns: { type: 'array', items: { type: 'string' } },
    follower_index_pattern: { type: 'string' },
    settings: freeObject,
    accept_partial_source: { type: 'boolean' },
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
    follower_cluster: rule.followerCluster,
    pattern: rule.patterns.join(','),
    exclude_patterns: [...rule.excludePatterns],
    follower_index_pattern: rule.followerIndexPattern,
    ...(rule.followerSettings ? { settings: rule.followerSettings } : {}),
    ...(rule.acceptPartialSource ? { accept_partial_source: true } : {}),
    ...(rule.useRoles ? { use_roles: { leader_cluster_role: rule.useRoles.leaderClusterRole, follower_cluster_role: rule.useRoles.followerClusterRole } } : {}),
    created_by: rule.createdBy,
    updated_by: rule.updatedBy,
    created_at: new Date(rule.createdAt).toISOString(),
    updated_at: new Date(rule.updatedAt).toISOString(),
  };
}

function leaderOf(body: RuleRef): string {
  const { leader_alias: a, connection: c } = body;
  if (a !== undefined && c !== undefined && a !== c)
    throw new KccrError('BAD_REQUEST', `leader_alias ${JSON.stringify(a)} and connection ${JSON.stringify(c)} disagree; give one of them`);
  const v = a ?? c;
  if (v === undefined) throw new KccrError('BAD_REQUEST', 'the body lacks the leader cluster: give leader_alias (or connection)');
  return v;
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
        const leaderCluster = leaderOf(body);
        const follower = followerClusterOf(request, body.follower_cluster);
        const patterns = parsePatterns(body.pattern);
        const excludePatterns = checkExcludePatterns(body.exclude_patterns ?? []);
        const followerIndexPattern = checkFollowerIndexPattern(body.follower_index_pattern ?? LEADER_INDEX_PLACEHOLDER);
        const settings = body.settings ? normalizeSettings(body.settings) : undefined;
        registered(leaderCluster, 'leader');
        registered(follower, 'follower');
        const by = principalOf(request).name;
        const key = autofollowKey(follower, leaderCluster, body.name);
        const previous = deps.autofollowRules.get(key);
        const now = Date.now();
        const rule: AutofollowRule = {
          followerCluster: follower,
          leaderCluster,
          name: body.name,
          patterns,
          excludePatterns,
          followerIndexPattern,
          ...(settings && Object.keys(settings).length ? { followerSettings: settings } : {}),
          ...(body.accept_partial_source ? { acceptPartialSource: true } : {}),
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
        const leaderCluster = leaderOf(request.body);
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
          leader_alias: { ...clusterName, description: 'only the rules of this leader cluster' },
        }),
        response: { 200: { type: 'object', required: ['rules'], properties: { rules: { type: 'array', items: ruleView } } }, ...errorResponses },
      },
      handler: async (request) => {
        const { follower_cluster: fc, leader_alias: lc } = request.query;
        const rules = deps.autofollowRules.list().filter((r) => (fc === undefined || r.followerCluster === fc) && (lc === undefined || r.leaderCluster === lc));
        return { rules: rules.map(autofollowView) };
      },
    });
  };
}
