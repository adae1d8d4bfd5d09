import { describe, expect, it } from 'vitest';
import { leaderSource } from '../../shared/leader-source.js';
import { sourceNotes, sourceRecord, unreplicable, vectorFields } from './index-features.js';

/** A leader index as GET /<index> describes it: settings nested under `index`'s content, mappings as given. */
const meta = (mappings: Record<string, unknown> = {}, settings: Record<string, unknown> = {}, name = 'logs') => ({ name, mappings, settings, aliases: {} });

describe('leaderSource: how a leader index keeps _source', () => {
  it('stored unless the index says otherwise', () => {
    expect(leaderSource(meta({ properties: {} }))).toEqual({ mode: 'stored', includes: [], excludes: [] });
    expect(leaderSource(meta({ _source: { enabled: true } })).mode).toBe('stored');
    expect(leaderSource(meta({ _source: { mode: 'stored' } })).mode).toBe('stored');
  });

  it('disabled by _source.enabled false, the mapping mode, or the index setting (nested or flat)', () => {
    expect(leaderSource(meta({ _source: { enabled: false } })).mode).toBe('disabled');
    expect(leaderSource(meta({ _source: { mode: 'disabled' } })).mode).toBe('disabled');
    expect(leaderSource(meta({}, { mapping: { source: { mode: 'disabled' } } })).mode).toBe('disabled');
    expect(leaderSource(meta({}, { 'mapping.source.mode': 'DISABLED' })).mode).toBe('disabled');
    // Either declaration saying disabled wins: the leader never kept what the other one promises.
    expect(leaderSource(meta({ _source: { mode: 'disabled' } }, { mapping: { source: { mode: 'stored' } } })).mode).toBe('disabled');
  });

  it('synthetic by the mapping mode, the index setting, or by default in the logsdb and time_series index modes', () => {
    expect(leaderSource(meta({ _source: { mode: 'synthetic' } })).mode).toBe('synthetic');
    expect(leaderSource(meta({}, { mapping: { source: { mode: 'synthetic' } } })).mode).toBe('synthetic');
    expect(leaderSource(meta({}, { 'index.mapping.source.mode': 'synthetic' })).mode).toBe('synthetic');
    expect(leaderSource(meta({}, { mode: 'logsdb' })).mode).toBe('synthetic');
    expect(leaderSource(meta({}, { mode: 'time_series' })).mode).toBe('synthetic');
    expect(leaderSource(meta({}, { mode: 'logsdb', mapping: { source: { mode: 'stored' } } })).mode).toBe('stored');
    expect(leaderSource(meta({}, { mode: 'standard' })).mode).toBe('stored');
  });

  it("synthetic by OpenSearch 3's derived source (nested, as GET /<index> gives it, or flat)", () => {
    expect(leaderSource(meta({}, { derived_source: { enabled: 'true' } })).mode).toBe('synthetic');
    expect(leaderSource(meta({}, { 'index.derived_source.enabled': true })).mode).toBe('synthetic');
    expect(leaderSource(meta({}, { derived_source: { enabled: 'false' } })).mode).toBe('stored');
    expect(leaderSource(meta({ _source: { enabled: false } }, { derived_source: { enabled: 'true' } })).mode).toBe('disabled');
  });

  it('includes and excludes of a stored source', () => {
    expect(leaderSource(meta({ _source: { includes: ['a.*'], excludes: ['secret'] } }))).toEqual({ mode: 'stored', includes: ['a.*'], excludes: ['secret'] });
  });
});

describe('unreplicable: what a start refuses, with the reason and what to do', () => {
  it('accepts a stored or synthetic source', () => {
    expect(unreplicable('logs', meta({ properties: {} }))).toBeUndefined();
    expect(unreplicable('logs', meta({ _source: { enabled: true } }))).toBeUndefined();
    expect(unreplicable('logs', meta({ _source: { mode: 'synthetic' } }))).toBeUndefined();
    expect(unreplicable('logs', meta({}, { mapping: { source: { mode: 'synthetic' } } }))).toBeUndefined();
  });

  it('refuses a disabled source in every spelling, accepted partial source or not', () => {
    for (const m of [meta({ _source: { enabled: false } }), meta({ _source: { mode: 'disabled' } }), meta({}, { mapping: { source: { mode: 'disabled' } } })]) {
      expect(unreplicable('logs', m)).toMatch(/^leader index logs has _source disabled; .* index the data into a leader index that keeps _source/);
      expect(unreplicable('logs', m, { partialSource: true })).toMatch(/_source disabled/);
    }
  });

  it('refuses a partial source naming the fields and how to accept it; accepts it when asked', () => {
    const partial = meta({ _source: { includes: ['keep.*'], excludes: ['secret.*'] } });
    const refusal = unreplicable('logs', partial);
    expect(refusal).toMatch(/only part of _source \(_source includes: "keep\.\*"; excludes: "secret\.\*"\)/);
    expect(refusal).toMatch(
      /"accept_partial_source": true \(kccr start --accept-partial-source; in an auto-follow rule, "accept_partial_source": true or kccr autofollow add --accept-partial-source\)/,
    );
    expect(unreplicable('logs', partial, { partialSource: true })).toBeUndefined();
    expect(unreplicable('logs', partial, { partialSource: false })).toBe(refusal);
  });

  it('refuses an alias or a data stream name, naming the concrete index', () => {
    expect(unreplicable('logs', { ...meta({}, {}, 'logs-000002'), aliases: { logs: {} } })).toBe(
      `leader index logs is an alias (it resolves to logs-000002); replicate the concrete index (leader_index "logs-000002"): the follower index gets the leader index's aliases`,
    );
    expect(unreplicable('logs', meta({}, {}, '.ds-logs-2026.11.29-000001'))).toMatch(
      /^leader index logs is a data stream \(its write index now is \.ds-logs-2026\.11\.29-000001\); .*add an auto-follow rule whose pattern matches "logs"/,
    );
  });
});

