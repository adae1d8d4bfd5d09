/**
 * Authentication and authorization of every request, before its body is read: HTTP basic or a bearer token from
 * the users file; role `read` may use GET (and HEAD) only. Routes with `config: { public: true }` need neither.
 * No or wrong credentials: 401 with WWW-Authenticate; a read-only principal on a change: 403 FORBIDDEN.
 * A client address with too many refused credentials in a minute is answered 429 until the minute is over,
 * before any password is checked (guessing is slowed, and scrypt cannot be used to burn the service's CPU).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KccrError } from '../shared/errors.js';
import { errorPayload } from './http-errors.js';
import { Authenticator } from './principals.js';
import type { Principal } from './principals.js';

export type AuthSettings = { readonly mode: 'users'; readonly principals: readonly Principal[] } | { readonly mode: 'none' };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Served without authentication. */
    public?: boolean;
  }
}

export const ANONYMOUS: Principal = { name: 'anonymous', role: 'admin' };

const CHALLENGE = 'Basic realm="kccr", charset="UTF-8", Bearer realm="kccr"';

/** Refused credentials per client address in a sliding minute; at `limit`, the address waits. */
export class FailedLogins {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit = 20,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds the address must wait, or 0. */
  waitMs(address: string): number {
    const recent = this.recent(address);
    return recent.length >= this.limit ? recent[0]! + this.windowMs - this.now() : 0;
  }

  failed(address: string): void {
    const recent = this.recent(address);
    recent.push(this.now());
    // Bounded memory: many addresses at once are forgotten together rather than grown without end.
    if (!this.failures.has(address) && this.failures.size >= 10_000) this.failures.clear();
    this.failures.set(address, recent.slice(-this.limit));
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }

  private recent(address: string): number[] {
    const since = this.now() - this.windowMs;
    return (this.failures.get(address) ?? []).filter((t) => t > since);
  }
}

function refuse(reply: FastifyReply, status: 401 | 403 | 429, e: KccrError): FastifyReply {
  if (status === 401) reply.header('www-authenticate', CHALLENGE);
  return reply.code(status).send(errorPayload(e));
}

export function installAuth(app: FastifyInstance, settings: AuthSettings): void {
  app.decorateRequest('principal', null);
  if (settings.mode === 'none') {
    app.log.warn('KCCR_CONTROL_AUTH=none: authentication is off and every caller may change replications; use this for local demos only');
  }
  const authenticator = settings.mode === 'users' ? new Authenticator(settings.principals) : undefined;
  const failedLogins = new FailedLogins();
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.routeOptions.config?.public) return;
    if (!authenticator) {
      request.principal = ANONYMOUS;
      return;
    }
    const wait = failedLogins.waitMs(request.ip);
    if (wait > 0) {
      reply.header('retry-after', String(Math.ceil(wait / 1000)));
      return refuse(reply, 429, new KccrError('TOO_MANY_FAILED_LOGINS', `too many refused credentials from ${request.ip} in the last minute; try again in ${Math.ceil(wait / 1000)} s`));
    }
    const outcome = authenticator.authenticate(request.headers.authorization);
    if (outcome.ok) failedLogins.succeeded(request.ip);
    else if (outcome.reason === 'refused') failedLogins.failed(request.ip);
    if (!outcome.ok) {
      const message =
        outcome.reason === 'missing'
          ? 'authentication required: send HTTP basic credentials (-u user:password) or Authorization: Bearer <token>'
          : outcome.reason === 'malformed'
            ? 'the Authorization header is not understood: use Basic <base64 of user:password> or Bearer <token>'
            : 'the credentials were refused: unknown user, wrong password or unknown token';
      return refuse(reply, 401, new KccrError('UNAUTHENTICATED', message));
    }
    request.principal = outcome.principal;
    if (outcome.principal.role !== 'admin' && request.method !== 'GET' && request.method !== 'HEAD') {
      return refuse(reply, 403, new KccrError('FORBIDDEN', `${outcome.principal.name} has the role ${outcome.principal.role}, which may only read (GET); ${request.method} needs the role admin`));
    }
  });
}

/** The principal a handler acts for (set by the hook above). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new KccrError('UNAUTHENTICATED', 'authentication required');
  return request.principal;
}
