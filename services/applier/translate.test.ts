import { describe, expect, it } from 'vitest';
import { describeLeftOut, flatSettings, inexpressible, leaveOut, readRefusal, withoutLeftOut } from './translate.js';

describe('readRefusal', () => {
  it('reads the refusals of Elasticsearch and OpenSearch about what they do not know', () => {
    expect(
      readRefusal(
        'illegal_argument_exception: unknown setting [index.search.concurrent_segment_search.enabled] please check that any required plugins are installed',
      ),
    ).toEqual({ kind: 'setting', name: 'index.search.concurrent_segment_search.enabled' });
    expect(
      readRefusal('mapper_parsing_exception: Failed to parse mapping: unknown parameter [time_series_dimension] on mapper [host] of type [keyword]'),
    ).toEqual({
      kind: 'parameter',
      field: 'host',
      name: 'time_series_dimension',
    });
    expect(readRefusal('Mapping definition for [_source] has unsupported parameters:  [mode : synthetic]')).toEqual({
      kind: 'parameter',
      field: '_source',
      name: 'mode',
    });
    expect(readRefusal('Root mapping definition has unsupported parameters:  [subobjects : false] [x : y]')).toEqual({
      kind: 'parameter',
      field: '',
      name: 'subobjects',
    });
    expect(readRefusal('mapper_parsing_exception: No handler for type [flattened] declared on field [labels]')).toEqual({
      kind: 'type',
      type: 'flattened',
      field: 'labels',
    });
    expect(
      readRefusal(
        'mapper_parsing_exception: Failed to parse mapping: The mapper type [flat_object] declared on field [labels] does not exist. It might have been created within a future version or requires a plugin to be installed.',
      ),
    ).toEqual({ kind: 'type', type: 'flat_object', field: 'labels' });
  });

  it('reads nothing from a refusal that is not about something unknown', () => {
    expect(readRefusal('mapper_parsing_exception: failed to parse field [n] of type [long]')).toBeUndefined();
    expect(readRefusal('illegal_argument_exception: Failed to parse value [x] for setting [index.number_of_replicas]')).toBeUndefined();
  });
});

describe('leaveOut', () => {
  const meta = {
    settings: { number_of_shards: '2', search: { concurrent_segment_search: { enabled: 'true' }, idle: { after: '30s' } } },
    mappings: {
      _source: { mode: 'synthetic' },
      subobjects: false,
      properties: {
        host: { type: 'keyword', time_series_dimension: true },
        obj: { properties: { host: { type: 'keyword', ignore_above: 10 } } },
        title: { type: 'text', fields: { raw: { type: 'keyword', time_series_dimension: true } } },
      },
    },
  };

  it('leaves out a setting, named with or without index., and gives the settings back flat', () => {
    const r = leaveOut(meta, { kind: 'setting', name: 'index.search.concurrent_segment_search.enabled' })!;
    expect(r.settings).toEqual({ number_of_shards: '2', 'search.idle.after': '30s' });
    expect(r.item).toEqual({ kind: 'setting', name: 'index.search.concurrent_segment_search.enabled' });
    expect(describeLeftOut(r.item)).toBe('setting index.search.concurrent_segment_search.enabled');
    expect(r.mappings).toBe(meta.mappings);
  });

  it('leaves out a parameter of the first field so named that has it (full path, leaf name, multi-field), without changing the input', () => {
    const r = leaveOut(meta, { kind: 'parameter', field: 'raw', name: 'time_series_dimension' })!;
    expect(r.item).toEqual({ kind: 'parameter', field: 'title.raw', name: 'time_series_dimension' });
    expect(describeLeftOut(r.item)).toBe('mapping parameter title.raw.time_series_dimension');
    expect((r.mappings as typeof meta.mappings).properties.title.fields.raw).toEqual({ type: 'keyword' });
    expect(meta.mappings.properties.title.fields.raw).toHaveProperty('time_series_dimension');
    const nested = leaveOut(meta, { kind: 'parameter', field: 'host', name: 'ignore_above' })!;
    expect(nested.item).toEqual({ kind: 'parameter', field: 'obj.host', name: 'ignore_above' });
  });

  it('leaves out a parameter of the root or of a metadata field', () => {
    expect(leaveOut(meta, { kind: 'parameter', field: '', name: 'subobjects' })!.mappings).not.toHaveProperty('subobjects');
    const r = leaveOut(meta, { kind: 'parameter', field: '_source', name: 'mode' })!;
    expect(r.mappings._source).toEqual({});
    expect(describeLeftOut(r.item)).toBe('mapping parameter _source.mode');
  });

  it('gives nothing for what is not there, and never leaves out a type', () => {
    expect(leaveOut(meta, { kind: 'setting', name: 'index.unknown' })).toBeUndefined();
    expect(leaveOut(meta, { kind: 'parameter', field: 'host', name: 'nope' })).toBeUndefined();
    expect(leaveOut(meta, { kind: 'type', field: 'host', type: 'flattened' })).toBeUndefined();
  });

  it('leaves out again what was left out before (a later mapping update of the leader)', () => {
    const again = withoutLeftOut(meta, [
      { kind: 'setting', name: 'index.search.idle.after' },
      { kind: 'parameter', field: 'host', name: 'time_series_dimension' },
      { kind: 'parameter', field: 'gone', name: 'x' },
    ]);
    expect(again.settings).toEqual({ number_of_shards: '2', 'search.concurrent_segment_search.enabled': 'true' });
    expect((again.mappings as typeof meta.mappings).properties.host).toEqual({ type: 'keyword' });
    expect(withoutLeftOut(meta, [])).toBe(meta);
  });
});

describe('inexpressible', () => {
  it('names the field, its type, the follower and what to do', () => {
    expect(inexpressible({ kind: 'type', field: 'labels', type: 'flattened' }, 'opensearch 2.19.4')).toMatch(
      /field \[labels\] has type \[flattened\], which it does not know.*opensearch 2\.19\.4|opensearch 2\.19\.4.*field \[labels\]/,
    );
  });
});

describe('flatSettings', () => {
  it('flattens nested settings to dotted keys', () => {
    expect(flatSettings({ a: { b: 1, c: { d: 'x' } }, e: [1] })).toEqual({ 'a.b': 1, 'a.c.d': 'x', e: [1] });
  });
});
