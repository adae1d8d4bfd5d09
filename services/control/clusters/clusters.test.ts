import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkClusterRequest, resolveConnection, toEntry } from './clusters.js';
import type { ClusterEntry } from './clusters.js';

const root = mkdtempSync(join(tmpdir(), 'kccr-clusters-'));
const secretsDir = join(root, 'secrets');
mkdirSync(join(secretsDir, 'leader'), { recursive: true });
writeFileSync(join(secretsDir, 'leader', 'password'), 'leader-secret\n');
writeFileSync(join(secretsDir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\n');
// Host files a registration must never reach: the control service's TLS key beside the secrets directory.
writeFileSync(join(root, 'control.key'), '-----BEGIN PRIVATE KEY-----\n');
symlinkSync(join(root, 'control.key'), join(secretsDir, 'link-out'));
symlinkSync(join(secretsDir, 'leader', 'password'), join(secretsDir, 'link-in'));
const env = { KCCR_SECRET_LEADER: 'from-env', AWS_SECRET_ACCESS_KEY: 'cloud', KCCR_CONTROL_TOKEN: 'own', KCCR_SECRET_EMPTY: '' };
const ctx = { env, secretsDir };
afterAll(() => rmSync(root, { recursive: true, force: true }));

const entry = (fields: Partial<ClusterEntry>): ClusterEntry => ({
  name: 'leader',
  url: 'https://es-1:9200',
  updatedBy: 'ops',
  createdAt: 1,
  updatedAt: 1,
  ...fields,
});

describe('cluster registrations', () => {
  it('take one URL or several nodes of the cluster, comma-separated, each checked', () => {
    expect(checkClusterRequest({ url: 'https://es-1:9200' }, ctx)).toEqual([]);
    expect(checkClusterRequest({ url: 'https://es-1:9200,https://es-2:9200, https://es-3:9200/' }, ctx)).toEqual([]);
    expect(checkClusterRequest({ url: 'https://es-1:9200,ftp://es-2' }, ctx)).toEqual(['url: expected http:// or https://, received "ftp:"']);
    expect(checkClusterRequest({ url: 'https://es-1:9200,nonsense' }, ctx)).toEqual([
      'url: expected an http:// or https:// URL (or several, comma-separated), received "nonsense"',
    ]);
  });

  it('keep the nodes in order, without spaces or trailing slashes', () => {
    expect(toEntry('leader', { url: 'https://es-1:9200/, https://es-2:9200' }, 'ops', undefined, 1).url).toBe('https://es-1:9200,https://es-2:9200');
  });

  it('read files only from the secrets directory, links followed, and say the same whatever the file is', () => {
    const ok = { url: 'https://es-1:9200', username: 'u', password_file: join(secretsDir, 'leader', 'password'), ca_file: join(secretsDir, 'ca.crt') };
    expect(checkClusterRequest(ok, ctx)).toEqual([]);
    expect(checkClusterRequest({ ...ok, password_file: join(secretsDir, 'link-in') }, ctx)).toEqual([]);
    const refused = (path: string) => checkClusterRequest({ ...ok, password_file: path }, ctx);
    const problem = (path: string) => [
      `password_file: ${path} is not a readable file under KCCR_CONTROL_SECRETS_DIR (${secretsDir}); put the file there (links that lead out of it are refused)`,
    ];
    // Outside, a link leading out, missing, a directory, a path that climbs out: one answer, no errno.
    for (const path of [
      join(root, 'control.key'),
      join(secretsDir, 'link-out'),
      join(secretsDir, 'missing'),
      join(secretsDir, 'leader'),
      join(secretsDir, '..', 'control.key'),
      secretsDir,
    ]) {
      expect(refused(path)).toEqual(problem(path));
    }
    expect(refused('leader/password')).toEqual([
      `password_file: expected an absolute path under KCCR_CONTROL_SECRETS_DIR (${secretsDir}), received "leader/password"`,
    ]);
  });

  it('name only variables of their own prefix, KCCR_SECRET_*', () => {
    expect(checkClusterRequest({ url: 'https://es-1:9200', api_key_env: 'KCCR_SECRET_LEADER' }, ctx)).toEqual([]);
    for (const name of ['AWS_SECRET_ACCESS_KEY', 'KCCR_CONTROL_TOKEN', 'KCCR_SECRET_', 'kccr_secret_leader']) {
      expect(checkClusterRequest({ url: 'https://es-1:9200', api_key_env: name }, ctx)).toEqual([
        `api_key_env: expected the name of a variable starting with KCCR_SECRET_ (only those are read for registered clusters), received ${JSON.stringify(name)}`,
      ]);
    }
    expect(checkClusterRequest({ url: 'https://es-1:9200', api_key_env: 'KCCR_SECRET_EMPTY' }, ctx)[0]).toMatch(/KCCR_SECRET_EMPTY is not set/);
  });

  it('carry credentials only when the request names them: a new URL alone registers no credentials', () => {
    const previous = toEntry('leader', { url: 'https://es-1:9200', username: 'u', password_env: 'KCCR_SECRET_LEADER' }, 'ops', undefined, 1);
    const moved = toEntry('leader', { url: 'https://elsewhere:9200' }, 'ops', previous, 2);
    expect(moved).toEqual({ name: 'leader', url: 'https://elsewhere:9200', updatedBy: 'ops', createdAt: 1, updatedAt: 2 });
    expect(resolveConnection(moved, ctx)).toEqual({ url: 'https://elsewhere:9200' });
  });

  it('are checked again when used: an entry written around the API is refused, never connected to', () => {
    expect(resolveConnection(entry({ username: 'u', passwordFile: join(secretsDir, 'leader', 'password'), caFile: join(secretsDir, 'ca.crt') }), ctx)).toEqual({
      url: 'https://es-1:9200',
      username: 'u',
      password: 'leader-secret',
      ca: '-----BEGIN CERTIFICATE-----\n',
    });
    expect(resolveConnection(entry({ apiKeyEnv: 'KCCR_SECRET_LEADER' }), ctx)).toMatchObject({ apiKey: 'from-env' });
    expect(() => resolveConnection(entry({ username: 'x', passwordFile: join(root, 'control.key') }), ctx)).toThrow(
      /cluster leader: password_file: .* is not a readable file under KCCR_CONTROL_SECRETS_DIR/,
    );
    expect(() => resolveConnection(entry({ passwordFile: join(secretsDir, 'link-out'), username: 'x' }), ctx)).toThrow(/not a readable file/);
    expect(() => resolveConnection(entry({ apiKeyEnv: 'AWS_SECRET_ACCESS_KEY' }), ctx)).toThrow(
      /api_key_env: expected the name of a variable starting with KCCR_SECRET_/,
    );
    expect(() => resolveConnection(entry({ url: 'file:///etc/passwd' }), ctx)).toThrow(/url: expected http:\/\/ or https:\/\//);
    const refusal = (() => {
      try {
        resolveConnection(entry({ apiKeyEnv: 'AWS_SECRET_ACCESS_KEY' }), ctx);
        return undefined;
      } catch (e) {
        return e as { code: string; message: string };
      }
    })();
    expect(refusal?.code).toBe('CONFIG_INVALID');
    expect(refusal?.message).not.toContain('cloud');
  });
});
