import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvReader, readEsConnection, readProcessSettings } from './config.js';
import { KccrError } from './errors.js';
import { backoffDelay, retry } from './retry.js';
import { changeTopic, valueSubject } from './topics.js';

describe('EnvReader', () => {
  it('reports every bad value at once, with name, expectation and what came', () => {
    const r = new EnvReader({ A: 'x', B: 'maybe', C: 'z' });
    r.int('A', 1, 0, 10);
    r.bool('B', false);
    r.oneOf('C', ['p', 'q'], 'p');
    r.required('D', 'a URL');
    const err = (() => {
      try {
        r.done({});
      } catch (e) {
        return e as KccrError;
      }
    })();
    expect(err?.code).toBe('CONFIG_INVALID');
    expect(err?.message).toContain('A: expected a whole number from 0 to 10, received "x"');
    expect(err?.message).toContain('B: expected true or false, received "maybe"');
    expect(err?.message).toContain('C: expected one of p, q, received "z"');
    expect(err?.message).toContain('D: expected a URL, but it is not set');
  });

  it('reads secrets from files and never puts them in messages', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kccr-'));
    writeFileSync(join(dir, 'pw'), 's3cret\n');
    const ok = readEsConnection(new EnvReader({ L_URL: 'https://h:9200', L_USERNAME: 'u', L_PASSWORD_FILE: join(dir, 'pw') }), 'L_');
    expect(ok).toEqual({ url: 'https://h:9200', username: 'u', password: 's3cret' });
    const r = new EnvReader({ L_URL: 'ftp://h', L_USERNAME: 'u', L_PASSWORD: 'zzz', L_PASSWORD_FILE: '/x' });
    readEsConnection(r, 'L_');
    expect(() => r.done({})).toThrow(/L_URL: expected an http:\/\/ or https:\/\/ URL/);
    try {
      r.done({});
    } catch (e) {
      expect((e as Error).message).not.toContain('zzz');
    }
  });
});

describe('process settings', () => {
  it('reads the log level and the stop bound, defaults when unset', () => {
    expect(readProcessSettings({})).toEqual({ logLevel: 'info', shutdownTimeoutMs: 20_000, logFormat: 'json' });
    expect(readProcessSettings({ KCCR_LOG_LEVEL: 'debug', KCCR_SHUTDOWN_TIMEOUT_MS: '5000', KCCR_LOG_FORMAT: 'text' })).toEqual({
      logLevel: 'debug',
      shutdownTimeoutMs: 5000,
      logFormat: 'text',
    });
  });

  it('refuses a stop bound that is not milliseconds (20s once made every stop exit at once) and an unknown level, naming both', () => {
    let caught: unknown;
    try {
      readProcessSettings({ KCCR_LOG_LEVEL: 'loud', KCCR_SHUTDOWN_TIMEOUT_MS: '20s' });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(KccrError);
    expect((caught as KccrError).code).toBe('CONFIG_INVALID');
    expect((caught as Error).message).toMatch(/KCCR_SHUTDOWN_TIMEOUT_MS: expected a whole number from 1000 to 3600000, received "20s"/);
    expect((caught as Error).message).toMatch(/KCCR_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, received "loud"/);
  });
});

describe('Elasticsearch URLs', () => {
  it('take several nodes, and refuse credentials inside a URL without echoing them', () => {
    expect(readEsConnection(new EnvReader({ L_URL: 'https://a:9200,https://b:9200' }), 'L_').url).toBe('https://a:9200,https://b:9200');
    const r = new EnvReader({ L_URL: 'https://a:9200,https://elastic:hunter2@b:9200' });
    readEsConnection(r, 'L_');
    expect(() => r.done({})).toThrow(/L_URL: credentials inside the URL are refused; give L_USERNAME and L_PASSWORD_FILE/);
    try {
      r.done({});
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
    }
  });
});

describe('retry', () => {
  it('backs off exponentially with jitter up to the cap', () => {
    expect(backoffDelay(1, 100, 1000, () => 0)).toBe(50);
    expect(backoffDelay(1, 100, 1000, () => 1)).toBe(100);
    expect(backoffDelay(4, 100, 1000, () => 1)).toBe(800);
    expect(backoffDelay(10, 100, 1000, () => 1)).toBe(1000);
  });

  it('retries retriable errors and throws the others at once', async () => {
    let calls = 0;
    const value = await retry(
      async () => {
        calls++;
        if (calls < 3) throw new KccrError('ES_UNAVAILABLE', 'busy');
        return 'ok';
      },
      { attempts: 5, initialMs: 1, maxMs: 2 },
    );
    expect(value).toBe('ok');
    expect(calls).toBe(3);
    let other = 0;
    await expect(
      retry(
        async () => {
          other++;
          throw new KccrError('ES_FORBIDDEN', 'no');
        },
        { attempts: 5, initialMs: 1, maxMs: 2 },
      ),
    ).rejects.toMatchObject({ code: 'ES_FORBIDDEN' });
    expect(other).toBe(1);
  });
});

describe('topics', () => {
  it('names one topic per leader cluster and index, escaping what Kafka refuses', () => {
    expect(changeTopic('leader-cluster', 'leader-01')).toBe('kccr.leader-cluster.leader-01');
    expect(changeTopic('c', 'logs.2024')).toBe('kccr.c.logs.2e.2024');
    expect(changeTopic('c', 'a+b')).not.toBe(changeTopic('c', 'a.b'));
    expect(valueSubject('t')).toBe('t-value');
    expect(() => changeTopic('c', 'x'.repeat(300))).toThrow(
      /its topic name would be 307 characters .* above the 249 Kafka allows; register the leader cluster under a shorter name/,
    );
    // A bad request (400 at _start), not an internal error.
    expect(() => changeTopic('c', 'x'.repeat(300))).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
});
