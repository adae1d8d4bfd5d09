/**
 * Cross-site request forgery. A browser that once sent credentials to the control service (it caches Basic ones)
 * attaches them to requests other sites make it send; such requests carry what the browser says of their origin:
 * `Sec-Fetch-Site` (cross-site, same-site) and `Origin`. A change asked that way is refused before authentication,
 * whatever its credentials; the CLI, curl and other programs send neither header. With bodies only ever read as
 * `application/json` (which a cross-site form cannot send), this closes the forms and no-cors fetches of other sites.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KccrError } from '../../shared/errors.js';
import { errorPayload } from './http-errors.js';

type Headers = Readonly<Record<string, string | string[] | undefined>>;

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Why this request is a change asked by another site's page, or undefined when it is not. */
export function crossSiteReason(method: string, headers: Headers): string | undefined {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return undefined;
  const site = header(headers, 'sec-fetch-site');
  if (site === 'cross-site' || site === 'same-site') return `Sec-Fetch-Site: ${site}`;
  const origin = header(headers, 'origin');
  if (origin === undefined) return undefined;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  return host !== undefined && host === header(headers, 'host') ? undefined : `Origin: ${origin}`;
}

export function installCsrfGuard(app: FastifyInstance): void {
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const reason = crossSiteReason(request.method, request.headers);
    if (!reason) return;
    const e = new KccrError(
      'FORBIDDEN',
      `a change asked by another site's page is refused (${reason}); use the CLI or an HTTP client, not a browser page of another origin`,
    );
    return reply.code(403).send(errorPayload(e));
  });
}
