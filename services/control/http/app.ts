/**
 * The control service's HTTP API, built apart from `listen` so that tests drive it through `inject()`.
 * Order matters: the OpenAPI generator and the shared schemas come before the routes it describes; authentication
 * runs on request, before any body is read.
 */
import swagger from '@fastify/swagger';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KccrError } from '../../shared/errors.js';
import { installAuth } from './auth.js';
import { installCsrfGuard } from './csrf.js';
import type { ControlDeps } from '../deps.js';
import { installErrorHandling } from './http-errors.js';
import { autofollowRoutes } from '../autofollow/routes.js';
import { clusterRoutes } from '../clusters/routes.js';
import { kccrRoutes } from '../status/routes.js';
import { uiRoutes } from '../status/ui.js';
import { positionRoutes } from '../positions/routes.js';
import { replicationRoutes } from '../replication/routes.js';
import { errorBody } from './schemas.js';

export const REPLICATION_PREFIXES = ['/_plugins/_replication', '/_opendistro/_replication'] as const;

export interface AppOptions {
  /** PEM certificate and key: the app serves HTTPS. */
  readonly https?: { readonly cert: string; readonly key: string };
}

export function buildApp(deps: ControlDeps, opts: AppOptions = {}): FastifyInstance {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    ...(opts.https ? { https: { cert: opts.https.cert, key: opts.https.key } } : {}),
    bodyLimit: deps.bodyLimit ?? 1024 * 1024,
    // Index names may be 255 bytes, percent-encoded three times that.
    routerOptions: { maxParamLength: 1024 },
    ajv: {
      // Types as sent (a string is not a number), unknown fields refused rather than dropped, every problem named.
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true, verbose: true, useDefaults: false },
    },
  }) as unknown as FastifyInstance;

  installErrorHandling(app);
  // Before authentication: a forged request costs no password check.
  installCsrfGuard(app);
  installAuth(app, deps.auth);
  installBodyParsing(app, deps.bodyLimit ?? 1024 * 1024);
  installPretty(app);

  app.addSchema(errorBody);
  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'kccr control API',
        version: '1',
        description:
          'Cross-cluster replication for Elasticsearch through Kafka. Lifecycle routes are served under both /_plugins/_replication/ (OpenSearch) and /_opendistro/_replication/ (Open Distro). Every route but /openapi.json and /_kccr/health needs HTTP basic or bearer authentication; role read may only GET.',
      },
      components: { securitySchemes: { basic: { type: 'http', scheme: 'basic' }, bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ basic: [] }, { bearer: [] }],
    },
  });

  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  void app.register(clusterRoutes(deps));
  void app.register(kccrRoutes(deps));
  void app.register(uiRoutes());
  for (const prefix of REPLICATION_PREFIXES) void app.register(replicationRoutes(deps), { prefix });
  for (const prefix of REPLICATION_PREFIXES) void app.register(autofollowRoutes(deps), { prefix });
  for (const prefix of REPLICATION_PREFIXES) void app.register(positionRoutes(deps), { prefix });
  return app;
}

/**
 * JSON bodies only (`Content-Type: application/json`; any other is refused with 415: a form of another site cannot
 * send it). An empty body counts as none (`POST .../_pause` with nothing sent). __proto__ and constructor keys are
 * refused.
 */
function installBodyParsing(app: FastifyInstance, bodyLimit: number): void {
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  const parse = (request: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    const text = body.toString();
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    json(request, text, (err: Error | null, value?: unknown) => {
      if (!err) return done(null, value);
      try {
        JSON.parse(text);
      } catch (e) {
        return done(
          new KccrError('BAD_REQUEST', `the body is not valid JSON (${(e as Error).message}); send a JSON object with Content-Type: application/json`),
        );
      }
      done(new KccrError('BAD_REQUEST', 'the body holds a __proto__ or constructor.prototype key, which is refused'));
    });
  };
  app.addContentTypeParser(['application/json'], { parseAs: 'string', bodyLimit }, parse);
  // A route with a body schema gets {} for no body, so that a missing field is named rather than the whole body.
  app.addHook('preValidation', async (request: FastifyRequest) => {
    if (request.body === undefined || request.body === null) request.body = {};
  });
}

/** `?pretty`, as the announcement's calls use it: indented JSON. */
function installPretty(app: FastifyInstance): void {
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const q = request.query as Record<string, unknown> | undefined;
    if (!q || !('pretty' in q) || q.pretty === 'false' || typeof payload !== 'string') return payload;
    if (!String(reply.getHeader('content-type') ?? '').includes('json')) return payload;
    try {
      return `${JSON.stringify(JSON.parse(payload), null, 2)}\n`;
    } catch {
      return payload;
    }
  });
}
