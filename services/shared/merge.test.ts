import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ID_TEMPLATE,
  idTemplateProblem,
  leaderIdOf,
  mappingConflicts,
  mergedId,
  mergedSourceName,
  originFieldProblem,
  originMapping,
  sourceWriter,
  withOrigin,
} from './merge.js';
import { INDEX_NAME } from './rows.js';

const a = { leaderCluster: 'leader1', leaderIndex: 'orders' };
const b = { leaderCluster: 'leader2', leaderIndex: 'orders' };

describe('merged ids', () => {
  it('namespaces ids per source by the default template, and maps them back', () => {
    expect(mergedId(DEFAULT_ID_TEMPLATE, a, '1')).toBe('leader1:orders:1');
    expect(mergedId(DEFAULT_ID_TEMPLATE, b, '1')).toBe('leader2:orders:1');
    expect(leaderIdOf(DEFAULT_ID_TEMPLATE, a, 'leader1:orders:1')).toBe('1');
    expect(leaderIdOf(DEFAULT_ID_TEMPLATE, a, 'leader1:orders:a:b')).toBe('a:b');
    expect(leaderIdOf(DEFAULT_ID_TEMPLATE, a, 'leader2:orders:1')).toBeUndefined();
  });

  it('takes custom templates that keep sources apart', () => {
    const t = 'x/{{leader_index}}|{{leader_cluster}}#{{id}}';
    expect(idTemplateProblem(t)).toBeUndefined();
    expect(mergedId(t, a, '7')).toBe('x/orders|leader1#7');
    expect(leaderIdOf(t, a, 'x/orders|leader1#7')).toBe('7');
  });

  it('refuses templates that could make two sources collide or could not be mapped back', () => {
    expect(idTemplateProblem(DEFAULT_ID_TEMPLATE)).toBeUndefined();
    expect(idTemplateProblem('{{leader_cluster}}:{{id}}')).toMatch(/\{\{leader_index\}\} exactly once/);
    expect(idTemplateProblem('{{id}}:{{leader_cluster}}:{{leader_index}}')).toMatch(/end with \{\{id\}\}/);
    expect(idTemplateProblem('{{leader_cluster}}-{{leader_index}}-{{id}}')).toMatch(/separate/);
    expect(idTemplateProblem('{{id}}{{id}}{{leader_cluster}}:{{leader_index}}:')).toMatch(/\{\{id\}\} exactly once/);
  });

  it('names each source of a merged index with a name the routes and the ledger take', () => {
    const name = mergedSourceName('orders-all', a);
    expect(name).toBe('orders-all@leader1@orders');
    expect(INDEX_NAME.test(name)).toBe(true);
  });
});

describe('provenance', () => {
  it('is inserted first, and every other byte is the leader\u2019s', () => {
    const src = Buffer.from('{"value":"data1","n":1}');
    const out = withOrigin(src, '_kccr.origin', a);
    expect(out.toString()).toBe('{"_kccr":{"origin":{"cluster":"leader1","index":"orders"}},"value":"data1","n":1}');
    expect(JSON.parse(out.toString())).toEqual({ _kccr: { origin: { cluster: 'leader1', index: 'orders' } }, value: 'data1', n: 1 });
  });

  it('handles empty objects, whitespace and other field paths', () => {
    expect(withOrigin(Buffer.from(' { } '), 'src', a).toString()).toBe(' {"src":{"cluster":"leader1","index":"orders"} } ');
    expect(withOrigin(Buffer.from('{\n  "x": 1\n}'), 'a.b.c', a).toString()).toBe('{"a":{"b":{"c":{"cluster":"leader1","index":"orders"}}},\n  "x": 1\n}');
    expect(() => withOrigin(Buffer.from('[1]'), 'src', a)).toThrow(/not a JSON object/);
  });

  it('is written by sourceWriter exactly as by mergedId and withOrigin', () => {
    const w = sourceWriter({ idTemplate: DEFAULT_ID_TEMPLATE, originField: '_kccr.origin' }, a);
    for (const s of ['{"x":1}', '{}', ' {\n"y":[1,2]}']) expect(w.source(Buffer.from(s)).equals(withOrigin(Buffer.from(s), '_kccr.origin', a))).toBe(true);
    expect(w.id('9')).toBe(mergedId(DEFAULT_ID_TEMPLATE, a, '9'));
  });

  it('tells a document that holds a field of the provenance name, as a key or dotted, not as text', () => {
    const w = sourceWriter({ idTemplate: DEFAULT_ID_TEMPLATE, originField: '_kccr.origin' }, a);
    expect(w.claimsOrigin(Buffer.from('{"_kccr":{"origin":{"cluster":"x"}}}'))).toBe(true);
    expect(w.claimsOrigin(Buffer.from('{"v":1,"_kccr.origin.cluster":"x"}'))).toBe(true);
    expect(w.claimsOrigin(Buffer.from('{"a":{"_kccr":1}}'))).toBe(true);
    expect(w.claimsOrigin(Buffer.from(String.raw`{"v":"say \"_kccr\" here","_kccrx":1}`))).toBe(false);
    expect(w.claimsOrigin(Buffer.from(String.raw`{"v":"a\\","_kccr":1}`))).toBe(true);
    expect(w.claimsOrigin(Buffer.from('{"kccr":1,"origin":2}'))).toBe(false);
  });

  it('keeps multi-byte text as it was', () => {
    const src = Buffer.from('{"t":"\u00e9\u6f22\ud83d\ude00"}');
    const out = withOrigin(src, 'o', b);
    expect(out.subarray(out.length - src.length + 1).equals(src.subarray(1))).toBe(true);
  });

  it('is mapped as keywords at the field path', () => {
    expect(originMapping('_kccr.origin')).toEqual({
      properties: { _kccr: { properties: { origin: { properties: { cluster: { type: 'keyword' }, index: { type: 'keyword' } } } } } },
    });
    expect(originMapping('src')).toEqual({ properties: { src: { properties: { cluster: { type: 'keyword' }, index: { type: 'keyword' } } } } });
    expect(originFieldProblem('_kccr.origin')).toBeUndefined();
    expect(originFieldProblem('a..b')).toMatch(/dotted field path/);
    expect(originFieldProblem('a b')).toMatch(/dotted field path/);
  });
});

describe('mapping conflicts between sources', () => {
  it('names the field and both types, nested fields by their path', () => {
    const existing = { properties: { price: { type: 'long' }, tags: { type: 'keyword' }, addr: { properties: { zip: { type: 'keyword' } } } } };
    const incoming = {
      properties: { price: { type: 'keyword' }, tags: { type: 'keyword' }, addr: { properties: { zip: { type: 'long' } } }, more: { type: 'text' } },
    };
    expect(mappingConflicts(existing, incoming)).toEqual([
      { field: 'price', existing: 'long', incoming: 'keyword' },
      { field: 'addr.zip', existing: 'keyword', incoming: 'long' },
    ]);
    expect(mappingConflicts(existing, { properties: { addr: { type: 'keyword' } } })).toEqual([{ field: 'addr', existing: 'object', incoming: 'keyword' }]);
    expect(mappingConflicts(undefined, incoming)).toEqual([]);
  });
});
