/**
 * The core claim, as a property: for any interleaving of index, update and delete operations on a leader shard,
 * of the extractor's reads, of reconciliation passes and of replays of any part of the topic any number of times,
 * applying the topic in partition order with external versions leaves the follower with the leader's documents.
 *
 * The leader and the extractor are modelled as kccr sees them through the public API (a read returns each live
 * document once, at its latest _seq_no, up to the global checkpoint; deletes are invisible and found by
 * reconciliation, versioned with the reading before the check + 1). The envelopes are made by the real envelope
 * builders, the _bulk body by the applier's real bulkBody, and each item's result is judged by its real classify;
 * the follower is a model of Elasticsearch's external versioning (a write whose version is not above the document's
 * or its tombstone's is refused with 409; a delete leaves a tombstone with its version, kept by gc_deletes).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deleteEvent, indexEvent } from '../shared/envelope.js';
import type { ChangeEnvelope, OriginBase } from '../shared/envelope.js';
import { bulkBody, classify } from './bulk.js';

const BASE: OriginBase = { cluster: 'lc', index: 'orders', indexUuid: 'u', historyUuid: 'h', shard: 0 };
const FOLLOWER = 'orders';

type Step =
  | { readonly kind: 'write'; readonly id: number; readonly value: number }
  | { readonly kind: 'delete'; readonly id: number }
  | { readonly kind: 'read' }
  | { readonly kind: 'reconcile' }
  | { readonly kind: 'apply' }
  | { readonly kind: 'replay'; readonly from: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('write' as const), id: fc.integer({ min: 0, max: 7 }), value: fc.integer({ min: 0, max: 1000 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'read' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reconcile' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'apply' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('replay' as const), from: fc.nat() }) },
);

/** The leader shard as the public API shows it: live documents with their _seq_no; deletes leave nothing to read. */
class Leader {
  private seq = -1;
  readonly docs = new Map<string, { seqNo: number; source: string }>();

  write(id: string, value: number): void {
    this.docs.set(id, { seqNo: ++this.seq, source: JSON.stringify({ id, value }) });
  }

  delete(id: string): void {
    if (this.docs.delete(id)) this.seq++;
  }

  get globalCheckpoint(): number {
    return this.seq;
  }
}

/** The follower index as Elasticsearch keeps it under external versioning. */
class Follower {
  readonly docs = new Map<string, { version: number; source: string | null }>();

  /** One _bulk request: the body as the applier builds it; each item's status as Elasticsearch would answer it. */
  bulk(body: Buffer): { action: 'index' | 'delete'; status: number }[] {
    const lines = body.toString('utf8').split('\n');
    const results: { action: 'index' | 'delete'; status: number }[] = [];
    for (let i = 0; i < lines.length && lines[i] !== ''; i++) {
      const meta = JSON.parse(lines[i]!) as {
        index?: { _id: string; version: number; version_type: string };
        delete?: { _id: string; version: number; version_type: string };
      };
      const action = meta.index ? 'index' : 'delete';
      const m = (meta.index ?? meta.delete)!;
      expect(m.version_type).toBe('external');
      const held = this.docs.get(m._id);
      const source = action === 'index' ? lines[++i]! : null;
      if (held && held.version >= m.version) {
        results.push({ action, status: 409 });
        continue;
      }
      this.docs.set(m._id, { version: m.version, source });
      results.push({ action, status: action === 'delete' && (!held || held.source === null) ? 404 : action === 'index' && !held ? 201 : 200 });
    }
    return results;
  }

  live(): Map<string, string> {
    return new Map([...this.docs].filter(([, d]) => d.source !== null).map(([id, d]) => [id, d.source!]));
  }
}

/** The extractor: reads what changed since its cursor, up to the global checkpoint it read; keeps that reading. */
class Extractor {
  private cursor = -1;
  reading = -1;

  read(leader: Leader, topic: ChangeEnvelope[]): void {
    this.reading = leader.globalCheckpoint;
    const changed = [...leader.docs].filter(([, d]) => d.seqNo > this.cursor && d.seqNo <= this.reading).sort(([, a], [, b]) => a.seqNo - b.seqNo);
    for (const [id, d] of changed) topic.push(indexEvent(BASE, { id, routing: null, source: Buffer.from(d.source), seqNo: d.seqNo, primaryTerm: 1 }, 0));
    this.cursor = this.reading;
  }

  /** A pass over the ids the follower holds: those gone from the leader get a DELETE versioned reading + 1. */
  reconcile(leader: Leader, held: readonly string[], topic: ChangeEnvelope[]): void {
    for (const id of held) if (!leader.docs.has(id)) topic.push(deleteEvent(BASE, id, null, this.reading, 0));
  }
}

/** The applier: applies the topic from its position, in order, in _bulk requests of a few records. */
function applyFrom(topic: readonly ChangeEnvelope[], from: number, follower: Follower): void {
  for (let at = from; at < topic.length; at += 3) {
    const writes = topic.slice(at, at + 3).map((envelope, i) => ({ envelope, offset: String(at + i) }));
    for (const r of follower.bulk(bulkBody(FOLLOWER, writes))) expect(['applied', 'skipped']).toContain(classify(r));
  }
}

describe('convergence: any history, any replays, the follower ends as the leader', () => {
  it('holds for random interleavings of writes, deletes, reads, reconciliation, applies and replays', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 80 }), (steps) => {
        const leader = new Leader();
        const follower = new Follower();
        const extractor = new Extractor();
        const topic: ChangeEnvelope[] = [];
        let applied = 0;
        const apply = () => {
          applyFrom(topic, applied, follower);
          applied = topic.length;
        };
        for (const s of steps) {
          if (s.kind === 'write') leader.write(`d${s.id}`, s.value);
          else if (s.kind === 'delete') leader.delete(`d${s.id}`);
          else if (s.kind === 'read') extractor.read(leader, topic);
          else if (s.kind === 'reconcile') extractor.reconcile(leader, [...follower.live().keys()], topic);
          else if (s.kind === 'apply') apply();
          // A replay: the position moved back (a restart before a commit, an operator's earliest or a time).
          else if (topic.length > 0) applyFrom(topic, s.from % topic.length, follower);
        }
        // Writes stop: the extractor catches up, the applier applies, a pass with the latest reading finds the rest.
        extractor.read(leader, topic);
        apply();
        extractor.reconcile(leader, [...follower.live().keys()], topic);
        apply();
        const expected = new Map([...leader.docs].map(([id, d]) => [id, d.source]));
        expect(follower.live()).toEqual(expected);
        // And a replay of the whole topic afterwards changes nothing.
        applyFrom(topic, 0, follower);
        expect(follower.live()).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('never lets a reconciled delete remove a document created again after the reading', () => {
    const leader = new Leader();
    const follower = new Follower();
    const extractor = new Extractor();
    const topic: ChangeEnvelope[] = [];
    leader.write('a', 1);
    extractor.read(leader, topic);
    applyFrom(topic, 0, follower);
    leader.delete('a');
    extractor.reconcile(leader, ['a'], topic); // found gone: DELETE with the reading (0) + 1
    leader.write('a', 2); // created again, _seq_no 2, after that reading
    extractor.read(leader, topic);
    // The DELETE and the new version reach the follower in any order (the new one first, then a replayed DELETE).
    applyFrom(topic, 2, follower);
    applyFrom(topic, 0, follower);
    expect(follower.live()).toEqual(new Map([['a', JSON.stringify({ id: 'a', value: 2 })]]));
  });
});
