/**
 * The control service: reads its settings once, loads the control tables from Kafka (replications, clusters,
 * status), then serves the API on KCCR_CONTROL_HOST:KCCR_CONTROL_PORT (HTTPS with KCCR_CONTROL_TLS_*).
 * Everything it knows lives in Kafka, so a restart loses nothing.
 */
import { isEntryPoint } from '../shared/entry.js';
import { KafkaAdapter } from '../shared/adapters/kafka.js';
import { errorMessage, KccrError } from '../shared/errors.js';
import { readProcessSettings } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { installShutdown } from '../shared/shutdown.js';
import { buildApp } from './http/app.js';
import { readControlConfig } from './config.js';
import { createControlState } from './deps.js';

async function main(): Promise<void> {
  const settings = readProcessSettings();
  const config = readControlConfig();
  const logger = createLogger('control', settings.logLevel);
  const kafka = new KafkaAdapter({ ...config.kafka, clientId: 'kccr-control' }, logger);
  const state = createControlState(kafka, {
    auth: config.auth,
    followerCluster: config.followerCluster,
    snapshotRepository: config.snapshotRepository,
    gcDeletes: config.gcDeletes,
    env: process.env,
    secretsDir: config.secretsDir,
    bodyLimit: config.bodyLimit,
    logger,
  });
  await state.open();
  const app = buildApp(state.deps, config.tls ? { https: config.tls } : {});
  installShutdown(
    'control',
    async () => {
      // Auto-follow starts nothing more; requests in flight finish; then the tables let go of Kafka.
      await state.deps.autofollow.stop();
      await app.close();
      await state.close();
      await kafka.close();
    },
    settings.shutdownTimeoutMs,
  );
  const address = await app.listen({ host: config.host, port: config.port });
  logger.info({ address, auth: config.auth.mode, followerCluster: config.followerCluster, https: config.tls !== undefined }, 'control service listening');
  state.deps.autofollow.start();
}

if (isEntryPoint(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`control: ${errorMessage(e)}\n`);
    process.exit(e instanceof KccrError && e.code === 'CONFIG_INVALID' ? 2 : 1);
  });
}
