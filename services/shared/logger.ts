import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger };

export type LogFormat = 'json' | 'text';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every line carries that the text form says otherwise (or not at all). */
const HIDDEN = new Set(['level', 'time', 'msg', 'name', 'service', 'pid', 'hostname']);

/**
 * One JSON log line as a person at a terminal reads it: `HH:MM:SS.mmm LEVEL service: message key=value ...`, in UTC.
 * Values are JSON (strings unquoted when they hold no space); what the JSON line redacted stays redacted.
 */
export function textLine(json: string): string {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = typeof e.time === 'number' ? new Date(e.time).toISOString().slice(11, 23) : '';
  const level = LEVELS[e.level as number] ?? String(e.level);
  const fields = Object.entries(e)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) && v !== '' ? v : JSON.stringify(v)}`);
  return `${time} ${level.padEnd(5)} ${String(e.service ?? e.name ?? '')}: ${String(e.msg ?? '')}${fields.length ? ` ${fields.join(' ')}` : ''}\n`;
}

/**
 * JSON logs on stdout (or `destination`), or `text` lines for a terminal (KCCR_LOG_FORMAT); credentials never reach
 * them (redacted by path as a second line of defence).
 */
export function createLogger(
  service: string,
  level = process.env.KCCR_LOG_LEVEL ?? 'info',
  destination?: DestinationStream,
  format: LogFormat = process.env.KCCR_LOG_FORMAT === 'text' ? 'text' : 'json',
): Logger {
  const options = {
    name: service,
    level,
    base: { service },
    redact: { paths: ['password', '*.password', 'auth', '*.auth', 'authorization', '*.authorization', 'apiKey', '*.apiKey'], censor: '[redacted]' },
  };
  const out: DestinationStream = destination ?? { write: (line: string) => void process.stdout.write(line) };
  if (format === 'text') return pino(options, { write: (line: string) => out.write(textLine(line)) });
  return destination ? pino(options, destination) : pino(options);
}
