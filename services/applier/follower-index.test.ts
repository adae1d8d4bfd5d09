import { describe, expect, it } from 'vitest';
import { KccrError } from '../shared/errors.js';
import type { IndexMetadata } from '../shared/envelope.js';
import { aliasActions, applyMetadata, ensureFollowerIndex, keepVectorsInSource, leftOutList } from './follower-index.js';
import type { LeftOut } from './translate.js';

describe("the leader's aliases on a follower index", () => {
  it('adds each alias with its definition', () => {
    expect(aliasActions('logs-2', { all: {}, recent: { filter: { term: { x: 1 } } } }, {})).toEqual([
      { add: { index: 'logs-2', alias: 'all' } },
      { add: { index: 'logs-2', alias: 'recent', filter: { term: { x: 1 } } } },
    ]);
  });

  it("moves a rollover alias's write flag off the follower index that holds it, in the same request", () => {
    expect(aliasActions('logs-2', { logs: { is_write_index: true } }, { logs: 'logs-1' })).toEqual([
      { add: { index: 'logs-1', alias: 'logs', is_write_index: false } },
      { add: { index: 'logs-2', alias: 'logs', is_write_index: true } },
    ]);
    // Held by the index itself, or by none: nothing to move.
    expect(aliasActions('logs-2', { logs: { is_write_index: true } }, { logs: 'logs-2' })).toEqual([
      { add: { index: 'logs-2', alias: 'logs', is_write_index: true } },
    ]);
    // The old generation's own update (flag dropped) takes nothing from the new one.
    expect(aliasActions('logs-1', { logs: { is_write_index: false } }, { logs: 'logs-2' })).toEqual([
      { add: { index: 'logs-1', alias: 'logs', is_write_index: false } },
    ]);
  });

  it('after creating an index, sets only the aliases that carry the flag (the others came with the index)', () => {
    expect(aliasActions('logs-2', { all: {}, logs: { is_write_index: true } }, { logs: 'logs-1' }, true)).toEqual([
      { add: { index: 'logs-1', alias: 'logs', is_write_index: false } },
      { add: { index: 'logs-2', alias: 'logs', is_write_index: true } },
    ]);
  });
});

const meta = {
  settings: { number_of_shards: '1', check_pending_flush: { enabled: 'true' } },
  mappings: { properties: { host: { type: 'keyword', time_series_dimension: true } } },
  aliases: {},
} as unknown as IndexMetadata;

/** A follower that refuses what it does not know, as Elasticsearch 8.19 answers. */
function follower(unknownTypes: string[] = []) {
  const created: unknown[] = [];
  const refuse = (body: { settings?: { index?: Record<string, unknown> }; mappings?: unknown }) => {
    const settings = JSON.stringify(body.settings ?? {});
    const mappings = JSON.stringify(body.mappings ?? {});
    if (settings.includes('check_pending_flush'))
      throw new KccrError('ES_REJECTED', 'rejected (400): illegal_argument_exception: unknown setting [index.check_pending_flush.enabled] please check');
    if (mappings.includes('time_series_dimension'))
      throw new KccrError(
        'ES_REJECTED',
        'rejected (400): mapper_parsing_exception: unknown parameter [time_series_dimension] on mapper [host] of type [keyword]',
      );
    for (const t of unknownTypes)
      if (mappings.includes(`"${t}"`))
        throw new KccrError('ES_REJECTED', `rejected (400): mapper_parsing_exception: No handler for type [${t}] declared on field [labels]`);
  };
  return {
    created,
    indexExists: () => Promise.resolve(false),
    createIndex: (_: string, body: { settings?: { index?: Record<string, unknown> }; mappings?: unknown }) => {
      refuse(body);
      created.push(body);
      return Promise.resolve();
    },
    request: (_m: string, _p: string, opts?: { body?: unknown }) => {
      refuse({ mappings: opts?.body });
      return Promise.resolve({ status: 200, body: {} }) as never;
    },
    engine: () => Promise.resolve({ kind: 'elasticsearch' as const, version: '8.19.21' }),
  };
}

describe('the follower index on a follower that does not know everything of the leader', () => {
  it('is created without what the follower does not know, and says what was left out', async () => {
    const es = follower();
    const leftOut: LeftOut[] = [];
    expect(await ensureFollowerIndex(es, 'f', meta, undefined, '24h', leftOut)).toBe(true);
    expect(es.created).toEqual([
      { settings: { index: { number_of_shards: '1', gc_deletes: '24h' } }, mappings: { properties: { host: { type: 'keyword' } } }, aliases: {} },
    ]);
    expect(leftOutList(leftOut)).toEqual(['setting index.check_pending_flush.enabled', 'mapping parameter host.time_series_dimension']);
    // A later mapping update leaves the same out at once, and lists nothing twice.
    await applyMetadata(es, 'f', meta, leftOut);
    expect(leftOutList(leftOut)).toHaveLength(2);
  });

  it('fails with the reason when a field type cannot be expressed', async () => {
    const es = follower(['flattened']);
    const withType = { ...meta, settings: { number_of_shards: '1' }, mappings: { properties: { labels: { type: 'flattened' } } } } as unknown as IndexMetadata;
    await expect(ensureFollowerIndex(es, 'f', withType, undefined, '24h')).rejects.toThrow(
      /cannot be expressed on the follower \(elasticsearch 8\.19\.21\): field \[labels\] has type \[flattened\]/,
    );
    expect(es.created).toEqual([]);
  });
});

describe('vectors on an Elasticsearch 9 follower', () => {
  const mappings = { properties: { v: { type: 'dense_vector', dims: 3 }, t: { type: 'keyword' } } };
  const es9 = { kind: 'elasticsearch', version: '9.2.4' };

  it("keeps them in the follower's _source, unless the leader's settings say", () => {
    expect(keepVectorsInSource({ number_of_shards: '1' }, mappings, es9)).toEqual({ number_of_shards: '1', mapping: { exclude_source_vectors: 'false' } });
    expect(keepVectorsInSource({ mapping: { total_fields: { limit: '10' } } }, mappings, es9)).toEqual({
      mapping: { total_fields: { limit: '10' }, exclude_source_vectors: 'false' },
    });
    const leaders = { mapping: { exclude_source_vectors: 'true' } };
    expect(keepVectorsInSource(leaders, mappings, es9)).toBe(leaders);
  });

  it('changes nothing without vector fields, on Elasticsearch 8, on OpenSearch, or when the engine is unknown', () => {
    const s = { number_of_shards: '1' };
    expect(keepVectorsInSource(s, { properties: { t: { type: 'keyword' } } }, es9)).toBe(s);
    expect(keepVectorsInSource(s, mappings, { kind: 'elasticsearch', version: '8.19.21' })).toBe(s);
    expect(keepVectorsInSource(s, mappings, { kind: 'opensearch', version: '3.3.2' })).toBe(s);
    expect(keepVectorsInSource(s, mappings, undefined)).toBe(s);
  });
});
