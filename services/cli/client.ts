/**
 * The CLI's HTTP client for the control API (node:http / node:https, so that --ca-file needs nothing more).
 * Every outcome is either the parsed JSON answer or a CliError carrying the exit code scripts rely on.
 */
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, refused: 4 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface ClientOptions {
  readonly url: string;
  readonly token?: string;
  readonly user?: string;
  readonly password?: string;
  readonly ca?: string;
  readonly timeoutMs?: number;
}

interface ApiError {
  readonly error?: { readonly code?: string; readonly message?: string };
}

/** What the exit code is for an answer of this status (the service answered: it was reachable). */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403 || status === 429) return EXIT.refused;
  if (status === 400) return EXIT.usage;
  return EXIT.failed;
}

export class ControlClient {
  private readonly base: URL;

  constructor(private readonly opts: ClientOptions) {
    try {
      this.base = new URL(opts.url);
    } catch {
      throw new CliError(`--url ${JSON.stringify(opts.url)} is not a URL; give the control service's address, for example http://127.0.0.1:8090`, EXIT.usage);
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:')
      throw new CliError(`--url must start with http:// or https://, received ${JSON.stringify(opts.url)}`, EXIT.usage);
  }

  get url(): string {
    return this.base.origin;
  }

  private authorization(): string | undefined {
    if (this.opts.token) return `Bearer ${this.opts.token}`;
    if (this.opts.user !== undefined) return `Basic ${Buffer.from(`${this.opts.user}:${this.opts.password ?? ''}`).toString('base64')}`;
    return undefined;
  }

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const target = new URL(path, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const auth = this.authorization();
    const headers: Record<string, string | number> = { accept: 'application/json', ...(auth ? { authorization: auth } : {}) };
    if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': payload.length });
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = send(
        target,
        { method, headers, ...(this.opts.ca && target.protocol === 'https:' ? { ca: this.opts.ca } : {}), timeout: this.opts.timeoutMs ?? 60_000 },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${(this.opts.timeoutMs ?? 60_000) / 1000} s`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(payload);
    }).catch((e: NodeJS.ErrnoException) => {
      throw this.unreachable(e);
    });
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new CliError(
        `${this.url} answered ${status} with something that is not JSON; is --url the kccr control service?`,
        status >= 400 ? exitCodeForStatus(status) : EXIT.failed,
      );
    }
    if (status >= 200 && status < 300) return parsed as T;
    const err = (parsed as ApiError).error;
    const message = err?.message ?? `${method} ${path} answered ${status}`;
    const hint =
      status === 401
        ? ' (give --user and --password, or --token; or set KCCR_CONTROL_USER / KCCR_CONTROL_PASSWORD or KCCR_CONTROL_TOKEN)'
        : status === 403
          ? ' (ask for a principal with the role admin)'
          : '';
    throw new CliError(`${message}${hint}`, exitCodeForStatus(status), err?.code);
  }

  private unreachable(e: NodeJS.ErrnoException): CliError {
    const code = e.code ?? '';
    const tls = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/i.test(code) || /certificate|ssl|tls/i.test(e.message);
    const hint = tls
      ? 'the TLS certificate was not accepted: give the CA that signed it with --ca-file'
      : `is the control service running there? Set --url or KCCR_CONTROL_URL`;
    return new CliError(
      `cannot reach the control service at ${this.url}: ${e.message}${code && !e.message.includes(code) ? ` (${code})` : ''}; ${hint}`,
      EXIT.unreachable,
      code || undefined,
    );
  }
}
