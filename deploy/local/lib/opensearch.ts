/**
 * OpenSearch as a cluster of the local stack (KCCR_LEADER_ENGINE / KCCR_FOLLOWER_ENGINE = opensearch:<version>),
 * from the integ-test distribution on Maven Central (`org.opensearch.distribution.integ-test-zip:opensearch`). It is
 * laid out and started as an Elasticsearch node is (elasticsearch.ts), with these differences: its settings file is
 * opensearch.yml, without the x-pack settings (the zip has no security plugin: plain mode only, config.ts refuses
 * KCCR_SECURE=1 with it), its variables are OPENSEARCH_*, and 3.x needs Java 21+.
 */
import type { Engine, StackConfig } from './config.js';
import type { EngineLayout } from './elasticsearch.js';
import { ELASTICSEARCH_LAYOUT } from './elasticsearch.js';
import { fetchIntegTestZip } from './fetch.js';

export const OPENSEARCH_LAYOUT: EngineLayout = {
  product: 'OpenSearch',
  configFile: 'opensearch.yml',
  settings: (lines) => lines.filter((l) => !l.startsWith('xpack.')),
  env: (conf, javaHome, tmp) => ({ OPENSEARCH_PATH_CONF: conf, OPENSEARCH_JAVA_HOME: javaHome, OPENSEARCH_TMPDIR: tmp }),
  keystoreTool: 'opensearch-keystore',
  server: 'opensearch',
};

export function engineLayout(engine: Engine): EngineLayout {
  return engine.kind === 'opensearch' ? OPENSEARCH_LAYOUT : ELASTICSEARCH_LAYOUT;
}

/** The Java major an engine's version needs: Elasticsearch 9 and OpenSearch 3 want 21+, the others run on 17. */
export function engineJavaMajor(engine: Engine): number {
  const major = Number(engine.version.split('.')[0]);
  return (engine.kind === 'elasticsearch' && major >= 9) || (engine.kind === 'opensearch' && major >= 3) ? 21 : 17;
}

/** The engine's distribution, unpacked under the stack folder (fetched once into the cache). */
export function fetchEngine(config: StackConfig, engine: Engine): string {
  return fetchIntegTestZip(config, engine.kind, engine.version);
}

export function engineName(engine: Engine): string {
  return `${engineLayout(engine).product} ${engine.version}`;
}
