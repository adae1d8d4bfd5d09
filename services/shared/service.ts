import { errorMessage, failureKind, KccrError } from './errors.js';
import { abortableSleep, backoffDelay, OPERATOR_PROBE_MS, TRANSIENT_BACKOFF } from './retry.js';
import { readProcessSettings } from './config.js';
import type { ProcessSettings } from './config.js';
import { installShutdown } from './shutdown.js';

export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs a service process: bad configuration exits 2 with every problem listed; a start that fails on something
 * passing (Kafka or a cluster not reachable yet) is tried again with backoff; SIGTERM stops it within a bound.
 */
export async function runService(name: string, create: () => Service): Promise<void> {
  let service: Service;
  let settings: ProcessSettings;
  try {
    settings = readProcessSettings();
    service = create();
  } catch (e) {
    process.stderr.write(`${name}: ${errorMessage(e)}\n`);
    process.exit(e instanceof KccrError && e.code === 'CONFIG_INVALID' ? 2 : 1);
  }
  installShutdown(name, () => service.stop(), settings.shutdownTimeoutMs);
  for (let attempt = 1; ; attempt++) {
    try {
      await service.start();
      return;
    } catch (e) {
      const kind = failureKind(e);
      if (kind === 'permanent') {
        process.stderr.write(`${name}: cannot start: ${errorMessage(e)}\n`);
        process.exit(1);
      }
      // Refused credentials are probed again every minute: fixing them starts the service without a restart.
      const delay = kind === 'credentials' ? OPERATOR_PROBE_MS : backoffDelay(attempt, TRANSIENT_BACKOFF.initialMs, TRANSIENT_BACKOFF.maxMs);
      process.stderr.write(`${name}: start failed (${errorMessage(e)}); trying again in ${delay} ms\n`);
      await service.stop().catch(() => undefined);
      service = create();
      await abortableSleep(delay);
    }
  }
}
