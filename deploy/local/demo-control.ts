/**
 * The demo's side of the control service: an admin API token made for this run (kept only as a file of mode 600,
 * its SHA-256 digest in the users file the service reads), a free port, and a small client of the REST API.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { newToken, sha256Hex } from '../../services/control/http/principals.js';

export const DEMO_PRINCIPAL = 'demo-admin';

export interface DemoCredentials {
  readonly token: string;
  readonly tokenFile: string;
  readonly usersFile: string;
}

/**
 * A new admin token for this run: `<stack>/secrets/demo-token` (mode 600) holds it for the curl commands, and
 * `<stack>/demo-users.json` holds the users file entry (the digest only), in the format `kccr users new-token`
 * prints.
 */
export function writeDemoCredentials(stackDir: string, secretsDir: string): DemoCredentials {
  mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
  const token = newToken();
  const tokenFile = join(secretsDir, 'demo-token');
  const usersFile = join(stackDir, 'demo-users.json');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  chmodSync(tokenFile, 0o600);
  const users = [{ name: DEMO_PRINCIPAL, role: 'admin', token_sha256: sha256Hex(token) }];
  writeFileSync(usersFile, `${JSON.stringify(users, null, 2)}\n`, { mode: 0o600 });
  chmodSync(usersFile, 0o600);
  return { token, tokenFile, usersFile };
}

function portFree(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/** `preferred` when nothing listens on it, otherwise a port the system hands out. */
export async function choosePort(host: string, preferred: number): Promise<number> {
  const p = await portFree(host, preferred);
  if (p !== undefined) return p;
  const other = await portFree(host, 0);
  if (other === undefined) throw new Error(`no free port on ${host} for the control service`);
  return other;
}

export class ControlApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The REST API with the demo's bearer token; errors come back as the service's `{error: {code, message}}`. */
export class DemoControlClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async request<T = Record<string, unknown>>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: signal ?? AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { raw: text };
    }
    return { status: res.status, body: parsed as T };
  }

  /** A call that must succeed (2xx); anything else throws with the service's own message. */
  async call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.request<T>(method, path, body);
    if (r.status >= 200 && r.status < 300) return r.body;
    const err = (r.body as { error?: { code?: string; message?: string } }).error;
    throw new ControlApiError(
      r.status,
      err?.code ?? 'HTTP',
      `${method} ${path} answered ${r.status}${err ? ` ${err.code}: ${err.message}` : `: ${JSON.stringify(r.body)}`}`,
    );
  }

  /** True once GET /_kccr/health answers ok (no authentication needed there). */
  async healthy(): Promise<boolean> {
    try {
      const res = await fetch(`${this.baseUrl}/_kccr/health`, { signal: AbortSignal.timeout(2000) });
      return res.ok;
    } catch {
      return false;
    }
  }
}
