import { describe, expect, it } from 'vitest';
import { nextPageSize, nextPollDelay, PAGE_TARGET_BYTES, portableSettings, refreshedTwiceSince, windowQuery } from './index-extractor.js';

describe('extractor core', () => {
  it('polls fast while changes flow and backs off to the ceiling while idle', () => {
    expect(nextPollDelay(5000, true, 500, 5000)).toBe(500);
    expect(nextPollDelay(500, false, 500, 5000)).toBe(1000);
    expect(nextPollDelay(4000, false, 500, 5000)).toBe(5000);
    expect(nextPollDelay(5000, false, 500, 5000)).toBe(5000);
  });

  it('pages the window (cursor, G] in _seq_no order', () => {
    expect(windowQuery(10, 20, 100, undefined)).toEqual({
      size: 100,
      sort: [{ _seq_no: 'asc' }],
      seq_no_primary_term: true,
      track_total_hits: false,
      query: { range: { _seq_no: { gt: 10, lte: 20 } } },
    });
    expect(windowQuery(10, 20, 100, 15)).toMatchObject({ search_after: [15] });
  });

  it('waits for two refreshes of every copy seen before', () => {
    expect(refreshedTwiceSince({ n1: 5 }, { n1: 6 })).toBe(false);
    expect(refreshedTwiceSince({ n1: 5 }, { n1: 7 })).toBe(true);
    expect(refreshedTwiceSince({ n1: 5, n2: 3 }, { n1: 9, n2: 4 })).toBe(false);
    // A copy that started since: nothing is known of it, so not yet.
    expect(refreshedTwiceSince({ n1: 5 }, { n1: 9, n2: 9 })).toBe(false);
    expect(refreshedTwiceSince({}, {})).toBe(false);
  });

  it('leaves settings of the physical leader index behind', () => {
    expect(portableSettings({ uuid: 'x', creation_date: '1', provided_name: 'p', version: {}, number_of_shards: '2', analysis: {} })).toEqual({ number_of_shards: '2', analysis: {} });
  });
});

describe('nextPageSize', () => {
  it('cuts a page of large documents to what fits the target, and grows back while documents are small', () => {
    // 10 documents of 8 MiB: 80 MiB read, 2 fit in 16 MiB.
    expect(nextPageSize(1000, 10, 80 * 1024 * 1024, 1000)).toBe(2);
    // One document larger than the target: one at a time.
    expect(nextPageSize(2, 1, PAGE_TARGET_BYTES * 6, 1000)).toBe(1);
    expect(nextPageSize(1, 1, 1024, 1000)).toBe(2);
    expect(nextPageSize(800, 800, 800 * 1024, 1000)).toBe(1000);
  });
});
