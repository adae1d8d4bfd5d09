import { describe, expect, it } from 'vitest';
import { KccrError } from './errors.js';
import { parseMgetResponse, parseSearchResponse } from './raw-hits.js';

/** A search response around raw hit texts, as Elasticsearch writes it (sources copied in raw). */
function searchBody(hits: string[], extra = ''): Buffer {
  return Buffer.from(
    `{"took":3,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},${extra}"hits":{"max_score":null,"hits":[${hits.join(',')}]}}`,
  );
}

function hit(id: string, source: string, more = ''): string {
  return `{"_index":"i","_id":${JSON.stringify(id)},"_seq_no":4,"_primary_term":2,"_score":null${more},"_source":${source},"sort":[4]}`;
}

describe('parseSearchResponse', () => {
  it('returns each _source as the exact bytes, with the hit fields parsed', () => {
    const source = '{"a":1.0,"big":12345678901234567890,"neg":-0.50e+10,"t":true,"n":null}';
    const page = parseSearchResponse(searchBody([hit('d1', source, ',"_routing":"r1"')]));
    expect(page.hits).toHaveLength(1);
    const h = page.hits[0]!;
    expect(h).toMatchObject({ id: 'd1', routing: 'r1', seqNo: 4, primaryTerm: 2, found: true, sort: [4] });
    expect(h.source?.toString('utf8')).toBe(source);
    expect(page).toMatchObject({ pitId: null, total: null, timedOut: false, shards: { total: 1, successful: 1, failed: 0 } });
  });

  it('is not fooled by _source keys inside documents or inside strings', () => {
    const nested = '{"_source":{"_id":"fake","_source":"x"},"s":"\\"_source\\":{\\"_id\\":\\"y\\"}","arr":[{"_source":[1,{"}":"]"}]}]}';
    const tricky = '{"k":"}]}]","_routing":"not-the-routing"}';
    const page = parseSearchResponse(searchBody([hit('d1', nested), hit('d2', tricky)]));
    expect(page.hits.map((h) => h.id)).toEqual(['d1', 'd2']);
    expect(page.hits[0]?.source?.toString()).toBe(nested);
    expect(page.hits[1]?.source?.toString()).toBe(tricky);
    expect(page.hits[1]?.routing).toBeNull();
  });

  it('handles escaped quotes and backslashes, including a string ending in an escaped backslash', () => {
    const source = String.raw`{"q":"say \"hi\"","bs":"C:\\dir\\","mix":"\\\"","u":"\u00e9\ud83d\ude00"}`;
    const page = parseSearchResponse(searchBody([hit(String.raw`id "quoted" \ back`, source)]));
    expect(page.hits[0]?.id).toBe('id "quoted" \\ back');
    expect(page.hits[0]?.source?.toString()).toBe(source);
  });

  it('keeps unicode text byte for byte', () => {
    const source = '{"name":"Zoë – 東京 🚀","k":"ü"}';
    const body = searchBody([hit('naïve-ü', source)]);
    const h = parseSearchResponse(body).hits[0]!;
    expect(h.id).toBe('naïve-ü');
    expect(h.source?.equals(Buffer.from(source, 'utf8'))).toBe(true);
  });

  it('keeps a pretty-printed source with its newlines and indentation', () => {
    const source = '{\n  "x": 1.0,\n  "list": [\n    1,\n    2.50\n  ]\n}';
    const h = parseSearchResponse(searchBody([hit('p', source)])).hits[0]!;
    expect(h.source?.toString()).toBe(source);
  });

  it('reads a pretty-printed response (?pretty) the same way', () => {
    const body = Buffer.from(
      '{\n  "pit_id" : "pit==",\n  "hits" : {\n    "total" : {\n      "value" : 2,\n      "relation" : "eq"\n    },\n    "hits" : [\n      {\n        "_id" : "a",\n        "_source" : {\n          "v" : 1.0\n        },\n        "sort" : [ 7, 3 ]\n      }\n    ]\n  }\n}\n',
    );
    const page = parseSearchResponse(body);
    expect(page).toMatchObject({ pitId: 'pit==', total: 2 });
    expect(page.hits[0]).toMatchObject({ id: 'a', seqNo: -1, primaryTerm: 0, routing: null, sort: [7, 3] });
    expect(page.hits[0]?.source?.toString()).toBe('{\n          "v" : 1.0\n        }');
  });

  it('returns no hits for an empty page, and reads pit_id and the total', () => {
    const body = Buffer.from(
      '{"pit_id":"46ToAwMDaWR5BXV1aWQy==","took":1,"timed_out":false,"hits":{"total":{"value":0,"relation":"eq"},"max_score":null,"hits":[]}}',
    );
    expect(parseSearchResponse(body)).toEqual({ hits: [], pitId: '46ToAwMDaWR5BXV1aWQy==', total: 0, timedOut: false, shards: null });
    expect(parseSearchResponse(Buffer.from('{"hits":{"total":5,"hits":[]}}')).total).toBe(5);
  });

  it('reports a timed-out search and failed shards', () => {
    const body = Buffer.from('{"timed_out":true,"_shards":{"total":3,"successful":2,"skipped":0,"failed":1,"failures":[{"shard":1}]},"hits":{"hits":[]}}');
    expect(parseSearchResponse(body)).toMatchObject({ timedOut: true, shards: { total: 3, successful: 2, failed: 1 } });
  });

  it('skips the fields it does not need, whatever they hold', () => {
    const source = '{"v":2}';
    const more = ',"fields":{"_source":["x"]},"highlight":{"t":["<em>\\"_source\\"</em>"]},"_ignored":["a"]';
    const body = searchBody([hit('d', source, more)], '"aggregations":{"hits":{"hits":[{"_id":"agg"}]}},');
    const page = parseSearchResponse(body);
    expect(page.hits.map((h) => h.id)).toEqual(['d']);
    expect(page.hits[0]?.source?.toString()).toBe(source);
  });

  it('returns null source when the hit has none', () => {
    const body = Buffer.from('{"hits":{"hits":[{"_id":"a","_seq_no":0,"_primary_term":1}]}}');
    expect(parseSearchResponse(body).hits[0]).toMatchObject({ id: 'a', source: null, sort: null, seqNo: 0, primaryTerm: 1 });
  });

  it('keeps sources that are slices of the response buffer, not copies', () => {
    const body = searchBody([hit('a', '{"x":1}')]);
    const source = parseSearchResponse(body).hits[0]!.source!;
    expect(source.buffer).toBe(body.buffer);
  });

  it('fails with ES_REJECTED on a truncated or malformed response', () => {
    const full = searchBody([hit('a', '{"x":"y"}')]);
    for (const broken of [
      full.subarray(0, full.length - 5),
      Buffer.from('{"hits":{"hits":[{"_id":"a",}]}}'),
      Buffer.from('{"hits":{"hits":[{"_id":"a"}]}} x'),
      Buffer.from(''),
    ]) {
      expect(() => parseSearchResponse(broken)).toThrow(KccrError);
    }
    const err = (() => {
      try {
        parseSearchResponse(Buffer.from('{"hits":{"hits":[{"_id":"a","_source":{"x":"unterminated}}]}}'));
      } catch (e) {
        return e as KccrError;
      }
    })();
    expect(err).toMatchObject({ code: 'ES_REJECTED' });
    expect(err?.message).toMatch(/unreadable response from Elasticsearch: unterminated string/);
  });
});

