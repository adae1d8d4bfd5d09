import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpOptions {
  readonly method?: string;
  readonly body?: unknown;
  readonly ca?: string | Buffer;
  readonly auth?: { readonly username: string; readonly password: string };
  readonly timeoutMs?: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
}

/** A small JSON-over-HTTP(S) call for health checks and set-up; verifies TLS against the given CA. */
export function httpJson(url: string, opts: HttpOptions = {}): Promise<HttpResponse> {
  const u = new URL(url);
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  const headers: Record<string, string> = { accept: 'application/json' };
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  if (opts.auth) headers.authorization = `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}`;
  const requester = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolvePromise, reject) => {
    const req = requester(
      u,
      { method: opts.method ?? 'GET', headers, ...(u.protocol === 'https:' && opts.ca ? { ca: opts.ca } : {}), timeout: opts.timeoutMs ?? 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text
          }
          resolvePromise({ status: res.statusCode ?? 0, body, text });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${opts.timeoutMs ?? 5000} ms: ${opts.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}
