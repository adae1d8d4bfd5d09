/**
 * Pacing of reconciliation passes (a unit: the follower listing and the request topic are recorded fixtures, not
 * stand-ins for a replication; the passes themselves are tested against the real stack in walkthrough and chaos).
 */
import { describe, expect, it } from 'vitest';
import type { ElasticsearchAdapter } from '../shared/adapters/elasticsearch.js';
import type { KafkaProducer } from '../shared/adapters/kafka.js';
import { createLogger } from '../shared/logger.js';
import type { ReconcileRequest, ReplicationSpec } from '../shared/replication.js';
import { Reconciler } from './reconciler.js';

const spec = { followerCluster: 'f', followerIndex: 'fi', leaderCluster: 'l', leaderIndex: 'li', state: 'active' } as unknown as ReplicationSpec;

/** A follower shard holding `ids`, listed in pages as Elasticsearch's raw search response. */
function followerListing(ids: string[], events: string[]) {
  return {
    refresh: async () => {
      events.push('refresh');
    },
    searchRaw: async (_index: string, body: { size: number; search_after?: [number] }) => {
      events.push('list');
      const from = body.search_after ? body.search_after[0] + 1 : 0;
      const page = ids.slice(from, from + body.size).map((id, k) => ({ _id: id, _seq_no: from + k, sort: [from + k] }));
      return Buffer.from(JSON.stringify({ took: 1, timed_out: false, hits: { hits: page } }));
    },
  } as unknown as ElasticsearchAdapter;
}

function requestTopic(sent: ReconcileRequest[], events: string[]) {
  return {
    send: async (_topic: string, messages: { value: Buffer | null }[]) => {
      events.push('send');
      for (const m of messages) sent.push(JSON.parse(m.value!.toString('utf8')) as ReconcileRequest);
    },
  } as unknown as KafkaProducer;
}

describe('reconciliation passes', () => {
  it('list the shard in pages and send every id once', async () => {
    const events: string[] = [];
    const sent: ReconcileRequest[] = [];
    const ids = Array.from({ length: 25 }, (_, i) => `d${i}`);
    const r = new Reconciler({ es: followerListing(ids, events), producer: requestTopic(sent, events), logger: createLogger('test', 'silent'), pageSize: 10, minIntervalMs: 0, backlog: async () => 0 }, spec);
    r.request(2, 'test');
    for (let i = 0; i < 100 && r.stats.passes === 0; i++) await new Promise((res) => setTimeout(res, 10));
    await r.stop();
    expect(r.stats).toMatchObject({ passes: 1, idsSent: 25 });
    expect(sent.flatMap((q) => q.ids.map((i) => i.id))).toEqual(ids);
    expect(new Set(sent.map((q) => q.passId)).size).toBe(1);
    expect(sent.every((q) => q.shard === 2 && q.leaderIndex === 'li')).toBe(true);
  });

  it('wait while the leader side still has requests to check, then run', async () => {
    const events: string[] = [];
    const sent: ReconcileRequest[] = [];
    let pending = 3;
    const r = new Reconciler(
      {
        es: followerListing(['a', 'b'], events),
        producer: requestTopic(sent, events),
        logger: createLogger('test', 'silent'),
        pageSize: 10,
        minIntervalMs: 0,
        backlog: async () => {
          events.push(`backlog ${pending}`);
          return pending;
        },
      },
      spec,
    );
    r.request(0, 'test');
    await new Promise((res) => setTimeout(res, 1200));
    expect(sent).toEqual([]);
    expect(events.filter((e) => e === 'list')).toEqual([]);
    pending = 0;
    await new Promise((res) => setTimeout(res, 800));
    expect(sent.flatMap((q) => q.ids.map((i) => i.id))).toEqual(['a', 'b']);
    expect(events.slice(0, 3)).toEqual(['backlog 3', 'backlog 3', 'backlog 3']);
    expect(events.slice(-3)).toEqual(['refresh', 'list', 'send']);
    await r.stop();
  });
});
