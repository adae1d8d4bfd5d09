import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { StackConfig } from './config.js';
import { stackPaths } from './config.js';
import { requireCommand } from './checks.js';
import { run } from './procs.js';

const MVN_HINT =
  'install Apache Maven 3.8+ (for example `apt-get install maven`); the stack fetches Kafka, the registry and Elasticsearch from Maven Central with it';

/** Marks a fetched folder complete only after everything in it arrived, so an interrupted fetch is redone. */
function cached(dir: string, fill: (tmp: string) => void): string {
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return dir;
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  fill(tmp);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  writeFileSync(marker, new Date().toISOString());
  return dir;
}

function mvn(args: string[], what: string, cwd?: string): void {
  requireCommand('mvn', MVN_HINT);
  run('mvn', ['-B', '-q', ...args], { what, cwd });
}

/** A tree of files made again at `to`: hard links (no copy) where both are on one file system, copies elsewhere. */
function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const [a, b] = [join(from, e.name), join(to, e.name)];
    if (e.isDirectory()) linkTree(a, b);
    else if (e.isFile()) {
      try {
        linkSync(a, b);
      } catch {
        copyFileSync(a, b);
      }
    }
  }
}

/**
 * A fetched folder of the cache, placed under the stack folder: the cache may sit in a home folder (root's is 0700)
 * that the unprivileged users the parts run as cannot enter.
 */
function inStack(config: StackConfig, cachedDir: string, name: string): string {
  return cached(join(stackPaths(config).dist, name), (tmp) => linkTree(cachedDir, tmp));
}

/** Kafka broker jars (KRaft), resolved from Maven Central into the cache. Returns the folder of jars, in the stack. */
export function fetchKafka(config: StackConfig): string {
  const name = `kafka-${config.kafkaVersion}`;
  const dir = cached(join(config.cacheDir, name), (tmp) => {
    mvn(
      [
        '-f',
        join(config.root, 'deploy/local/kafka/pom.xml'),
        'dependency:copy-dependencies',
        `-Dkafka.version=${config.kafkaVersion}`,
        `-DoutputDirectory=${join(tmp, 'libs')}`,
      ],
      `fetching Apache Kafka ${config.kafkaVersion} from Maven Central`,
    );
  });
  return join(inStack(config, dir, name), 'libs');
}

/** The registry's unpacked application folder of the cache, placed under the stack folder (see inStack). */
export function registryInStack(config: StackConfig, unpacked: string): string {
  return inStack(config, unpacked, basename(unpacked));
}

/**
 * The Elasticsearch integ-test distribution: the zip is cached, then unpacked under the stack folder,
 * because the cache may sit in a home folder that the Elasticsearch user cannot enter.
 */
export function fetchElasticsearch(config: StackConfig, version = config.esVersion): string {
  return fetchIntegTestZip(config, 'elasticsearch', version);
}

/** The integ-test distribution of either engine (`org.<engine>.distribution.integ-test-zip:<engine>`), as above. */
export function fetchIntegTestZip(config: StackConfig, engine: 'elasticsearch' | 'opensearch', version: string): string {
  const product = engine === 'opensearch' ? 'OpenSearch' : 'Elasticsearch';
  const zipDir = cached(join(config.cacheDir, `${engine}-${version}`), (tmp) => {
    mvn(
      ['dependency:copy', `-Dartifact=org.${engine}.distribution.integ-test-zip:${engine}:${version}:zip`, `-DoutputDirectory=${tmp}`],
      `fetching ${product} ${version} (integ-test zip) from Maven Central`,
    );
  });
  const zip = readdirSync(zipDir).find((f) => f.endsWith('.zip'));
  if (!zip) throw new Error(`no zip in ${zipDir}; delete that folder and run again`);
  const home = join(stackPaths(config).dist, `${engine}-${version}`);
  cached(home, (tmp) => {
    requireCommand('unzip', 'install unzip (for example `apt-get install unzip`)');
    run('unzip', ['-q', join(zipDir, zip), '-d', tmp], { what: `unpacking ${product} ${version}` });
    const inner = join(tmp, `${engine}-${version}`);
    for (const entry of readdirSync(inner)) renameSync(join(inner, entry), join(tmp, entry));
    rmSync(inner, { recursive: true });
  });
  return home;
}
