/**
 * The reconciliation pass's conversation (a unit: the ledger and the request topic are recorded fixtures, not
 * stand-ins for a replication; passes run against the real stack in the walkthrough, chaos and fault tests).
 */
import { describe, expect, it } from 'vitest';
import type { KafkaProducer } from '../shared/adapters/kafka.js';
import { createLogger } from '../shared/logger.js';
import type { ReconcileRequest, ReplicationSpec } from '../shared/replication.js';
import type { SeqRange } from './bisect.js';
import type { Ledger } from './ledger.js';
import { Reconciler } from './reconciler.js';
import type { ReconcilerDeps } from './reconciler.js';

const spec = { followerCluster: 'f', followerIndex: 'fi', leaderCluster: 'l', leaderIndex: 'li', state: 'active' } as unknown as ReplicationSpec;

/** A follower shard's ledger: id -> leader _seq_no. */
function ledgerOf(entries: Map<string, number>, events: string[]) {
  const inRange = (r: SeqRange) => [...entries].filter(([, s]) => s >= r.from && s <= r.to).sort((a, b) => a[1] - b[1]);
  return {
    counts: async (_shard: number, ranges: readonly SeqRange[]) => {
      events.push('count');
      return ranges.map((r) => inRange(r).length);
    },
    list: async function* (_shard: number, r: SeqRange, pageSize: number) {
      events.push('list');
      const all = inRange(r).map(([id]) => ({ id, routing: null }));
      for (let i = 0; i < all.length; i += pageSize) yield all.slice(i, i + pageSize);
    },
  } as unknown as Ledger;
}

function requestTopic(sent: ReconcileRequest[], events: string[]) {
  return {
    send: async (_topic: string, messages: { value: Buffer | null }[]) => {
      events.push('send');
      for (const m of messages) sent.push(JSON.parse(m.value!.toString('utf8')) as ReconcileRequest);
    },
  } as unknown as KafkaProducer;
}

function deps(over: Partial<ReconcilerDeps> & Pick<ReconcilerDeps, 'ledger' | 'producer'>): ReconcilerDeps {
  return {
    logger: createLogger('test', 'silent'),
    pageSize: 10,
    minIntervalMs: 0,
    passTimeoutMs: 5000,
    backlog: async () => 0,
    bisect: { fanout: 4, leafDocs: 3, listBelowDocs: 0 },
    ...over,
  };
}

/** Plays the leader side: answers each counting request with the counts of `leader` (id -> _seq_no). */
async function converse(r: Reconciler, sent: ReconcileRequest[], leader: Map<string, number>, until: () => boolean) {
  let answered = 0;
  for (let i = 0; i < 500 && !until(); i++) {
    const q = sent[answered];
    if (q?.ranges) {
      const ranges = q.ranges.map((x) => ({ ...x, count: [...leader.values()].filter((s) => s >= x.from && s <= x.to).length }));
      await r.onLeaderCounts(q.shard, { passId: q.passId, ranges });
    }
    if (q) answered++;
    else await new Promise((res) => setTimeout(res, 5));
  }
}

