import { describe, expect, it } from 'vitest';
import { Authenticator, hashPassword, parsePrincipals, parseScrypt, sha256Hex } from './principals.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('users file', () => {
  it('reads principals with digests only and reports every bad entry', () => {
    const ok = parsePrincipals(
      JSON.stringify([
        { name: 'ops', role: 'admin', password_sha256: sha256Hex('pw-ops-123') },
        { name: 'viewer', role: 'read', token_sha256: sha256Hex('tok') },
      ]),
    );
    expect(ok.problems).toEqual([]);
    expect(ok.principals.map((p) => [p.name, p.role])).toEqual([
      ['ops', 'admin'],
      ['viewer', 'read'],
    ]);
    const bad = parsePrincipals(
      JSON.stringify([
        { name: 'a', role: 'root', password: 'plain' },
        { name: 'a', role: 'read' },
        { role: 'read', token_sha256: 'xyz' },
      ]),
    );
    expect(bad.problems.join('\n')).toMatch(/unknown fields password/);
    expect(bad.problems.join('\n')).toMatch(/expected "role" admin or read, received "root"/);
    expect(bad.problems.join('\n')).toMatch(/user a appears twice/);
    expect(bad.problems.join('\n')).toMatch(/could never sign in/);
    expect(bad.problems.join('\n')).toMatch(/token_sha256" as 64 hex digits/);
    expect(parsePrincipals('not json').problems[0]).toMatch(/does not parse/);
  });
});

describe('Authenticator', () => {
  const { principals } = parsePrincipals(
    JSON.stringify([
      { name: 'ops', role: 'admin', password_sha256: sha256Hex('right-password'), token_sha256: sha256Hex('ops-token') },
      { name: 'viewer', role: 'read', token_sha256: sha256Hex('view-token') },
    ]),
  );
  const auth = new Authenticator(principals);

  it('accepts basic and bearer credentials', async () => {
    expect(await auth.authenticate(basic('ops', 'right-password'))).toMatchObject({ ok: true, principal: { name: 'ops' } });
    expect(await auth.authenticate('Bearer view-token')).toMatchObject({ ok: true, principal: { name: 'viewer', role: 'read' } });
    expect(await auth.authenticate('bearer ops-token')).toMatchObject({ ok: true, principal: { name: 'ops' } });
  });

  it('refuses wrong, unknown and malformed credentials', async () => {
    expect(await auth.authenticate(basic('ops', 'wrong'))).toEqual({ ok: false, reason: 'refused' });
    expect(await auth.authenticate(basic('nobody', 'right-password'))).toEqual({ ok: false, reason: 'refused' });
    expect(await auth.authenticate(basic('viewer', ''))).toEqual({ ok: false, reason: 'refused' });
    expect(await auth.authenticate('Bearer nope')).toEqual({ ok: false, reason: 'refused' });
    expect(await auth.authenticate(undefined)).toEqual({ ok: false, reason: 'missing' });
    expect(await auth.authenticate('Digest x')).toEqual({ ok: false, reason: 'malformed' });
    expect(await auth.authenticate(`Basic ${Buffer.from('no-colon').toString('base64')}`)).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('scrypt passwords', () => {
  // A low cost keeps the test fast; the format and the check are the same at the default cost.
  const cheap = { logN: 10, r: 8, p: 1 };
  const hash = hashPassword('s3cret-password', cheap);
  const { principals, problems } = parsePrincipals(
    JSON.stringify([
      { name: 'ops', role: 'admin', password_scrypt: hash },
      { name: 'old', role: 'read', password_sha256: sha256Hex('legacy-password') },
    ]),
  );
  const auth = new Authenticator(principals);

  it('stores a salted hash that says its cost, and never the password', () => {
    expect(problems).toEqual([]);
    expect(hash).toMatch(/^scrypt\$10\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(hash).not.toContain('s3cret');
    // Salted: the same password twice gives two different hashes.
    expect(hashPassword('s3cret-password', cheap)).not.toBe(hash);
    expect(parseScrypt(hash)).toMatchObject({ logN: 10, r: 8, p: 1 });
    expect(parseScrypt(hashPassword('x', { logN: 15, r: 8, p: 1 }))?.logN).toBe(15);
  });

  it('lets the right password in, also on repeated calls, and nothing else', async () => {
    expect(await auth.authenticate(basic('ops', 's3cret-password'))).toMatchObject({ ok: true, principal: { name: 'ops', role: 'admin' } });
    expect(await auth.authenticate(basic('ops', 's3cret-password'))).toMatchObject({ ok: true, principal: { name: 'ops' } });
    expect(await auth.authenticate(basic('ops', 's3cret-passwore'))).toEqual({ ok: false, reason: 'refused' });
    expect(await auth.authenticate(basic('nobody', 's3cret-password'))).toEqual({ ok: false, reason: 'refused' });
    // Files made before scrypt still work.
    expect(await auth.authenticate(basic('old', 'legacy-password'))).toMatchObject({ ok: true, principal: { name: 'old' } });
  });

  it('reports a malformed or ambiguous password entry', () => {
    const bad = parsePrincipals(
      JSON.stringify([
        { name: 'a', role: 'admin', password_scrypt: 'scrypt$99$8$1$abc$def' },
        { name: 'b', role: 'admin', password_scrypt: hash, password_sha256: sha256Hex('x') },
      ]),
    );
    expect(bad.problems.join('\n')).toMatch(/entry 0: expected "password_scrypt" as scrypt\$/);
    expect(bad.problems.join('\n')).toMatch(/entry 1: give password_scrypt or password_sha256, not both/);
  });
});

describe('refused credentials per address', () => {
  it('make the address wait once the limit is reached within the window, and forget them after', async () => {
    const { FailedLogins } = await import('./auth.js');
    let now = 1_000_000;
    const f = new FailedLogins(3, 60_000, () => now);
    for (let i = 0; i < 3; i++) {
      expect(f.waitMs('a')).toBe(0);
      f.failed('a');
      now += 1000;
    }
    expect(f.waitMs('a')).toBe(57_000);
    expect(f.waitMs('b')).toBe(0);
    now += 57_000;
    expect(f.waitMs('a')).toBe(0);
    f.failed('a');
    f.succeeded('a');
    expect(f.waitMs('a')).toBe(0);
  });
});

describe('FailedLogins', () => {
  it('forgets the least recently refused keys when full, not every key at once', async () => {
    const { FailedLogins } = await import('./auth.js');
    const logins = new FailedLogins(3, 60_000, () => 1000, 10);
    for (let i = 0; i < 3; i++) logins.failed('address attacker');
    expect(logins.waitMs('address attacker')).toBeGreaterThan(0);
    // A flood of other addresses: the attacker's count stays until it is the oldest.
    for (let i = 0; i < 9; i++) logins.failed(`address other-${i}`);
    expect(logins.waitMs('address attacker')).toBeGreaterThan(0);
  });
});
