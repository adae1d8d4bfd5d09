import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout (or `destination`); credentials never reach them (redacted by path as a second line of defence). */
export function createLogger(service: string, level = process.env.KCCR_LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const options = {
    name: service,
    level,
    base: { service },
    redact: { paths: ['password', '*.password', 'auth', '*.auth', 'authorization', '*.authorization', 'apiKey', '*.apiKey'], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
