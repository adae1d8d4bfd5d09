import { readFileSync } from 'node:fs';
import type { RegistryConnection } from './adapters/registry.js';
import { KccrError } from './errors.js';

/**
 * Reads settings from the environment once. Each accessor records what was wrong instead of throwing, so that
 * `done()` reports every bad value at once: the variable, what was expected and what came.
 */
export class EnvReader {
  private readonly problems: string[] = [];

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  private raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v === '' ? undefined : v;
  }

  string(name: string, fallback: string): string;
  string(name: string, fallback?: undefined): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    return this.raw(name) ?? fallback;
  }

  required(name: string, expected: string): string {
    const v = this.raw(name);
    if (v === undefined) this.problems.push(`${name}: expected ${expected}, but it is not set`);
    return v ?? '';
  }

  int(name: string, fallback: number, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER, what?: string): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problems.push(`${name}: expected ${what ?? `a whole number from ${min} to ${max}`}, received ${JSON.stringify(v)}`);
      return fallback;
    }
    return n;
  }

  /** A text that must match `pattern` (`expected` says how, in the problem). */
  matching(name: string, fallback: string, pattern: RegExp, expected: string): string {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!pattern.test(v)) {
      this.problems.push(`${name}: expected ${expected}, received ${JSON.stringify(v)}`);
      return fallback;
    }
    return v;
  }

  /** A number above zero, fractions allowed (seconds, rates). */
  positive(name: string, fallback: number, unit = 'number'): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) {
      this.problems.push(`${name}: expected a positive ${unit}, received ${JSON.stringify(v)}`);
      return fallback;
    }
    return n;
  }

  /** What was found wrong so far (done() throws them all at once). */
  found(): readonly string[] {
    return [...this.problems];
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (['1', 'true', 'yes'].includes(v)) return true;
    if (['0', 'false', 'no'].includes(v)) return false;
    this.problems.push(`${name}: expected true or false, received ${JSON.stringify(v)}`);
    return fallback;
  }

  list(name: string, fallback: readonly string[]): string[] {
    const v = this.raw(name);
    if (v === undefined) return [...fallback];
    const items = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (items.length === 0) this.problems.push(`${name}: expected a comma-separated list, received ${JSON.stringify(v)}`);
    return items;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(v)) {
      this.problems.push(`${name}: expected one of ${allowed.join(', ')}, received ${JSON.stringify(v)}`);
      return fallback;
    }
    return v as T;
  }

  /** A secret given directly (NAME) or as a file (NAME_FILE); never echoed in problems. */
  secret(name: string): string | undefined {
    const direct = this.raw(name);
    const file = this.raw(`${name}_FILE`);
    if (direct !== undefined && file !== undefined) {
      this.problems.push(`${name} and ${name}_FILE are both set; set only one`);
      return direct;
    }
    if (file === undefined) return direct;
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (e) {
      this.problems.push(`${name}_FILE: cannot read ${file}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** A file that must exist (a CA certificate, say); returns its contents. */
  fileContents(name: string): string | undefined {
    const path = this.raw(name);
    if (path === undefined) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      this.problems.push(`${name}: cannot read ${path}: ${(e as Error).message}`);
      return undefined;
    }
  }

  problem(message: string): void {
    this.problems.push(message);
  }

  /** Throws one CONFIG_INVALID error listing every problem, or returns the value frozen. */
  done<T extends object>(value: T): Readonly<T> {
    if (this.problems.length) {
      throw new KccrError('CONFIG_INVALID', `invalid configuration:\n  - ${this.problems.join('\n  - ')}`, { problems: [...this.problems] });
    }
    return Object.freeze(value);
  }
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** What every service process reads before anything else: how much it logs and how long a stop may take. */
export interface ProcessSettings {
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly shutdownTimeoutMs: number;
  readonly logFormat: 'json' | 'text';
}

/** KCCR_LOG_LEVEL, KCCR_LOG_FORMAT and KCCR_SHUTDOWN_TIMEOUT_MS, checked (a CONFIG_INVALID error lists what is wrong). */
export function readProcessSettings(env: NodeJS.ProcessEnv = process.env): ProcessSettings {
  const r = new EnvReader(env);
  return r.done({
    logLevel: r.oneOf('KCCR_LOG_LEVEL', LOG_LEVELS, 'info'),
    shutdownTimeoutMs: r.int('KCCR_SHUTDOWN_TIMEOUT_MS', 20_000, 1000, 3_600_000),
    logFormat: r.oneOf('KCCR_LOG_FORMAT', ['json', 'text'] as const, 'json'),
  });
}

/** How to reach one Elasticsearch cluster. Credentials stay out of logs and status output. */
export interface EsConnection {
  readonly url: string;
  readonly ca?: string;
  readonly username?: string;
  readonly password?: string;
  readonly apiKey?: string;
}

/** Reads <PREFIX>URL, <PREFIX>CA_FILE, <PREFIX>USERNAME, <PREFIX>PASSWORD[_FILE], <PREFIX>API_KEY[_FILE]. */
export function readEsConnection(r: EnvReader, prefix: string, fallbackUrl?: string): EsConnection {
  const url = fallbackUrl ? r.string(`${prefix}URL`, fallbackUrl) : r.required(`${prefix}URL`, 'the cluster URL, for example https://127.0.0.1:9200');
  // One URL, or several nodes of the cluster separated by commas (requests go round them).
  if (url && !url.split(',').every((u) => /^https?:\/\/[^/]+/.test(u.trim())))
    r.problem(`${prefix}URL: expected an http:// or https:// URL (or several, comma-separated), received ${JSON.stringify(url)}`);
  // Credentials in a URL end up in logs and error messages: they go in the USERNAME / PASSWORD settings.
  if (url && url.split(',').some((u) => /^https?:\/\/[^/@]*@/.test(u.trim())))
    r.problem(`${prefix}URL: credentials inside the URL are refused; give ${prefix}USERNAME and ${prefix}PASSWORD_FILE (or ${prefix}API_KEY_FILE) instead`);
  const username = r.string(`${prefix}USERNAME`);
  const password = r.secret(`${prefix}PASSWORD`);
  const apiKey = r.secret(`${prefix}API_KEY`);
  if (username !== undefined && password === undefined) r.problem(`${prefix}USERNAME is set but ${prefix}PASSWORD (or ${prefix}PASSWORD_FILE) is not`);
  const ca = r.fileContents(`${prefix}CA_FILE`);
  return { url, ...(ca ? { ca } : {}), ...(username ? { username } : {}), ...(password ? { password } : {}), ...(apiKey ? { apiKey } : {}) };
}

/** How to reach Kafka: KCCR_KAFKA_BROKERS, KCCR_KAFKA_CA_FILE (TLS), KCCR_KAFKA_SASL_MECHANISM / _USERNAME / _PASSWORD[_FILE]. */
export interface KafkaSettings {
  readonly brokers: readonly string[];
  readonly ssl?: { readonly ca?: string };
  readonly sasl?: { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string };
}

export function readKafkaSettings(r: EnvReader): KafkaSettings {
  const brokers = r.list('KCCR_KAFKA_BROKERS', ['127.0.0.1:9092']);
  for (const b of brokers) if (!/^[^:\s]+:\d{1,5}$/.test(b)) r.problem(`KCCR_KAFKA_BROKERS: expected host:port entries, received ${JSON.stringify(b)}`);
  const ca = r.fileContents('KCCR_KAFKA_CA_FILE');
  const tls = r.bool('KCCR_KAFKA_TLS', ca !== undefined);
  const mechanism = r.string('KCCR_KAFKA_SASL_MECHANISM');
  let sasl: KafkaSettings['sasl'];
  if (mechanism !== undefined) {
    if (!['plain', 'scram-sha-256', 'scram-sha-512'].includes(mechanism))
      r.problem(`KCCR_KAFKA_SASL_MECHANISM: expected plain, scram-sha-256 or scram-sha-512, received ${JSON.stringify(mechanism)}`);
    const username = r.required('KCCR_KAFKA_SASL_USERNAME', 'the SASL user name');
    const password = r.secret('KCCR_KAFKA_SASL_PASSWORD');
    if (password === undefined) r.problem('KCCR_KAFKA_SASL_PASSWORD (or _FILE): expected the SASL password, but it is not set');
    sasl = { mechanism: mechanism as 'plain', username, password: password ?? '' };
  }
  return { brokers, ...(tls ? { ssl: ca ? { ca } : {} } : {}), ...(sasl ? { sasl } : {}) };
}

/** The schema registry: its URL, and basic credentials and a CA when it asks for them. */
export function readRegistryConnection(r: EnvReader): RegistryConnection {
  const url = r.string('KCCR_REGISTRY_URL', 'http://127.0.0.1:8081/apis/ccompat/v7');
  if (!/^https?:\/\/[^/]+/.test(url)) r.problem(`KCCR_REGISTRY_URL: expected an http:// or https:// URL, received ${JSON.stringify(url)}`);
  // Credentials in a URL end up in logs and process listings: they go in their own settings.
  else if (/^https?:\/\/[^/]*@/.test(url))
    r.problem('KCCR_REGISTRY_URL: holds credentials (user:password@); give them as KCCR_REGISTRY_USERNAME and KCCR_REGISTRY_PASSWORD (or _FILE) instead');
  const username = r.string('KCCR_REGISTRY_USERNAME');
  const password = r.secret('KCCR_REGISTRY_PASSWORD');
  if ((username === undefined) !== (password === undefined)) r.problem('KCCR_REGISTRY_USERNAME and KCCR_REGISTRY_PASSWORD (or _FILE): give both or neither');
  const ca = r.fileContents('KCCR_REGISTRY_CA_FILE');
  if (ca !== undefined && !url.startsWith('https://')) r.problem('KCCR_REGISTRY_CA_FILE: set, but KCCR_REGISTRY_URL is not https://');
  return { url, ...(username !== undefined && password !== undefined ? { username, password } : {}), ...(ca !== undefined ? { ca } : {}) };
}

export function readClusterName(r: EnvReader, name: string, fallback: string): string {
  const v = r.string(name, fallback);
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(v))
    r.problem(`${name}: expected a cluster name of lower-case letters, digits, _ and - (at most 64), received ${JSON.stringify(v)}`);
  return v;
}
