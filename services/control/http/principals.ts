/**
 * Who may call the control API. The users file holds only derived values, never a secret:
 *   [{ "name": "ops", "role": "admin", "password_scrypt": "scrypt$15$8$1$<salt>$<hash>" },
 *    { "name": "ci", "role": "admin", "token_sha256": "<hex>" }]
 * Passwords are salted scrypt (memory-hard: a stolen file does not give them up to fast guessing); tokens are
 * 256 random bits, for which SHA-256 suffices. `password_sha256` (unsalted) is still read, for files made
 * before. Comparisons are constant-time, and a request names no user that the answer or its timing would confirm.
 */
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

export type Role = 'admin' | 'read';

export interface ScryptHash {
  /** log2 of the cost N. */
  readonly logN: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

export interface Principal {
  readonly name: string;
  readonly role: Role;
  readonly passwordScrypt?: ScryptHash;
  readonly passwordSha256?: Buffer;
  readonly tokenSha256?: Buffer;
}

/** scrypt's cost for new passwords: N = 2^15, r = 8, p = 1 (32 MiB, tens of milliseconds per check). */
const SCRYPT_DEFAULT = { logN: 15, r: 8, p: 1 };

function scryptOptions(h: Pick<ScryptHash, 'logN' | 'r' | 'p'>) {
  const N = 2 ** h.logN;
  return { N, r: h.r, p: h.p, maxmem: 256 * N * h.r + 1024 * 1024 };
}

function scryptOf(secret: string, h: Pick<ScryptHash, 'logN' | 'r' | 'p' | 'salt'>, length: number): Buffer {
  return scryptSync(secret, h.salt, length, scryptOptions(h));
}

/** Password checks at once, at most: each takes ~100 ms of a thread-pool thread, and the event loop none. */
const SCRYPT_CONCURRENCY = 2;
let scryptRunning = 0;
const scryptWaiting: (() => void)[] = [];

/** scrypt off the event loop, at most SCRYPT_CONCURRENCY at a time (the others wait their turn). */
async function scryptAsync(secret: string, h: Pick<ScryptHash, 'logN' | 'r' | 'p' | 'salt'>, length: number): Promise<Buffer> {
  if (scryptRunning >= SCRYPT_CONCURRENCY) await new Promise<void>((resolve) => scryptWaiting.push(resolve));
  scryptRunning++;
  try {
    return await new Promise<Buffer>((resolve, reject) => scrypt(secret, h.salt, length, scryptOptions(h), (err, key) => (err ? reject(err) : resolve(key))));
  } finally {
    scryptRunning--;
    scryptWaiting.shift()?.();
  }
}

/** A users-file `password_scrypt` value for `password`: scrypt$<log2 N>$<r>$<p>$<salt>$<hash> (base64url). */
export function hashPassword(password: string, cost: { logN: number; r: number; p: number } = SCRYPT_DEFAULT): string {
  const salt = randomBytes(16);
  const hash = scryptOf(password, { ...cost, salt }, 32);
  return `scrypt$${cost.logN}$${cost.r}$${cost.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

const SCRYPT_FORMAT = /^scrypt\$(\d{1,2})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{32,})$/;

export function parseScrypt(value: string): ScryptHash | undefined {
  const m = SCRYPT_FORMAT.exec(value);
  if (!m) return undefined;
  const [logN, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (logN < 10 || logN > 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  return { logN, r, p, salt: Buffer.from(m[4]!, 'base64url'), hash: Buffer.from(m[5]!, 'base64url') };
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
    const unknown = Object.keys(e).filter((k) => !['name', 'role', 'password_scrypt', 'password_sha256', 'token_sha256'].includes(k));
    if (unknown.length)
      problems.push(
        `${where}: unknown fields ${unknown.join(', ')} (only name, role, password_scrypt, password_sha256, token_sha256; secrets are stored as hashes only)`,
      );
    const name = e.name;
    if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(name)) {
      problems.push(`${where}: expected "name" of letters, digits, . _ @ - (at most 128), received ${JSON.stringify(name)}`);
    } else if (names.has(name)) {
      problems.push(`${where}: user ${name} appears twice`);
    } else names.add(name);
    if (e.role !== 'admin' && e.role !== 'read') problems.push(`${where}: expected "role" admin or read, received ${JSON.stringify(e.role)}`);
    for (const field of ['password_sha256', 'token_sha256'] as const) {
      const v = e[field];
      if (v !== undefined && (typeof v !== 'string' || !HEX64.test(v.toLowerCase())))
        problems.push(`${where}: expected "${field}" as 64 hex digits (kccr users hash-password), received something else`);
    }
    const scrypt = typeof e.password_scrypt === 'string' ? parseScrypt(e.password_scrypt) : undefined;
    if (e.password_scrypt !== undefined && !scrypt)
      problems.push(`${where}: expected "password_scrypt" as scrypt$<log2 N 10-20>$<r>$<p>$<salt>$<hash> (kccr users hash-password), received something else`);
    if (e.password_scrypt !== undefined && e.password_sha256 !== undefined) problems.push(`${where}: give password_scrypt or password_sha256, not both`);
    if (e.password_scrypt === undefined && e.password_sha256 === undefined && e.token_sha256 === undefined)
      problems.push(`${where}: expected password_scrypt (or password_sha256) or token_sha256; this user could never sign in`);
    if (typeof e.token_sha256 === 'string') {
      if (tokens.has(e.token_sha256.toLowerCase())) problems.push(`${where}: the same token digest is given to two users`);
      tokens.add(e.token_sha256.toLowerCase());
    }
    if (typeof name === 'string' && (e.role === 'admin' || e.role === 'read')) {
      principals.push({
        name,
        role: e.role,
        ...(scrypt ? { passwordScrypt: scrypt } : {}),
        ...(typeof e.password_sha256 === 'string' && HEX64.test(e.password_sha256.toLowerCase())
          ? { passwordSha256: Buffer.from(e.password_sha256.toLowerCase(), 'hex') }
          : {}),
        ...(typeof e.token_sha256 === 'string' && HEX64.test(e.token_sha256.toLowerCase())
          ? { tokenSha256: Buffer.from(e.token_sha256.toLowerCase(), 'hex') }
          : {}),
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
  /** Passwords that matched, as digests keyed with a secret of this process. */
  private readonly verified = new Set<string>();
  private readonly cacheKey = randomBytes(32);

  constructor(private readonly principals: readonly Principal[]) {
    this.byName = new Map(principals.map((p) => [p.name, p]));
  }

  async authenticate(header: string | undefined): Promise<AuthOutcome> {
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
      const password = decoded.slice(colon + 1);
      const p = this.byName.get(name);
      // Checked even for an unknown name (against a dummy), so that timing does not tell which names exist.
      const ok = await this.passwordMatches(p, name, password);
      return ok && p ? { ok: true, principal: p } : { ok: false, reason: 'refused' };
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

  /**
   * Checks a password. An unknown user, or one without a password, still costs one scrypt, so that timing does
   * not tell which names exist. A password that matched is remembered (as a keyed digest, in memory) so that a
   * client sending basic credentials on every call pays scrypt once, not per request.
   */
  private async passwordMatches(p: Principal | undefined, name: string, password: string): Promise<boolean> {
    const key = createHash('sha256').update(this.cacheKey).update(name).update('\0').update(password, 'utf8').digest('hex');
    if (p && this.verified.has(key)) return true;
    let ok: boolean;
    if (p?.passwordScrypt) {
      ok = timingSafeEqual(await scryptAsync(password, p.passwordScrypt, p.passwordScrypt.hash.length), p.passwordScrypt.hash);
    } else if (p?.passwordSha256) {
      ok = timingSafeEqual(sha256(password), p.passwordSha256);
    } else {
      await scryptAsync(password, DUMMY_SCRYPT, 32);
      ok = false;
    }
    if (ok) {
      if (this.verified.size >= 1000) this.verified.clear();
      this.verified.add(key);
    }
    return ok;
  }
}

const DUMMY_SCRYPT = { ...SCRYPT_DEFAULT, salt: Buffer.alloc(16) };
