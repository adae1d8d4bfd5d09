/**
 * Authentication and authorization of every request, before its body is read: HTTP basic or a bearer token from
 * the users file; role `read` may use GET (and HEAD) only. Routes with `config: { public: true }` need neither.
 * No or wrong credentials: 401 with WWW-Authenticate; a read-only principal on a change: 403 FORBIDDEN.
 * A client address or a user name with too many refused Basic credentials in a minute is answered 429 until the
 * minute is over, before any password is checked (guessing is slowed); scrypt runs off the event loop, two at a
 * time at most, so refused passwords cannot burn the service's CPU or stall other requests.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KccrError } from '../../shared/errors.js';
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
/**
 * To a page's script (fetch: Sec-Fetch-Mode cors or same-origin), Bearer only: a Basic challenge would make the
 * browser open its own login dialog (which a headless browser waits on forever) and then cache the password for the
 * origin, instead of letting the page (the status page) ask for credentials itself.
 */
const SCRIPT_CHALLENGE = 'Bearer realm="kccr"';

/**
 * Refused credentials per key (a client address, a user name) in a sliding minute; at `limit`, the key waits.
 * Memory is bounded by forgetting the least recently refused keys, never all at once (a flood of addresses cannot
 * wipe the counts of the one that guesses).
 */
export class FailedLogins {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit = 20,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 10_000,
  ) {}

  /** Milliseconds the key must wait, or 0. */
  waitMs(key: string): number {
    const recent = this.recent(key);
    return recent.length >= this.limit ? recent[0]! + this.windowMs - this.now() : 0;
  }

  failed(key: string): void {
    const recent = this.recent(key);
    recent.push(this.now());
    this.failures.delete(key);
    this.failures.set(key, recent.slice(-this.limit));
    if (this.failures.size > this.maxKeys) this.failures.delete(this.failures.keys().next().value!);
  }

  succeeded(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string): number[] {
    const since = this.now() - this.windowMs;
    return (this.failures.get(key) ?? []).filter((t) => t > since);
  }
}

/** The user name of Basic credentials (undefined for other schemes or a malformed header). */
function basicUser(header: string | undefined): string | undefined {
  const m = /^basic\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(0, colon);
}

function refuse(reply: FastifyReply, status: 401 | 403 | 429, e: KccrError): FastifyReply {
  const mode = reply.request.headers['sec-fetch-mode'];
  if (status === 401) reply.header('www-authenticate', mode === 'cors' || mode === 'same-origin' ? SCRIPT_CHALLENGE : CHALLENGE);
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
    // Guessing is limited per client address and per user name, before any password is checked. Bearer tokens
    // (256 random bits: not guessable) are not held up by the address's count, so that one guessing client behind
    // the same address does not lock the others' tokens out.
    const user = basicUser(request.headers.authorization);
    const keys = user !== undefined ? [`address ${request.ip}`, `user ${user}`] : [];
    const wait = Math.max(0, ...keys.map((k) => failedLogins.waitMs(k)));
    if (wait > 0) {
      reply.header('retry-after', String(Math.ceil(wait / 1000)));
      const whom = failedLogins.waitMs(`user ${user}`) > 0 ? `for the user ${user}` : `from ${request.ip}`;
      return refuse(
        reply,
        429,
        new KccrError('TOO_MANY_FAILED_LOGINS', `too many refused credentials ${whom} in the last minute; try again in ${Math.ceil(wait / 1000)} s`),
      );
    }
    const outcome = await authenticator.authenticate(request.headers.authorization);
    // A success clears only its own user's count: a valid token does not reset a password being guessed.
    if (outcome.ok && user !== undefined) failedLogins.succeeded(`user ${user}`);
    else if (!outcome.ok && outcome.reason === 'refused') for (const k of keys.length ? keys : [`address ${request.ip}`]) failedLogins.failed(k);
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
      return refuse(
        reply,
        403,
        new KccrError(
          'FORBIDDEN',
          `${outcome.principal.name} has the role ${outcome.principal.role}, which may only read (GET); ${request.method} needs the role admin`,
        ),
      );
    }
  });
}

/** The principal a handler acts for (set by the hook above). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new KccrError('UNAUTHENTICATED', 'authentication required');
  return request.principal;
}
