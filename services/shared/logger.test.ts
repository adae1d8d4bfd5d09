import { describe, expect, it } from 'vitest';
import { createLogger, textLine } from './logger.js';

describe('createLogger', () => {
  it('writes JSON lines with the service and redacts credentials at the top level and one level down', () => {
    const lines: string[] = [];
    const log = createLogger('unit', 'info', { write: (line: string) => void lines.push(line) });
    log.info(
      {
        password: 'p1',
        cluster: { url: 'http://leader', password: 'p2', auth: { username: 'u', password: 'p3' } },
        authorization: 'Basic eDp5',
        registry: { apiKey: 'k' },
      },
      'connecting',
    );
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({
      service: 'unit',
      msg: 'connecting',
      password: '[redacted]',
      cluster: { url: 'http://leader', password: '[redacted]', auth: '[redacted]' },
      authorization: '[redacted]',
      registry: { apiKey: '[redacted]' },
    });
    expect(lines[0]).not.toMatch(/p1|p2|p3|eDp5|"k"/);
  });
});

describe('the text form for a terminal', () => {
  it('reads as time, level, service, message and fields, redacted as the JSON is', () => {
    const lines: string[] = [];
    const log = createLogger('applier', 'info', { write: (line: string) => void lines.push(line) }, 'text');
    log.warn({ partition: 2, err: 'no answer from the follower', cluster: { password: 'p1' } }, 'batch failed; the partition waits');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\d{2}:\d{2}:\d{2}\.\d{3} WARN {2}applier: batch failed; the partition waits partition=2 err="no answer from the follower" cluster=\{"password":"\[redacted\]"\}\n$/,
    );
    expect(lines[0]).not.toMatch(/p1/);
  });

  it('passes through what is not a JSON line', () => {
    expect(textLine('plain words')).toBe('plain words\n');
    expect(textLine(JSON.stringify({ level: 30, time: 0, service: 's', msg: 'm' }))).toBe('00:00:00.000 INFO  s: m\n');
  });
});
