import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from './config.js';
import { stackPaths } from './config.js';
import type { JavaHome } from './checks.js';
import { requireCommand } from './checks.js';
import { httpJson } from './http.js';
import { isAlive, pidFile, readPid, run, startDetached, waitUntil } from './procs.js';

export const REGISTRY_PART = 'registry';

/** The Confluent-compatible API of Apicurio Registry; @kafkajs/confluent-schema-registry talks to this base URL. */
export function registryUrl(config: StackConfig): string {
  return `http://127.0.0.1:${config.ports.registry}/apis/ccompat/v7`;
}

/**
 * Apicurio Registry publishes its runnable Quarkus build on Maven Central (`apicurio-registry-app:<v>:tar.gz:all`);
 * deploy/local/registry/pom.xml unpacks it into the cache. Nothing is compiled.
 */
/** Apicurio 3.x needs Java 21+; 2.6 runs on Java 17, so a machine with only Java 17 still gets a registry. */
export const REGISTRY_FALLBACK_VERSION = '2.6.13.Final';

function isV2(version: string): boolean {
  return version.startsWith('2.');
}

export function registryJavaMajor(version: string): number {
  return isV2(version) ? 17 : 21;
}

export function fetchRegistry(config: StackConfig, version: string): string {
  const dir = join(config.cacheDir, 'registry');
  const unpacked = join(dir, `apicurio-registry-app-${version}`);
  const runJar = isV2(version) ? join(unpacked, `apicurio-registry-app-${version}-runner.jar`) : join(unpacked, 'quarkus-run.jar');
  if (existsSync(runJar)) return runJar;
  requireCommand('mvn', 'install Apache Maven 3.8+; the stack fetches the schema registry with it');
  mkdirSync(dir, { recursive: true });
  run('mvn', ['-B', '-q', '-f', join(config.root, 'deploy/local/registry/pom.xml'), 'package', `-Dapicurio.version=${version}`, `-Dregistry.dir=${dir}`], {
    what: `fetching Apicurio Registry ${version} from Maven Central`,
  });
  if (!existsSync(runJar)) throw new Error(`fetching Apicurio Registry gave no ${runJar}; delete ${dir} and run again`);
  return runJar;
}

export function startRegistry(config: StackConfig, runJar: string, java: JavaHome): number {
  const p = stackPaths(config);
  const v2 = runJar.endsWith('-runner.jar');
  return startDetached({
    command: java.java,
    args: [
      `-Xmx${config.heaps.registry}`,
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Dquarkus.http.host=127.0.0.1',
      `-Dquarkus.http.port=${config.ports.registry}`,
      '-Dquarkus.http.access-log.enabled=false',
      // Confluent's default; the npm client checks a subject's level against BACKWARD before it registers.
      ...(v2
        ? ['-Dregistry.rules.global.compatibility=BACKWARD']
        : ['-Dquarkus.management.host=127.0.0.1', `-Dquarkus.management.port=${config.ports.registryManagement}`, '-Dapicurio.rules.global.compatibility=BACKWARD']),
      '-jar',
      runJar,
    ],
    logFile: join(p.logs, 'registry.log'),
    pidFile: pidFile(p.pids, REGISTRY_PART),
  });
}

export async function registryHealthy(config: StackConfig): Promise<boolean> {
  const ready = await httpJson(`http://127.0.0.1:${config.ports.registryManagement}/health/ready`, { timeoutMs: 3000 }).catch(() => undefined);
  const readyV2 = ready ? undefined : await httpJson(`http://127.0.0.1:${config.ports.registry}/health/ready`, { timeoutMs: 3000 });
  if ((ready ?? readyV2)?.status !== 200) return false;
  const subjects = await httpJson(`${registryUrl(config)}/subjects`, { timeoutMs: 3000 });
  return subjects.status === 200 && Array.isArray(subjects.body);
}

export async function waitForRegistry(config: StackConfig): Promise<number> {
  const p = stackPaths(config);
  const pid = readPid(pidFile(p.pids, REGISTRY_PART));
  return waitUntil('schema registry', join(p.logs, 'registry.log'), config.timeoutsMs.registry, () => registryHealthy(config), () => pid !== undefined && isAlive(pid));
}