describe('parseMgetResponse', () => {
  it('returns found and not-found documents in request order', () => {
    const source = '{\n  "x": 1.0,\n  "s": "\\"_source\\":"\n}';
    const body = Buffer.from(
      `{"docs":[{"_index":"i","_id":"a","_version":1,"_seq_no":9,"_primary_term":3,"_routing":"r1","found":true,"_source":${source}},{"_index":"i","_id":"b","found":false}]}`,
    );
    const docs = parseMgetResponse(body);
    expect(docs).toHaveLength(2);
    expect(docs[0]).toMatchObject({ id: 'a', routing: 'r1', seqNo: 9, primaryTerm: 3, found: true, sort: null });
    expect(docs[0]?.source?.toString()).toBe(source);
    expect(docs[1]).toEqual({ id: 'b', routing: null, seqNo: -1, primaryTerm: 0, found: false, source: null, sort: null });
  });

  it('returns found documents without a source when _source=false was asked', () => {
    const body = Buffer.from('{"docs":[{"_index":"i","_id":"a","_version":1,"_seq_no":0,"_primary_term":1,"found":true}]}');
    expect(parseMgetResponse(body)[0]).toMatchObject({ id: 'a', found: true, source: null });
  });

  it('returns nothing for no docs', () => {
    expect(parseMgetResponse(Buffer.from('{"docs":[]}'))).toEqual([]);
  });

  it('throws ES_REJECTED naming the id and the reason for a doc that failed', () => {
    const body = Buffer.from(
      '{"docs":[{"_index":"i","_id":"ok","found":false},{"_index":"i","_id":"d7","error":{"root_cause":[],"type":"routing_missing_exception","reason":"routing is required for [i]/[d7]"}}]}',
    );
    expect(() => parseMgetResponse(body)).toThrow(KccrError);
    expect(() => parseMgetResponse(body)).toThrow(/mget of document "d7" failed: routing_missing_exception: routing is required/);
  });
});
