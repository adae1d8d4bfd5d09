import { describe, expect, it } from 'vitest';
import type { KafkaAcl } from '../../../services/shared/adapters/kafka.js';
import { CONTROL_TOPICS } from '../../../services/shared/table.js';
import { changeTopic, deadLetterTopic } from '../../../services/shared/topics.js';
import { clusterAcls, KAFKA_USERS, stackAcls } from './kafka-acls.js';

const names = { leaderCluster: 'leader', followerCluster: 'follower' };
const all = [...stackAcls(), ...clusterAcls(names)];

/** Whether an ACL set lets `user` do `op` on the topic or group `name` (ALLOW only: the stack grants no DENY). */
function may(user: string, resource: KafkaAcl['resource'], name: string, op: string, acls: readonly KafkaAcl[] = all): boolean {
  return acls.some(
    (a) =>
      a.principal === `User:${user}` &&
      a.resource === resource &&
      a.permission === 'allow' &&
      (a.pattern === 'literal' ? a.name === name : name.startsWith(a.name)) &&
      (a.operations.includes('all') || a.operations.includes(op as never)),
  );
}

describe('the secure stack Kafka ACLs', () => {
  it('let only the control service write the specs, clusters and auto-follow rules', () => {
    for (const topic of [CONTROL_TOPICS.replications, CONTROL_TOPICS.clusters, CONTROL_TOPICS.autofollow]) {
      expect(may('kccr-control', 'topic', topic, 'write'), topic).toBe(true);
      for (const user of ['kccr-extractor', 'kccr-applier', 'kccr-registry']) {
        expect(may(user, 'topic', topic, 'write'), `${user} on ${topic}`).toBe(false);
        expect(may(user, 'topic', topic, 'create'), `${user} on ${topic}`).toBe(false);
      }
    }
  });

  it('give the extractor its own leader cluster change topics only, and the applier read access to them', () => {
    const mine = changeTopic('leader', 'index-1');
    expect(may('kccr-extractor', 'topic', mine, 'write')).toBe(true);
    expect(may('kccr-extractor', 'topic', mine, 'create')).toBe(true);
    expect(may('kccr-extractor', 'topic', changeTopic('other', 'index-1'), 'write')).toBe(false);
    expect(may('kccr-extractor', 'topic', deadLetterTopic('follower'), 'write')).toBe(false);
    expect(may('kccr-applier', 'topic', mine, 'read')).toBe(true);
    expect(may('kccr-applier', 'topic', mine, 'write')).toBe(false);
    expect(may('kccr-applier', 'topic', deadLetterTopic('follower'), 'write')).toBe(true);
    expect(may('kccr-applier', 'topic', deadLetterTopic('other'), 'write')).toBe(false);
  });

  it('grant nothing on the whole `kccr.` prefix but Describe, which also covers the control tables', () => {
    const broad = all.filter((a) => a.resource === 'topic' && a.pattern === 'prefixed' && CONTROL_TOPICS.replications.startsWith(a.name));
    expect(broad.map((a) => [a.principal, a.operations])).toEqual([['User:kccr-control', ['describe']]]);
  });

  it('name only principals the stack formats, and never an anonymous one', () => {
    const users = new Set(KAFKA_USERS.map((u) => `User:${u.name}`));
    for (const a of all) expect(users.has(a.principal), a.principal).toBe(true);
    expect(KAFKA_USERS.filter((u) => u.superUser).map((u) => u.name)).toEqual(['kccr-admin', 'kccr-broker']);
  });
});
