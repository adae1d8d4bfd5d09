/** /_kccr/clusters: the Elasticsearch clusters replications may name, with references to their credentials. */
import type { FastifyInstance } from 'fastify';
import { KccrError } from '../../shared/errors.js';
import { principalOf } from '../http/auth.js';
import { checkClusterRequest, clusterView, toEntry } from './clusters.js';
import type { ClusterRequest } from './clusters.js';
import type { ControlDeps } from '../deps.js';
import { acknowledged, clusterName, envName, errorResponses, filePath, query } from '../http/schemas.js';

const clusterViewSchema = {
  type: 'object',
  required: ['name', 'url', 'updated_by', 'created_at', 'updated_at'],
  properties: {
    name: { type: 'string' },
    url: { type: 'string' },
    ca_file: { type: 'string' },
    username: { type: 'string' },
    password_env: { type: 'string' },
    password_file: { type: 'string' },
    api_key_env: { type: 'string' },
    api_key_file: { type: 'string' },
    updated_by: { type: 'string' },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
  },
} as const;

const clusterBody = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  description:
    'Credentials are only accepted as references: the name of an environment variable or the path of a file on the control service host. Give username with password_env or password_file, or api_key_env or api_key_file, or none.',
  properties: {
    url: {
      type: 'string',
      minLength: 1,
      maxLength: 2048,
      pattern: String.raw`^https?://[^\s]+$`,
      description: 'an http:// or https:// URL of the cluster, or several of its nodes, comma-separated',
    },
    ca_file: filePath,
    username: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      pattern: String.raw`^[^\u0000-\u001f:]+$`,
      description: 'a user name without : or control characters',
    },
    password_env: envName,
    password_file: filePath,
    api_key_env: envName,
    api_key_file: filePath,
  },
} as const;

const nameParams = { type: 'object', required: ['name'], properties: { name: clusterName } } as const;

export function clusterRoutes(deps: ControlDeps) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/_kccr/clusters', {
      schema: {
        summary: 'List the registered clusters',
        tags: ['clusters'],
        querystring: query(),
        response: { 200: { type: 'object', required: ['clusters'], properties: { clusters: { type: 'array', items: clusterViewSchema } } }, ...errorResponses },
      },
      handler: async () => ({ clusters: deps.clusters.list().map(clusterView) }),
    });

    app.get<{ Params: { name: string } }>('/_kccr/clusters/:name', {
      schema: {
        summary: 'Show one registered cluster (references, never secret values)',
        tags: ['clusters'],
        params: nameParams,
        querystring: query(),
        response: { 200: clusterViewSchema, ...errorResponses },
      },
      handler: async (request) => {
        const entry = deps.clusters.get(request.params.name);
        if (!entry) throw new KccrError('NOT_FOUND', `cluster ${request.params.name} is not registered`, { cluster: request.params.name });
        return clusterView(entry);
      },
    });

    app.put<{ Params: { name: string }; Body: ClusterRequest }>('/_kccr/clusters/:name', {
      schema: {
        summary: 'Register or replace a cluster',
        tags: ['clusters'],
        params: nameParams,
        querystring: query(),
        body: clusterBody,
        response: {
          200: {
            type: 'object',
            required: ['acknowledged', 'created', 'cluster'],
            properties: { acknowledged: { type: 'boolean' }, created: { type: 'boolean' }, cluster: clusterViewSchema },
          },
          ...errorResponses,
        },
      },
      handler: async (request) => {
        const { name } = request.params;
        const problems = checkClusterRequest(request.body, { env: deps.env, secretsDir: deps.secretsDir });
        if (problems.length) throw new KccrError('BAD_REQUEST', `cluster ${name} is not registered: ${problems.join('; ')}`, { problems });
        const previous = deps.clusters.get(name);
        const entry = toEntry(name, request.body, principalOf(request).name, previous, Date.now());
        await deps.clusters.put(entry);
        request.log.info({ cluster: name, url: entry.url, by: entry.updatedBy }, previous ? 'cluster replaced' : 'cluster registered');
        return { acknowledged: true, created: previous === undefined, cluster: clusterView(entry) };
      },
    });

    app.delete<{ Params: { name: string } }>('/_kccr/clusters/:name', {
      schema: {
        summary: 'Remove a cluster (refused while a replication that is not stopped uses it)',
        tags: ['clusters'],
        params: nameParams,
        querystring: query(),
        response: { 200: acknowledged, ...errorResponses },
      },
      handler: async (request) => {
        await deps.replications.removeCluster(request.params.name);
        request.log.info({ cluster: request.params.name, by: principalOf(request).name }, 'cluster removed');
        return { acknowledged: true };
      },
    });
  };
}
