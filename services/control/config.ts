/**
 * The control service's settings, read once at start (KCCR_CONTROL_*, the Kafka settings, KCCR_LOG_LEVEL);
 * every bad value is reported at once.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { EnvReader, readClusterName, readKafkaSettings } from '../shared/config.js';
import type { KafkaSettings } from '../shared/config.js';
import { defaultSecretsDir } from './clusters/clusters.js';
import { parsePrincipals } from './http/principals.js';
import type { Principal } from './http/principals.js';

export interface ControlConfig {
  readonly host: string;
  readonly port: number;
  /** PEM certificate and key; HTTPS when set. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** `none` only for local demos: every request acts as the admin `anonymous`. */
  readonly auth: { readonly mode: 'users'; readonly principals: readonly Principal[] } | { readonly mode: 'none' };
  /** The follower cluster a start request without `follower_cluster` replicates into. */
  readonly followerCluster: string;
  /** Snapshot bootstrap: the repository registered on both clusters over shared storage. */
  readonly snapshotRepository: string;
  /** index.gc_deletes of follower indices restored from a snapshot (the applier's setting, for those it creates). */
  readonly gcDeletes: string;
  /** File references of registered clusters (password_file, api_key_file, ca_file) must lie under it. */
  readonly secretsDir: string;
  readonly kafka: KafkaSettings;
  readonly bodyLimit: number;
}

/** Addresses only this machine reaches: the only ones the control service may serve without authentication. */
const LOOPBACK = ['127.0.0.1', '::1', 'localhost'];

export function readControlConfig(env: NodeJS.ProcessEnv = process.env): Readonly<ControlConfig> {
  const r = new EnvReader(env);
  const host = r.string('KCCR_CONTROL_HOST', '127.0.0.1');
  const port = r.int('KCCR_CONTROL_PORT', 8090, 0, 65_535);
  const certFile = r.string('KCCR_CONTROL_TLS_CERT_FILE');
  const keyFile = r.string('KCCR_CONTROL_TLS_KEY_FILE');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    r.problem('KCCR_CONTROL_TLS_CERT_FILE and KCCR_CONTROL_TLS_KEY_FILE: expected both (HTTPS) or neither (HTTP), but only one is set');
  }
  const cert = certFile !== undefined && keyFile !== undefined ? r.fileContents('KCCR_CONTROL_TLS_CERT_FILE') : undefined;
  const key = certFile !== undefined && keyFile !== undefined ? r.fileContents('KCCR_CONTROL_TLS_KEY_FILE') : undefined;

  const mode = r.oneOf('KCCR_CONTROL_AUTH', ['users', 'none'] as const, 'users');
  if (mode === 'none' && !LOOPBACK.includes(host)) {
    r.problem(
      `KCCR_CONTROL_AUTH=none: refused with KCCR_CONTROL_HOST=${host}, which other machines can reach; authentication may be off only on a loopback address (${LOOPBACK.join(', ')}); give KCCR_CONTROL_USERS_FILE instead`,
    );
  }
  let auth: ControlConfig['auth'] = { mode: 'none' };
  if (mode === 'users') {
    const file = r.string('KCCR_CONTROL_USERS_FILE');
    if (file === undefined) {
      r.problem(
        'KCCR_CONTROL_USERS_FILE: expected the JSON file of users (create entries with `kccr users hash-password`), but it is not set; for a local demo only, KCCR_CONTROL_AUTH=none turns authentication off',
      );
    } else {
      let text: string | undefined;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        r.problem(`KCCR_CONTROL_USERS_FILE: cannot read ${file}: ${(e as Error).message}`);
      }
      if (text !== undefined) {
        const parsed = parsePrincipals(text);
        for (const p of parsed.problems) r.problem(`KCCR_CONTROL_USERS_FILE (${file}): ${p}`);
        auth = { mode: 'users', principals: parsed.principals };
      }
    }
  }

  const secretsDirRaw = r.string('KCCR_CONTROL_SECRETS_DIR');
  if (secretsDirRaw !== undefined && !isAbsolute(secretsDirRaw))
    r.problem(`KCCR_CONTROL_SECRETS_DIR: expected an absolute path, received ${JSON.stringify(secretsDirRaw)}`);

  return r.done({
    host,
    port,
    ...(cert !== undefined && key !== undefined ? { tls: { cert, key } } : {}),
    auth,
    followerCluster: readClusterName(r, 'KCCR_CONTROL_FOLLOWER_CLUSTER', 'follower'),
    snapshotRepository: r.string('KCCR_CONTROL_SNAPSHOT_REPOSITORY', 'kccr-shared'),
    gcDeletes: r.string('KCCR_FOLLOWER_GC_DELETES', '24h'),
    // File references of registered clusters are read only from here (default: `secrets` in the working directory).
    secretsDir: secretsDirRaw !== undefined ? resolve(secretsDirRaw) : defaultSecretsDir(),
    kafka: readKafkaSettings(r),
    bodyLimit: r.int('KCCR_CONTROL_BODY_LIMIT', 1024 * 1024, 1024, 64 * 1024 * 1024),
  });
}
