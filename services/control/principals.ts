/**
 * Who may call the control API. The users file holds only SHA-256 digests of passwords and tokens:
 *   [{ "name": "ops", "role": "admin", "password_sha256": "<hex>", "token_sha256": "<hex>" }]
 * Digests are compared with timingSafeEqual, and a request names no user that the answer would confirm.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type Role = 'admin' | 'read';

export interface Principal {
  readonly name: string;
  readonly role: Role;
  readonly passwordSha256?: Buffer;
  readonly tokenSha256?: Buffer;
}

export function sha256(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function sha256Hex(secret: string): string {
  return sha256(secret).toString('hex');
}

/** A random API token (256 bits, URL-safe). */
export function newToken(): string {
  return `kccr_${randomBytes(32).toString('base64url')}`;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Parses the users file; every problem is returned (with the entry it concerns), nothing is thrown. */
export function parsePrincipals(text: string): { principals: Principal[]; problems: string[] } {
  const problems: string[] = [];
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return { principals: [], problems: [`expected JSON, but it does not parse: ${(e as Error).message}`] };
  }
  if (!Array.isArray(data)) return { principals: [], problems: ['expected a JSON array of users, [{"name", "role", "password_sha256"?, "token_sha256"?}]'] };
  const principals: Principal[] = [];
  const names = new Set<string>();
  const tokens = new Set<string>();
  data.forEach((raw: unknown, i) => {
    const where = `entry ${i}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push(`${where}: expected an object`);
      return;
    }
    const e = raw as Record<string, unknown>;
    const unknown = Object.keys(e).filter((k) => !['name', 'role', 'password_sha256', 'token_sha256'].includes(k));
    if (unknown.length) problems.push(`${where}: unknown fields ${unknown.join(', ')} (only name, role, password_sha256, token_sha256; secrets are stored as digests only)`);
    const name = e.name;
    if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(name)) {
      problems.push(`${where}: expected "name" of letters, digits, . _ @ - (at most 128), received ${JSON.stringify(name)}`);
    } else if (names.has(name)) {
      problems.push(`${where}: user ${name} appears twice`);
    } else names.add(name);
    if (e.role !== 'admin' && e.role !== 'read') problems.push(`${where}: expected "role" admin or read, received ${JSON.stringify(e.role)}`);
    for (const field of ['password_sha256', 'token_sha256'] as const) {
      const v = e[field];
      if (v !== undefined && (typeof v !== 'string' || !HEX64.test(v.toLowerCase()))) problems.push(`${where}: expected "${field}" as 64 hex digits (kccr users hash-password), received something else`);
    }
    if (e.password_sha256 === undefined && e.token_sha256 === undefined) problems.push(`${where}: expected password_sha256 or token_sha256 (or both); this user could never sign in`);
    if (typeof e.token_sha256 === 'string') {
      if (tokens.has(e.token_sha256.toLowerCase())) problems.push(`${where}: the same token digest is given to two users`);
      tokens.add(e.token_sha256.toLowerCase());
    }
    if (typeof name === 'string' && (e.role === 'admin' || e.role === 'read')) {
      principals.push({
        name,
        role: e.role,
        ...(typeof e.password_sha256 === 'string' && HEX64.test(e.password_sha256.toLowerCase()) ? { passwordSha256: Buffer.from(e.password_sha256.toLowerCase(), 'hex') } : {}),
        ...(typeof e.token_sha256 === 'string' && HEX64.test(e.token_sha256.toLowerCase()) ? { tokenSha256: Buffer.from(e.token_sha256.toLowerCase(), 'hex') } : {}),
      });
    }
  });
  return { principals, problems };
}

const DUMMY = Buffer.alloc(32);

/** The outcome of reading an Authorization header. */
export type AuthOutcome = { readonly ok: true; readonly principal: Principal } | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'refused' };

export class Authenticator {
  private readonly byName: ReadonlyMap<string, Principal>;

  constructor(private readonly principals: readonly Principal[]) {
    this.byName = new Map(principals.map((p) => [p.name, p]));
  }

  authenticate(header: string | undefined): AuthOutcome {
    if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing' };
    const m = /^(\S+)\s+(\S+)\s*$/.exec(header);
    if (!m) return { ok: false, reason: 'malformed' };
    const scheme = m[1]!.toLowerCase();
    const value = m[2]!;
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return { ok: false, reason: 'malformed' };
      const name = decoded.slice(0, colon);
      const digest = sha256(decoded.slice(colon + 1));
      const p = this.byName.get(name);
      // Compare against something even for an unknown user, so that timing does not tell which names exist.
      const match = timingSafeEqual(digest, p?.passwordSha256 ?? DUMMY) && p?.passwordSha256 !== undefined;
      return match && p ? { ok: true, principal: p } : { ok: false, reason: 'refused' };
    }
    if (scheme === 'bearer') {
      const digest = sha256(value);
      let found: Principal | undefined;
      for (const p of this.principals) {
        if (timingSafeEqual(digest, p.tokenSha256 ?? DUMMY) && p.tokenSha256 !== undefined) found = p;
      }
      return found ? { ok: true, principal: found } : { ok: false, reason: 'refused' };
    }
    return { ok: false, reason: 'malformed' };
  }
}
