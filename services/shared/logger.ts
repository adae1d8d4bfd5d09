import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout; credentials never reach them (redacted by path as a second line of defence). */
export function createLogger(service: string, level = process.env.KCCR_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name: service,
    level,
    base: { service },
    redact: { paths: ['password', '*.password', 'auth', '*.auth', 'authorization', '*.authorization', 'apiKey', '*.apiKey'], censor: '[redacted]' },
  });
}
