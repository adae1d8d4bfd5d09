import { describe, expect, it } from 'vitest';
import type { RawHit } from '../shared/raw-hits.js';
import { judge } from './verify.js';

const hit = (over: Partial<RawHit> = {}): RawHit => ({
  id: 'a',
  routing: null,
  seqNo: 7,
  primaryTerm: 1,
  found: true,
  source: Buffer.from('{"n":1.0}'),
  sort: null,
  ...over,
});

describe('judging a follower copy against the leader document', () => {
  it('passes a copy with the same bytes and routing', () => {
    expect(judge(hit(), hit({ seqNo: 3 }))).toBeNull();
    expect(judge(hit({ source: null }), hit({ source: null }))).toBeNull();
  });

  it('compares bytes, not meaning: 1.0 and 1 differ, as key order does', () => {
    expect(judge(hit(), hit({ source: Buffer.from('{"n":1}') }))).toMatchObject({
      kind: 'different',
      detail: expect.stringMatching(/^_source differs: leader 9 bytes sha256 [0-9a-f]{16}, follower 7 bytes/),
    });
    expect(judge(hit({ source: Buffer.from('{"a":1,"b":2}') }), hit({ source: Buffer.from('{"b":2,"a":1}') }))?.kind).toBe('different');
    expect(judge(hit(), hit({ source: null }))?.detail).toMatch(/follower no _source/);
  });

  it('says what is missing or routed elsewhere', () => {
    expect(judge(hit(), hit({ found: false }))).toEqual({ kind: 'missing', detail: 'on the leader (seq_no 7), not on the follower' });
    expect(judge(hit({ routing: 'r1' }), hit({ routing: null }))).toEqual({ kind: 'different', detail: '_routing differs: leader "r1", follower null' });
  });
});
