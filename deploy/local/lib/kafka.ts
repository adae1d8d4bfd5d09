import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KafkaAdapter } from '../../../services/shared/adapters/kafka.js';
import type { StackConfig } from './config.js';
import { stackPaths } from './config.js';
import type { JavaHome } from './checks.js';
import { isAlive, pidFile, readPid, run, startDetached, waitUntil } from './procs.js';

export const KAFKA_PART = 'kafka';

function serverProperties(config: StackConfig): string {
  const p = stackPaths(config);
  const { kafka, kafkaController, kafkaProxied, kafkaProxy } = config.ports;
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${kafkaController}`,
    `listeners=PLAINTEXT://127.0.0.1:${kafka},PROXIED://127.0.0.1:${kafkaProxied},CONTROLLER://127.0.0.1:${kafkaController}`,
    // PROXIED advertises the proxy's port, not its own: a client that bootstraps through a proxy on that port is sent
    // back to it by the metadata, so every request of that client crosses the proxy (the fault tests stall it there).
    `advertised.listeners=PLAINTEXT://127.0.0.1:${kafka},PROXIED://127.0.0.1:${kafkaProxy}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    // PROXIED speaks what PLAINTEXT speaks (the local stack's Kafka is plaintext in both modes).
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PROXIED:PLAINTEXT',
    `log.dirs=${p.kafkaData}`,
    'num.partitions=1',
    // Topics are created by kccr with the partition count of the leader index; a typo must not create one.
    'auto.create.topics.enable=false',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // Compaction on a small single node: look often so tests and demos see compacted topics.
    'log.cleaner.backoff.ms=5000',
    '',
  ].join('\n');
}

/**
 * Whether a running Kafka was started with the configuration this version writes (the file is written on start):
 * a stack started by an older version lacks, for example, the PROXIED listener until Kafka restarts.
 */
export function kafkaConfigCurrent(config: StackConfig): boolean {
  const file = stackPaths(config).kafkaConfig;
  return existsSync(file) && readFileSync(file, 'utf8') === serverProperties(config);
}

/** A base64url UUID, the form KRaft expects for a cluster id. */
function clusterId(): string {
  return randomBytes(16).toString('base64url');
}

export function startKafka(config: StackConfig, libs: string, java: JavaHome): number {
  const p = stackPaths(config);
  mkdirSync(p.kafkaData, { recursive: true });
  writeFileSync(p.kafkaConfig, serverProperties(config));
  const classpath = join(libs, '*');
  const log4j = `-Dlog4j.configuration=file:${join(config.root, 'deploy/local/kafka/log4j.properties')}`;
  if (!existsSync(join(p.kafkaData, 'meta.properties'))) {
    run(java.java, [log4j, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', p.kafkaConfig], {
      what: 'formatting the Kafka KRaft storage',
    });
  }
  return startDetached({
    command: java.java,
    args: [`-Xms${config.heaps.kafka}`, `-Xmx${config.heaps.kafka}`, '-XX:+UseG1GC', '-Djava.awt.headless=true', log4j, '-cp', classpath, 'kafka.Kafka', p.kafkaConfig],
    logFile: join(p.logs, 'kafka.log'),
    pidFile: pidFile(p.pids, KAFKA_PART),
  });
}

/** Healthy when a client can fetch cluster metadata and a controller is elected. */
export async function kafkaHealthy(config: StackConfig): Promise<boolean> {
  const kafka = new KafkaAdapter({ brokers: [`127.0.0.1:${config.ports.kafka}`], clientId: 'kccr-stack' }, undefined, { retries: 0, connectTimeout: 1000 });
  try {
    return await kafka.clusterReady();
  } finally {
    await kafka.close();
  }
}

export async function waitForKafka(config: StackConfig): Promise<number> {
  const p = stackPaths(config);
  const pid = readPid(pidFile(p.pids, KAFKA_PART));
  return waitUntil('Kafka', join(p.logs, 'kafka.log'), config.timeoutsMs.kafka, () => kafkaHealthy(config), () => pid !== undefined && isAlive(pid));
}
