import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

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
