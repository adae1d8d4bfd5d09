/**
 * Offsets, replay and rebuild, beside the lifecycle routes and under the same two prefixes:
 * POST/GET .../{follower_index}/_offsets moves (or shows) the follower's position in its topic;
 * POST/GET .../{follower_index}/_rebuild builds a fresh follower index from the topic and moves an alias to it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { principalOf } from '../http/auth.js';
import type { ControlDeps } from '../deps.js';
import { acknowledged, clusterName, errorResponses, indexName, query } from '../http/schemas.js';
import { targetIndex } from '../../shared/replication.js';

interface IndexRoute {
  Params: { follower_index: string };
  Querystring: { follower_cluster?: string; pretty?: string };
}

const indexParams = { type: 'object', required: ['follower_index'], properties: { follower_index: indexName } } as const;
const indexQuery = query({
  follower_cluster: {
    ...clusterName,
    description: 'the follower cluster; by default the one the control service is configured with (KCCR_CONTROL_FOLLOWER_CLUSTER)',
  },
});
const nullableString = { type: ['string', 'null'] } as const;
const nullableNumber = { type: ['number', 'null'] } as const;
const offsetItem = { type: 'object', properties: { partition: { type: 'integer' }, offset: { type: 'string' } } } as const;

const offsetsBody = {
  type: 'object',
  additionalProperties: false,
  required: ['to'],
  properties: {
    // A string or a number: checked by parsePositionTarget, whose messages say what is expected.
    to: {
      description:
        '"earliest" (replay the whole topic), "latest" (skip what waits), an ISO-8601 time with a zone or a date (replay from the first record at or after it), or epoch milliseconds',
    },
  },
} as const;

const positionSchema = {
  type: 'object',
  properties: {
    request_id: { type: 'string' },
    to: { type: 'string' },
    requested_at: { type: 'string' },
    requested_by: { type: 'string' },
    applied_at: nullableString,
    offsets: { type: 'array', items: offsetItem },
  },
} as const;

const offsetsView = {
  type: 'object',
  properties: {
    follower_cluster: { type: 'string' },
    follower_index: { type: 'string' },
    topic: { type: 'string' },
    consumer_group: { type: 'string' },
    position: positionSchema,
    partitions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          partition: { type: 'integer' },
          committed: nullableString,
          low: { type: 'string' },
          high: { type: 'string' },
          behind: { type: ['integer', 'null'] },
        },
      },
    },
  },
} as const;

const rebuildBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    alias: { ...indexName, description: 'the alias to move from the old index to the new one once it has caught up; by default the old index’s only alias' },
    new_index: { ...indexName, description: 'the new follower index; by default <follower_index>-rebuilt-<yyyymmddhhmmss> (UTC)' },
  },
} as const;

const rebuildAnswer = {
  type: 'object',
  required: ['acknowledged'],
  properties: { acknowledged: { type: 'boolean' }, new_index: { type: 'string' }, alias: { type: 'string' }, old_index: { type: 'string' } },
} as const;

const rebuildView = {
  type: 'object',
  properties: {
    follower_cluster: { type: 'string' },
    follower_index: { type: 'string' },
    state: { type: 'string' },
    from: { type: 'string' },
    alias: { type: 'string' },
    started_at: { type: 'string' },
    offsets_done: { type: 'integer' },
    offsets_total: { type: ['integer', 'null'] },
    percent: nullableNumber,
    caught_up_at: nullableString,
    alias_moved_at: nullableString,
    leader_checkpoints: { type: 'array', items: { type: 'object', properties: { shard: { type: 'integer' }, global_checkpoint: { type: 'integer' } } } },
    waiting_for: { type: 'string' },
    problem: { type: 'string' },
  },
} as const;

export function positionRoutes(deps: ControlDeps) {
  const followerClusterOf = (request: FastifyRequest<IndexRoute>): string => request.query.follower_cluster ?? deps.followerCluster;

  return async function routes(app: FastifyInstance): Promise<void> {
    app.post<IndexRoute & { Body: { to: string | number } }>('/:follower_index/_offsets', {
      schema: {
        summary: "Move the follower's position in its topic: replay from the start or from a time, or skip to the end",
        tags: ['replication'],
        params: indexParams,
        querystring: indexQuery,
        body: offsetsBody,
        response: { 200: acknowledged, ...errorResponses },
      },
      handler: async (request) => {
        const followerCluster = followerClusterOf(request);
        const by = principalOf(request).name;
        const spec = await deps.offsets.request(followerCluster, request.params.follower_index, request.body.to, by);
        request.log.info(
          { followerCluster, followerIndex: request.params.follower_index, to: spec.position?.to, requestId: spec.position?.requestId, by },
          'position request recorded',
        );
        return { acknowledged: true };
      },
    });

    app.get<IndexRoute>('/:follower_index/_offsets', {
      schema: {
        summary: "The follower's last position request and, per partition, its committed offset in the topic",
        tags: ['replication'],
        params: indexParams,
        querystring: indexQuery,
        response: { 200: offsetsView, ...errorResponses },
      },
      handler: async (request) => deps.offsets.view(followerClusterOf(request), request.params.follower_index),
    });

    app.post<IndexRoute & { Body: { alias?: string; new_index?: string } }>('/:follower_index/_rebuild', {
      schema: {
        summary: 'Rebuild the follower index from the topic into a new index; an alias moves to it once it has caught up (the old index is kept)',
        tags: ['replication'],
        params: indexParams,
        querystring: indexQuery,
        body: rebuildBody,
        response: { 200: rebuildAnswer, ...errorResponses },
      },
      handler: async (request) => {
        const followerCluster = followerClusterOf(request);
        const by = principalOf(request).name;
        const spec = await deps.rebuilds.start({
          followerCluster,
          followerIndex: request.params.follower_index,
          ...(request.body.alias !== undefined ? { alias: request.body.alias } : {}),
          ...(request.body.new_index !== undefined ? { newIndex: request.body.new_index } : {}),
          requestedBy: by,
        });
        return { acknowledged: true, new_index: targetIndex(spec), alias: spec.rebuild!.alias, old_index: spec.rebuild!.from };
      },
    });

    app.get<IndexRoute>('/:follower_index/_rebuild', {
      schema: {
        summary: 'Progress of a rebuild (on the new follower index): offsets applied, caught up, alias moved',
        tags: ['replication'],
        params: indexParams,
        querystring: indexQuery,
        response: { 200: rebuildView, ...errorResponses },
      },
      handler: async (request) => deps.rebuilds.view(followerClusterOf(request), request.params.follower_index),
    });
  };
}