describe('sourceRecord and sourceNotes: what an accepted start records and says', () => {
  it('records nothing for a plain stored source', () => {
    expect(sourceRecord(meta({ properties: {} }))).toEqual({});
    expect(sourceNotes({ leaderIndex: 'logs' })).toEqual([]);
  });

  it('records an accepted partial source and says what the follower lacks', () => {
    const record = sourceRecord(meta({ _source: { excludes: ['secret'] } }));
    expect(record).toEqual({ partialSource: { includes: [], excludes: ['secret'] } });
    expect(sourceNotes({ leaderIndex: 'logs', ...record })).toEqual([
      `partial _source accepted: the follower holds what leader index logs's _source keeps (excludes: "secret"); fields it leaves out are neither in the follower's documents nor searchable there`,
    ]);
  });

  it('records a synthetic source and says what is kept and what is as the leader rebuilds it', () => {
    const record = sourceRecord(meta({}, { mode: 'logsdb' }));
    expect(record).toEqual({ syntheticSource: true });
    const [note] = sourceNotes({ leaderIndex: 'logs', ...record });
    expect(note).toMatch(
      /^leader index logs has synthetic _source: the follower gets the same mapping .* the values are kept, while key order, array order and duplicates, and number and date formatting are as the leader's synthetic _source gives them/,
    );
  });
});

describe('vector fields kept out of _source (Elasticsearch 9.2 and later)', () => {
  const mappings = {
    properties: {
      title: { type: 'text' },
      embedding: { type: 'dense_vector', dims: 3 },
      parts: { properties: { tokens: { type: 'sparse_vector' }, colbert: { type: 'rank_vectors' } } },
    },
  };
  const meta = { name: 'docs', mappings, settings: {}, aliases: {} };

  it('finds the vector fields of a mapping, objects walked', () => {
    expect(vectorFields(mappings)).toEqual(['embedding', 'parts.tokens', 'parts.colbert']);
    expect(vectorFields({ properties: { a: { type: 'keyword' } } })).toEqual([]);
    expect(vectorFields(undefined)).toEqual([]);
  });

  it('refuses them when the leader keeps vectors out of _source, naming the fields, the setting and both ways on', () => {
    const why = unreplicable('docs', meta, {}, { excludeSourceVectors: true });
    expect(why).toMatch(
      /^leader index docs keeps the values of its vector fields \("embedding", "parts.tokens", "parts.colbert"\) out of _source \(index.mapping.exclude_source_vectors/,
    );
    expect(why).toMatch(/"index.mapping.exclude_source_vectors": false \(reindex into it\).*"accept_partial_source": true/);
    // Kept in _source (set so, an older index, an engine without the setting): replicated whole.
    expect(unreplicable('docs', meta, {}, { excludeSourceVectors: false })).toBeUndefined();
    expect(unreplicable('docs', meta)).toBeUndefined();
  });

  it('replicates them without the vectors once accepted, and records the vector fields as left out', () => {
    expect(unreplicable('docs', meta, { partialSource: true }, { excludeSourceVectors: true })).toBeUndefined();
    expect(sourceRecord(meta, { excludeSourceVectors: true })).toEqual({
      partialSource: { includes: [], excludes: ['embedding', 'parts.tokens', 'parts.colbert'] },
    });
    const both = { ...meta, mappings: { ...mappings, _source: { excludes: ['secret'] } } };
    expect(sourceRecord(both, { excludeSourceVectors: true })).toEqual({
      partialSource: { includes: [], excludes: ['secret', 'embedding', 'parts.tokens', 'parts.colbert'] },
    });
    expect(sourceRecord(meta, { excludeSourceVectors: false })).toEqual({});
  });
});
