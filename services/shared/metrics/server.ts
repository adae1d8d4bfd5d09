/**
 * The /metrics listener of a data-plane service (extractor, applier): its own address and port
 * (KCCR_METRICS_HOST, KCCR_METRICS_PORT; loopback by default), nothing else served. A port that cannot be had is
 * logged and the service goes on without metrics: replication never waits for its instruments.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EnvReader } from '../config.js';
import type { Logger } from '../logger.js';
import { CONTENT_TYPE, render } from './exposition.js';
import type { MetricFamily } from './exposition.js';
import { ProcessMetrics } from './process.js';

export interface MetricsSettings {
  readonly host: string;
  /** 0: any free port (logged); null: no listener. */
  readonly port: number | null;
}

/** KCCR_METRICS_HOST (127.0.0.1), KCCR_METRICS_PORT (the service's default; `off` for none, 0 for any free port). */
export function readMetricsSettings(r: EnvReader, defaultPort: number): MetricsSettings {
  const host = r.string('KCCR_METRICS_HOST', '127.0.0.1');
  const raw = r.string('KCCR_METRICS_PORT', String(defaultPort));
  if (raw === 'off') return { host, port: null };
  const port = r.int('KCCR_METRICS_PORT', defaultPort, 0, 65535, 'a TCP port (0 for any free one), or off');
  return { host, port };
}

export interface MetricsServer {
  /** The address it listens on (after start), e.g. 127.0.0.1:9464. */
  readonly address: string | undefined;
  close(): Promise<void>;
}

export async function startMetricsServer(
  settings: MetricsSettings,
  service: string,
  families: () => readonly MetricFamily[],
  logger: Logger,
): Promise<MetricsServer> {
  if (settings.port === null) return { address: undefined, close: async () => {} };
  const process = new ProcessMetrics(service);
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    Promise.all([process.text(), Promise.resolve().then(() => render(families()))]).then(
      ([proc, own]) => res.writeHead(200, { 'content-type': CONTENT_TYPE }).end(`${own}${proc}`),
      (e: unknown) => {
        logger.error({ err: e }, 'metrics: a scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be computed; see the service log\n');
      },
    );
  });
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', (e) => {
      logger.error(
        { err: e, host: settings.host, port: settings.port },
        'metrics: cannot listen; the service goes on without /metrics (set KCCR_METRICS_PORT to a free port, or off)',
      );
      resolve(false);
    });
    server.listen(settings.port ?? 0, settings.host, () => resolve(true));
  });
  if (!listening) return { address: undefined, close: async () => {} };
  const a = server.address() as AddressInfo;
  const address = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  logger.info({ address }, `metrics: serving http://${address}/metrics`);
  return {
    address,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
