/**
 * Topic names. One function owns them: every component derives a leader index's topic from here.
 * Kafka topic names allow [a-zA-Z0-9._-] up to 249 characters; Elasticsearch index names are lower case and may
 * hold characters Kafka refuses, which are escaped reversibly-enough (`+` and hex) to stay unique.
 */
import { KccrError } from './errors.js';

const PREFIX = 'kccr';
const MAX_TOPIC = 249;

function escapePart(s: string): string {
  return s.replace(/[^a-z0-9_-]/g, (ch) => `+${ch.codePointAt(0)!.toString(16)}+`).replace(/\+/g, '.');
}

export function changeTopic(leaderCluster: string, leaderIndex: string): string {
  const name = `${PREFIX}.${escapePart(leaderCluster)}.${escapePart(leaderIndex)}`;
  if (name.length > MAX_TOPIC) {
    throw new KccrError(
      'BAD_REQUEST',
      `leader index ${leaderIndex} of cluster ${leaderCluster} cannot be replicated: its topic name would be ${name.length} characters (${PREFIX}.<cluster>.<index>, escaped), above the ${MAX_TOPIC} Kafka allows; register the leader cluster under a shorter name, or replicate an index with a shorter name`,
      { topicLength: name.length },
    );
  }
  return name;
}

/**
 * What every change topic of one leader cluster starts with: `kccr.<cluster>.`. Kafka ACLs give a leader cluster's
 * extractor its topics with this prefix (a cluster name never starts with `_`, so it never covers a `kccr._*` table).
 */
export function changeTopicPrefix(leaderCluster: string): string {
  return `${PREFIX}.${escapePart(leaderCluster)}.`;
}

export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

export function deadLetterTopic(followerCluster: string): string {
  return `${PREFIX}.${escapePart(followerCluster)}._deadletter`;
}
