import { describe, expect, it } from 'vitest';
import { mergeSettings, normalizeSettings } from './settings.js';

describe('normalizeSettings', () => {
  it('brings every spelling to flat names without the index. prefix', () => {
    expect(normalizeSettings({ index: { number_of_replicas: 0, refresh_interval: '1s' } })).toEqual({ number_of_replicas: 0, refresh_interval: '1s' });
    expect(normalizeSettings({ 'index.number_of_replicas': 0 })).toEqual({ number_of_replicas: 0 });
    expect(normalizeSettings({ number_of_replicas: '1', analysis: { analyzer: { a: { type: 'custom' } } } })).toEqual({
      number_of_replicas: '1',
      'analysis.analyzer.a.type': 'custom',
    });
    expect(normalizeSettings({})).toEqual({});
  });

  it('refuses what a follower cannot have, and names given twice', () => {
    expect(() => normalizeSettings({ index: { number_of_shards: 2 } })).toThrow(/shard count/);
    expect(() => normalizeSettings({ 'index.number_of_replicas': 0, index: { number_of_replicas: 1 } })).toThrow(/given twice/);
    expect(() => normalizeSettings({ index: {} })).toThrow(/empty object/);
    expect(() => normalizeSettings({ 'a..b': 1 })).toThrow(/not a setting name/);
  });

  it('refuses settings nested deeper than any index setting with a 400, not a stack overflow', () => {
    let deep: Record<string, unknown> = { v: 1 };
    for (let i = 0; i < 5000; i++) deep = { a: deep };
    expect(() => normalizeSettings(deep)).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringMatching(/nested deeper than 16 levels/) }),
    );
    expect(normalizeSettings({ index: { routing: { allocation: { include: { _name: 'n1' } } } } })).toEqual({ 'routing.allocation.include._name': 'n1' });
  });

  it('keeps a key such as __proto__ a plain key', () => {
    const out = normalizeSettings(JSON.parse('{"__proto__": {"polluted": 1}}') as Record<string, unknown>);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('mergeSettings', () => {
  it('lays an update over the stored settings; null removes one', () => {
    expect(mergeSettings({ a: 1, b: 2 }, { b: 3, a: null, c: 'x' })).toEqual({ b: 3, c: 'x' });
    expect(mergeSettings(undefined, { a: 1 })).toEqual({ a: 1 });
  });
});
