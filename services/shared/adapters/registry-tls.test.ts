/**
 * The registry client's credentials and CA, against a local HTTPS server (a fixture that answers one registry
 * route; the registry itself is exercised by the integration tests): the CA given is trusted, nothing else is,
 * and basic credentials are sent.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCertificates } from '../../../deploy/local/lib/certs.js';
import { EnvReader, readRegistryConnection } from '../config.js';
import { SchemaRegistryAdapter } from './registry.js';

describe('schema registry over HTTPS with basic credentials', () => {
  let dir: string;
  let server: Server;
  let url: string;
  let ca: string;
  const seen: (string | undefined)[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kccr-registry-tls-'));
    const certs = ensureCertificates(dir);
    ca = readFileSync(certs.ca, 'utf8');
    server = createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, (req, res) => {
      seen.push(req.headers.authorization);
      res.setHeader('content-type', 'application/vnd.schemaregistry.v1+json');
      res.end(JSON.stringify({ subject: 's', id: 42, version: 1, schema: '"string"' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('trusts the CA it is given and sends the credentials', async () => {
    const registry = new SchemaRegistryAdapter({ url, username: 'kccr', password: 'pw', ca, timeoutMs: 5000 });
    expect(await registry.latestId('s')).toBe(42);
    expect(seen.at(-1)).toBe(`Basic ${Buffer.from('kccr:pw').toString('base64')}`);
  });

  it('refuses a certificate no CA it trusts has signed', async () => {
    const registry = new SchemaRegistryAdapter({ url, timeoutMs: 5000 });
    await expect(registry.latestId('s')).rejects.toThrow(/certificate/i);
  });

  it('reads its settings: credentials apart from the URL, a CA only for https', () => {
    const file = join(dir, 'ca.crt');
    const ok = readRegistryConnection(
      new EnvReader({ KCCR_REGISTRY_URL: url, KCCR_REGISTRY_USERNAME: 'kccr', KCCR_REGISTRY_PASSWORD: 'pw', KCCR_REGISTRY_CA_FILE: file }),
    );
    expect(ok).toEqual({ url, username: 'kccr', password: 'pw', ca });
    const r = new EnvReader({ KCCR_REGISTRY_URL: 'http://u:p@registry:8081', KCCR_REGISTRY_USERNAME: 'kccr', KCCR_REGISTRY_CA_FILE: file });
    readRegistryConnection(r);
    expect(() => r.done({})).toThrow(/holds credentials[\s\S]*give both or neither[\s\S]*is not https/);
  });
});
