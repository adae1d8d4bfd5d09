import { describe, expect, it } from 'vitest';
import { checkFamily, family, Histogram, render } from './exposition.js';

describe('Prometheus text exposition', () => {
  it('renders HELP, TYPE and samples, escaping label values, and leaves unknown values out', () => {
    const f = family('kccr_x_total', 'counter', 'Things\ncounted');
    f.add({ index: 'a"b\\c\nd' }, 3);
    f.add({ index: 'unknown' }, null);
    f.add({}, 1.5);
    expect(render([f.done()])).toBe(
      ['# HELP kccr_x_total Things\\ncounted', '# TYPE kccr_x_total counter', 'kccr_x_total{index="a\\"b\\\\c\\nd"} 3', 'kccr_x_total 1.5', ''].join('\n'),
    );
  });

  it('writes infinities and NaN as Prometheus spells them', () => {
    const f = family('kccr_y', 'gauge', 'y');
    f.add({ a: '1' }, Infinity);
    f.add({ a: '2' }, -Infinity);
    f.add({ a: '3' }, NaN);
    expect(render([f.done()]).split('\n').slice(2, 5)).toEqual(['kccr_y{a="1"} +Inf', 'kccr_y{a="2"} -Inf', 'kccr_y{a="3"} NaN']);
  });

  it('refuses names that break the naming rules', () => {
    const bad =
      (name: string, type: 'gauge' | 'counter', labels: Record<string, string> = {}) =>
      () =>
        checkFamily({ name, type, help: 'h', samples: [{ labels, value: 1 }] });
    expect(bad('x_total', 'counter')).toThrow(/kccr_/);
    expect(bad('kccr_count', 'counter')).toThrow(/must end in _total/);
    expect(bad('kccr_level_total', 'gauge')).toThrow(/is a gauge/);
    expect(bad('kccr_ok', 'gauge', { 'bad-label': 'v' })).toThrow(/label name/);
    expect(bad('kccr_ok', 'gauge', { __reserved: 'v' })).toThrow(/label name/);
    expect(bad('kccr_ok', 'gauge', { fine: 'v' })).not.toThrow();
  });

  it('renders nothing for no families', () => {
    expect(render([])).toBe('');
  });
});

describe('Histogram', () => {
  it('renders cumulative buckets, +Inf, sum and count per label set', () => {
    const h = new Histogram('kccr_x_duration_seconds', 'x', [0.1, 1]);
    h.observe({ index: 'a' }, 0.05);
    h.observe({ index: 'a' }, 0.5);
    h.observe({ index: 'a' }, 3);
    expect(render([h.family()]).split('\n')).toEqual([
      '# HELP kccr_x_duration_seconds x',
      '# TYPE kccr_x_duration_seconds histogram',
      'kccr_x_duration_seconds_bucket{index="a",le="0.1"} 1',
      'kccr_x_duration_seconds_bucket{index="a",le="1"} 2',
      'kccr_x_duration_seconds_bucket{index="a",le="+Inf"} 3',
      'kccr_x_duration_seconds_sum{index="a"} 3.55',
      'kccr_x_duration_seconds_count{index="a"} 3',
      '',
    ]);
    h.forget((l) => l.index === 'a');
    expect(h.family().samples).toEqual([]);
  });

  it('must be in a base unit', () => {
    expect(() => render([new Histogram('kccr_x_duration', 'x').family()])).toThrow(/base unit/);
  });
});
