/**
 * docker-compose.secure.yml read as data: every secret volume reaches its one consumer (and the set-up steps) only,
 * every kccr setting it gives is a documented one, and no service of the overlay is left on PLAINTEXT or plain HTTP.
 * That Kafka and the registry run from what secure-init writes is test/integration/compose-secure.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ES_USERS, esRoles, VOLUMES } from './setup.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');

interface Service {
  readonly environment?: Record<string, unknown>;
  readonly volumes?: readonly string[];
  readonly command?: readonly string[];
}
interface Compose {
  readonly services: Record<string, Service>;
  readonly volumes?: Record<string, unknown>;
}

const load = (file: string) => parse(readFileSync(join(ROOT, file), 'utf8'), { merge: true }) as Compose;
const base = load('docker-compose.yml');
const secure = load('docker-compose.secure.yml');

/** The merged environment of a service (the overlay's mapping over the base file's). */
function env(service: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries({ ...base.services[service]?.environment, ...secure.services[service]?.environment }).map(([k, v]) => [k, String(v)]),
  );
}

/** Which services of the overlay mount a volume. */
function mountersOf(volume: string): string[] {
  return Object.entries(secure.services)
    .filter(([, s]) => (s.volumes ?? []).some((m) => m.split(':')[0] === volume))
    .map(([name]) => name)
    .sort();
}

describe('docker-compose.secure.yml', () => {
  it('mounts each secret volume in its one consumer and in the set-up steps only', () => {
    const consumers: Record<string, string[]> = {
      setup: [],
      kafka: ['kafka'],
      registry: ['registry'],
      leader: ['leader'],
      follower: ['follower'],
      extractor: ['extractor'],
      applier: ['applier'],
      control: ['control'],
      operator: ['kccr-setup'],
    };
    expect(Object.keys(consumers).sort()).toEqual([...VOLUMES].sort());
    for (const v of VOLUMES) {
      expect(mountersOf(`secrets-${v}`), `secrets-${v}`).toEqual([...consumers[v]!, 'secure-grant', 'secure-init'].sort());
      expect(Object.keys(secure.volumes ?? {})).toContain(`secrets-${v}`);
    }
    // Consumers mount read-only.
    for (const [name, s] of Object.entries(secure.services))
      if (!name.startsWith('secure-')) for (const m of s.volumes ?? []) if (m.startsWith('secrets-')) expect(m, name).toMatch(/:ro$/);
  });

  it('gives the kccr services TLS and their own principals, with documented settings only', () => {
    const settings = readFileSync(join(ROOT, 'docs/reference/settings.md'), 'utf8');
    for (const [service, user] of [
      ['extractor', 'kccr-extractor'],
      ['applier', 'kccr-applier'],
      ['control', 'kccr-control'],
    ] as const) {
      const e = env(service);
      expect(e.KCCR_KAFKA_SASL_USERNAME, service).toBe(user);
      expect(e.KCCR_KAFKA_SASL_MECHANISM, service).toBe('scram-sha-512');
      expect(e.KCCR_KAFKA_CA_FILE, service).toBe('/run/kccr/ca.crt');
      for (const name of Object.keys(e).filter((k) => k.startsWith('KCCR_'))) expect(settings, `${service}: ${name}`).toContain(`\`${name}`);
    }
    expect(env('extractor').KCCR_LEADER_URL).toMatch(/^https:/);
    expect(env('applier').KCCR_FOLLOWER_URL).toMatch(/^https:/);
    expect(env('control').KCCR_CONTROL_TLS_CERT_FILE).toBeDefined();
    expect(env('kccr-setup').KCCR_CONTROL_URL).toMatch(/^https:/);
    for (const cluster of ['leader', 'follower']) expect(env(cluster)['xpack.security.enabled'], cluster).toBe('true');
  });

  it("sends Elasticsearch the least-privilege roles of roles.yml, the file the local stack's secure mode loads", () => {
    const roles = esRoles() as Record<string, { cluster: string[]; indices: { names: string[]; privileges: string[] }[] }>;
    expect(roles[ES_USERS.leader.role]!.cluster).toEqual(['monitor', 'create_snapshot']);
    expect(roles[ES_USERS.leader.role]!.indices[0]!.privileges).not.toContain('write');
    expect(roles[ES_USERS.follower.role]!.indices[0]!.privileges).toContain('write');
  });
});
