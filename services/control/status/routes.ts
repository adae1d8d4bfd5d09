/** kccr's own routes beside the plugin's: the list of every replication, and a health check. */
import type { FastifyInstance } from 'fastify';
import type { ControlDeps } from '../deps.js';
import { clusterName, errorResponses, freeObject, query } from '../http/schemas.js';
import { CONTENT_TYPE, render } from '../../shared/metrics/exposition.js';
import { ProcessMetrics } from '../../shared/metrics/process.js';
import { replicationMetrics } from './metrics.js';
import { historyKey, throughput } from './history.js';

const replicationItem = {
  type: 'object',
  properties: {
    follower_cluster: { type: 'string' },
    follower_index: { type: 'string' },
    leader_cluster: { type: 'string' },
    leader_index: { type: 'string' },
    state: { type: 'string', enum: ['active', 'paused', 'stopped'] },
    status: { type: 'string' },
    reason: { type: 'string' },
    bootstrap: { type: 'string' },
    follower_settings: freeObject,
    merged_into: { type: 'string', description: 'one source of a merged index: the index it writes (follower_index is the source name)' },
    lag_operations: { type: ['integer', 'null'] },
    lag_seconds: { type: ['number', 'null'] },
    requested_by: { type: 'string' },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
  },
} as const;

export function kccrRoutes(deps: ControlDeps) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get<{ Querystring: { state?: 'active' | 'paused' | 'stopped'; follower_cluster?: string; leader_cluster?: string } }>('/_kccr/replications', {
      schema: {
        summary: 'Every replication kccr knows, stopped ones included, with its current status',
        tags: ['replication'],
        querystring: query({ state: { type: 'string', enum: ['active', 'paused', 'stopped'] }, follower_cluster: clusterName, leader_cluster: clusterName }),
        response: {
          200: {
            type: 'object',
            required: ['replications'],
            properties: {
              replications: { type: 'array', items: replicationItem },
              refused_rows: {
                type: 'array',
                description:
                  'Rows of kccr._replications that do not pass the rules of this API (written to Kafka by something else than the control service): never acted on; write them again through the API',
                items: {
                  type: 'object',
                  required: ['key', 'reason', 'offset'],
                  properties: { key: { type: 'string' }, reason: { type: 'string' }, offset: { type: 'string' } },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
      handler: async (request) => {
        const { state, follower_cluster, leader_cluster } = request.query;
        const now = Date.now();
        const replications = deps.replications
          .list()
          .filter(
            (s) =>
              (state === undefined || s.state === state) &&
              (follower_cluster === undefined || s.followerCluster === follower_cluster) &&
              (leader_cluster === undefined || s.leaderCluster === leader_cluster),
          )
          .map((s) => {
            const v = deps.board.view(s, now);
            return {
              follower_cluster: s.followerCluster,
              follower_index: s.followerIndex,
              leader_cluster: s.leaderCluster,
              leader_index: s.leaderIndex,
              state: s.state,
              status: v.status,
              ...(v.reason !== undefined ? { reason: v.reason } : {}),
              bootstrap: s.bootstrap,
              ...(s.followerSettings ? { follower_settings: s.followerSettings } : {}),
              ...(s.merge ? { merged_into: s.merge.into } : {}),
              lag_operations: v.lag_operations,
              lag_seconds: v.lag_seconds,
              requested_by: s.requestedBy,
              created_at: new Date(s.createdAt).toISOString(),
              updated_at: new Date(s.updatedAt).toISOString(),
            };
          });
        const refused = deps.replications.store.refused().map((r) => ({ key: r.key, reason: r.reason, offset: r.offset }));
        return { replications, ...(refused.length ? { refused_rows: refused } : {}) };
      },
    });

    // Prometheus scrapes this with a read-role credential (a bearer token: authorization.credentials in its config).
    let processMetrics: ProcessMetrics | undefined;
    app.get('/metrics', {
      schema: {
        summary: 'Prometheus metrics: every replication and shard as _status reports them, and the process (text format 0.0.4)',
        description: 'The metric names, their labels and meaning: docs/operations/monitoring.md.',
        tags: ['service'],
        querystring: query(),
        produces: ['text/plain'],
        response: { 200: { type: 'string' }, ...errorResponses },
      },
      handler: async (_request, reply) => {
        const now = Date.now();
        const rows = deps.board.views(deps.replications.list(), now);
        processMetrics ??= new ProcessMetrics('control');
        const text = `${render(replicationMetrics(rows, now))}${await processMetrics.text()}`;
        return reply.type(CONTENT_TYPE).send(text);
      },
    });

    app.get('/_kccr/history', {
      schema: {
        summary: "The last hour of every replication (the status page's charts): sampled status, applied operations, lag, throughput",
        tags: ['replication'],
        querystring: query(),
        response: {
          200: {
            type: 'object',
            required: ['interval_ms', 'replications'],
            properties: {
              interval_ms: { type: 'integer' },
              replications: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    follower_cluster: { type: 'string' },
                    follower_index: { type: 'string' },
                    points: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: {
                          at: { type: 'string' },
                          status: { type: 'string' },
                          applied: { type: 'integer' },
                          per_second: { type: ['number', 'null'] },
                          lag_operations: { type: ['integer', 'null'] },
                          lag_seconds: { type: ['number', 'null'] },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
      handler: async () => ({
        interval_ms: deps.history.intervalMs,
        replications: deps.replications.list().map((spec) => {
          const points = deps.history.points(historyKey(spec));
          const rates = throughput(points);
          return {
            follower_cluster: spec.followerCluster,
            follower_index: spec.followerIndex,
            points: points.map((p, i) => ({
              at: new Date(p.at).toISOString(),
              status: p.status,
              applied: p.applied,
              per_second: i === 0 ? null : rates[i - 1]!.perSecond,
              lag_operations: p.lagOperations,
              lag_seconds: p.lagSeconds,
            })),
          };
        }),
      }),
    });

    app.get('/_kccr/health', {
      config: { public: true },
      schema: {
        summary: 'Liveness: answers once the control tables are loaded (no authentication)',
        tags: ['service'],
        querystring: query(),
        response: { 200: { type: 'object', properties: { status: { type: 'string' } } }, ...errorResponses },
      },
      handler: async () => ({ status: 'ok' }),
    });
  };
}