describe('reconciliation passes', () => {
  it('count the span the follower applied, split what differs, and send only the ids of narrow ranges', async () => {
    const events: string[] = [];
    const sent: ReconcileRequest[] = [];
    const ledger = new Map(Array.from({ length: 200 }, (_, i) => [`d${i}`, i] as [string, number]));
    const leader = new Map(ledger);
    leader.delete('d17');
    leader.delete('d150');
    const r = new Reconciler(deps({ ledger: ledgerOf(ledger, events), producer: requestTopic(sent, events) }), spec);
    r.follow((shard) => (shard === 2 ? { from: 0, to: 199 } : undefined));
    r.request(2, 'test');
    await converse(r, sent, leader, () => r.stats.passes > 0);
    await r.stop();
    expect(r.stats.passes).toBe(1);
    expect(sent[0]!.ranges).toEqual([
      { from: 0, to: 49 },
      { from: 50, to: 99 },
      { from: 100, to: 149 },
      { from: 150, to: 199 },
    ]);
    const ids = sent.flatMap((q) => q.ids?.map((i) => i.id) ?? []);
    expect(ids).toEqual(expect.arrayContaining(['d17', 'd150']));
    expect(ids.length).toBeLessThanOrEqual(2 * 3);
    expect(new Set(sent.map((q) => q.passId)).size).toBe(1);
    expect(sent.every((q) => q.shard === 2 && q.leaderIndex === 'li')).toBe(true);
  });

  it('end after one level of counts when nothing differs', async () => {
    const events: string[] = [];
    const sent: ReconcileRequest[] = [];
    const ledger = new Map(Array.from({ length: 50 }, (_, i) => [`d${i}`, i * 2] as [string, number]));
    const r = new Reconciler(deps({ ledger: ledgerOf(ledger, events), producer: requestTopic(sent, events) }), spec);
    r.follow(() => ({ from: 0, to: 99 }));
    r.request(0, 'test');
    await converse(r, sent, ledger, () => r.stats.passes > 0);
    await r.stop();
    expect(r.stats).toMatchObject({ passes: 1, idsSent: 0, rangesCounted: 4 });
    expect(events).toEqual(['count', 'send', 'count']);
  });

  it('ignore counts of another pass, and give a pass up and ask again when no answer comes', async () => {
    const events: string[] = [];
    const sent: ReconcileRequest[] = [];
    const r = new Reconciler(deps({ ledger: ledgerOf(new Map([['a', 1]]), events), producer: requestTopic(sent, events), passTimeoutMs: 400 }), spec);
    r.follow(() => ({ from: 0, to: 10 }));
    r.request(0, 'test');
    await new Promise((res) => setTimeout(res, 50));
    await r.onLeaderCounts(0, { passId: 'someone-else', ranges: [{ from: 0, to: 10, count: 0 }] });
    await new Promise((res) => setTimeout(res, 550));
    await r.stop();
    expect(r.stats).toMatchObject({ passes: 0, abandoned: 1 });
    expect(events).toEqual(['count', 'send', 'count', 'send']);
    expect(new Set(sent.map((q) => q.passId)).size).toBe(2);
  });

  it('list a small shard whole, without asking for counts', async () => {
    const events: string[] = [];
    const sent: ReconcileRequest[] = [];
    const ledger = new Map(Array.from({ length: 25 }, (_, i) => [`d${i}`, i] as [string, number]));
    const r = new Reconciler(
      deps({ ledger: ledgerOf(ledger, events), producer: requestTopic(sent, events), bisect: { fanout: 4, leafDocs: 3, listBelowDocs: 100 } }),
      spec,
    );
    r.follow(() => ({ from: 0, to: 24 }));
    r.request(1, 'test');
    for (let i = 0; i < 100 && r.stats.passes === 0; i++) await new Promise((res) => setTimeout(res, 10));
    await r.stop();
    expect(r.stats).toMatchObject({ passes: 1, idsSent: 25, rangesCounted: 0 });
    expect(sent.every((q) => q.ranges === undefined)).toBe(true);
    expect(sent.flatMap((q) => q.ids!.map((i) => i.id))).toEqual([...ledger.keys()]);
  });

  it('wait while the leader side still has requests to check, then run', async () => {
    const events: string[] = [];
    const sent: ReconcileRequest[] = [];
    let pending = 3;
    const r = new Reconciler(
      deps({
        ledger: ledgerOf(new Map([['a', 0]]), events),
        producer: requestTopic(sent, events),
        backlog: async () => {
          events.push(`backlog ${pending}`);
          return pending;
        },
      }),
      spec,
    );
    r.follow(() => ({ from: 0, to: 0 }));
    r.request(0, 'test');
    await new Promise((res) => setTimeout(res, 1200));
    expect(sent).toEqual([]);
    pending = 0;
    await new Promise((res) => setTimeout(res, 800));
    expect(sent.map((q) => q.ranges)).toEqual([[{ from: 0, to: 0 }]]);
    expect(events.slice(0, 3)).toEqual(['backlog 3', 'backlog 3', 'backlog 3']);
    await r.stop();
  });
});
