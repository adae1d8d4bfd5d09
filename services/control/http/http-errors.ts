/**
 * Every failure the API answers, in one shape: {"error": {"code", "message", "retriable"}} with the catalogue's
 * status. Malformed input (bad JSON, wrong types, unknown fields, a bad name) is the caller's: 4xx with what was
 * wrong, never a 5xx.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOGUE, KccrError } from '../../shared/errors.js';

interface AjvError {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
  readonly data?: unknown;
  readonly parentSchema?: { readonly description?: string };
}

function where(context: string | undefined, path: string): string {
  const part = context === 'querystring' ? 'query parameter' : context === 'params' ? 'path parameter' : 'body';
  const field = path.replace(/^\//, '').replace(/\//g, '.');
  if (!field) return part === 'body' ? 'the body' : part;
  return part === 'body' ? `body field ${field}` : `${part} ${field}`;
}

function shown(v: unknown): string {
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** One sentence per schema violation, naming the field and what it expected. */
export function describeValidation(errors: readonly AjvError[], context: string | undefined): string {
  const lines = errors.map((e) => {
    const at = where(context, e.instancePath);
    switch (e.keyword) {
      case 'additionalProperties':
        return context === 'querystring' && e.instancePath === ''
          ? `unknown query parameter ${JSON.stringify(e.params.additionalProperty)}`
          : `${at} has an unknown field ${JSON.stringify(e.params.additionalProperty)}`;
      case 'required':
        return `${at} lacks the required field ${JSON.stringify(e.params.missingProperty)}`;
      case 'type':
        return `${at} must be ${String(e.params.type).replace(',', ' or ')}, received ${shown(e.data)}`;
      case 'enum':
        return `${at} must be one of ${(e.params.allowedValues as unknown[]).map((v) => String(v)).join(', ')}, received ${shown(e.data)}`;
      case 'pattern':
        return `${at} ${shown(e.data)} is not valid: expected ${e.parentSchema?.description ?? `to match ${String(e.params.pattern)}`}`;
      default:
        return `${at} ${e.message ?? 'is not valid'}${e.data !== undefined && typeof e.data !== 'object' ? `, received ${shown(e.data)}` : ''}`;
    }
  });
  return [...new Set(lines)].join('; ');
}

export function errorPayload(e: KccrError) {
  return { error: { code: e.code, message: e.message, retriable: e.retriable, ...(Object.keys(e.details).length ? { details: e.details } : {}) } };
}

function sendError(reply: FastifyReply, e: KccrError): FastifyReply {
  return reply.code(ERROR_CATALOGUE[e.code].status).send(errorPayload(e));
}

/** Fastify's own client errors (body parsing, size, media type) as catalogue errors. */
function fromFastify(err: FastifyError): KccrError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new KccrError('BAD_REQUEST', 'the body is not valid JSON; send a JSON object with Content-Type: application/json');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new KccrError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Content-Type ${err.message.replace(/^Unsupported Media Type:?\s*/i, '') || 'of this request'} is not supported; send JSON with Content-Type: application/json`,
      );
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new KccrError('BAD_REQUEST', 'the body is larger than this service accepts (KCCR_CONTROL_BODY_LIMIT)');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new KccrError('BAD_REQUEST', 'the Content-Length header does not match the body');
    default:
      break;
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new KccrError('BAD_REQUEST', err.message);
  return undefined;
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof KccrError) {
      if (err.status >= 500) request.log.error({ code: err.code, err: err.message }, 'request failed');
      return sendError(reply, err);
    }
    if (err.validation) {
      return sendError(reply, new KccrError('BAD_REQUEST', describeValidation(err.validation as unknown as AjvError[], err.validationContext)));
    }
    const client = fromFastify(err);
    if (client) return sendError(reply, client);
    request.log.error({ err }, 'unexpected failure');
    return sendError(reply, new KccrError('INTERNAL', 'the control service failed unexpectedly; see its log'));
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? request.url;
    return sendError(
      reply,
      new KccrError(
        'NOT_FOUND',
        `no route ${request.method} ${path}; see GET /openapi.json for the routes (lifecycle routes live under /_plugins/_replication/ and /_opendistro/_replication/)`,
      ),
    );
  });
}
