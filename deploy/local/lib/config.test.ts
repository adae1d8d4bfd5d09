import { describe, expect, it } from 'vitest';
import { parseJavaVersion } from './checks.js';
import { extraLeaderPorts, leaderClusterIds, readStackConfig, StackConfigError } from './config.js';

describe('stack config', () => {
  it('defaults to the plain stack on the usual ports', () => {
    const c = readStackConfig({});
    expect(c.secure).toBe(false);
    expect(c.ports).toMatchObject({ kafka: 9092, kafkaProxied: 9094, kafkaProxy: 9095, registry: 8081, leaderHttp: 9200, followerHttp: 9201 });
    expect(c.esVersion).toMatch(/^8\.19\./);
  });

  it('shifts every port by KCCR_PORT_OFFSET', () => {
    const c = readStackConfig({ KCCR_PORT_OFFSET: '1000', KCCR_SECURE: '1' });
    expect(c.ports).toMatchObject({ kafka: 10092, kafkaProxied: 10094, kafkaProxy: 10095, registry: 9081, leaderHttp: 10200, followerHttp: 10201 });
    expect(c.secure).toBe(true);
  });

  it('reports all bad settings together', () => {
    expect(() => readStackConfig({ KCCR_ES_VERSION: '7.10.2', KCCR_LEADER_PORT: '70000', KCCR_ES_HEAP: 'lots', KCCR_FOLLOWER_PORT: '9092' })).toThrow(
      StackConfigError,
    );
    try {
      readStackConfig({ KCCR_ES_VERSION: '7.10.2', KCCR_LEADER_PORT: '70000', KCCR_ES_HEAP: 'lots', KCCR_FOLLOWER_PORT: '9092' });
    } catch (e) {
      const problems = (e as StackConfigError).problems.join('\n');
      expect(problems).toContain('KCCR_ES_VERSION: expected an Elasticsearch version 8.x.y or 9.x.y, received "7.10.2"');
      expect(problems).toContain('KCCR_LEADER_PORT: expected a TCP port');
      expect(problems).toContain('KCCR_ES_HEAP');
      expect(problems).toContain('both use port 9092');
    }
  });

  it('puts leader clusters 2 to N on ports of their own, shifted by the offset, with a small heap', () => {
    const one = readStackConfig({});
    expect(one.leaderClusters).toBe(1);
    expect(leaderClusterIds(one)).toEqual(['leader']);
    const c = readStackConfig({ KCCR_LEADER_CLUSTERS: '4', KCCR_PORT_OFFSET: '4000', KCCR_LEADER_NODES: '5', KCCR_FOLLOWER_NODES: '5' });
    expect(leaderClusterIds(c)).toEqual(['leader', 'leader2', 'leader3', 'leader4']);
    expect(extraLeaderPorts(c.ports, 2)).toEqual({ http: 13202, transport: 13302 });
    expect(extraLeaderPorts(c.ports, 4)).toEqual({ http: 13204, transport: 13304 });
    expect(c.heaps.extraLeaders).toBe('512m');
    expect(() => readStackConfig({ KCCR_LEADER_CLUSTERS: '5' })).toThrow(/KCCR_LEADER_CLUSTERS/);
  });

  it('refuses a further leader cluster on a port another part uses, node steps included', () => {
    // Leader 2 on 9202: node 2 of a follower moved to 9192 lands on it (9192 + 10).
    expect(() => readStackConfig({ KCCR_LEADER_CLUSTERS: '2', KCCR_FOLLOWER_PORT: '9192', KCCR_FOLLOWER_NODES: '2' })).toThrow(
      /leader2 HTTP and follower node 2 HTTP both use port 9202|follower node 2 HTTP and leader2 HTTP both use port 9202/,
    );
    expect(() => readStackConfig({ KCCR_LEADER_CLUSTERS: '3', KCCR_KAFKA_PORT: '9213', KCCR_LEADER_NODES: '2' })).toThrow(/both use port 9213/);
  });

  it("reads each side's engine, Elasticsearch of KCCR_ES_VERSION by default", () => {
    expect(readStackConfig({ KCCR_ES_VERSION: '9.2.4' }).engines).toEqual({
      leader: { kind: 'elasticsearch', version: '9.2.4' },
      follower: { kind: 'elasticsearch', version: '9.2.4' },
    });
    expect(readStackConfig({ KCCR_LEADER_ENGINE: 'opensearch:2.19.4', KCCR_FOLLOWER_ENGINE: 'elasticsearch:8.19.21' }).engines).toEqual({
      leader: { kind: 'opensearch', version: '2.19.4' },
      follower: { kind: 'elasticsearch', version: '8.19.21' },
    });
  });

  it('refuses an unknown engine, and OpenSearch in secure mode (its integ-test zip has no security plugin)', () => {
    const problems = (env: NodeJS.ProcessEnv) => {
      try {
        readStackConfig(env);
        return '';
      } catch (e) {
        return (e as StackConfigError).problems.join('\n');
      }
    };
    expect(problems({ KCCR_LEADER_ENGINE: 'solr:9.0.0' })).toContain(
      'KCCR_LEADER_ENGINE: expected elasticsearch:<8.x.y or 9.x.y> or opensearch:<2.x.y or 3.x.y>',
    );
    expect(problems({ KCCR_SECURE: '1', KCCR_FOLLOWER_ENGINE: 'opensearch:3.3.2' })).toMatch(/KCCR_SECURE=1 with an OpenSearch follower .*plain mode/);
    // Further leader clusters run the leader side's engine, so they are refused with it.
    expect(problems({ KCCR_SECURE: '1', KCCR_LEADER_CLUSTERS: '2', KCCR_LEADER_ENGINE: 'opensearch:2.19.4' })).toMatch(
      /KCCR_SECURE=1 with an OpenSearch leader .*plain mode/,
    );
  });

  it('reads Java versions in both spellings', () => {
    expect(parseJavaVersion('openjdk version "17.0.15" 2025-04-15')).toBe(17);
    expect(parseJavaVersion('java version "1.8.0_402"')).toBe(8);
    expect(parseJavaVersion('openjdk version "25" 2025-09-16')).toBe(25);
    expect(parseJavaVersion('nothing')).toBeUndefined();
  });
});
