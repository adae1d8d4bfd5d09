import { describe, expect, it } from 'vitest';
import { nextPageSize, nextPollDelay, PAGE_TARGET_BYTES, portableSettings, refreshedTwiceSince, visibilityStep, windowQuery } from './index-extractor.js';

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
    expect(portableSettings({ uuid: 'x', creation_date: '1', provided_name: 'p', version: {}, number_of_shards: '2', analysis: {} })).toEqual({
      number_of_shards: '2',
      analysis: {},
    });
    // OpenSearch 2.x gives every index its replication type (recorded from 2.19.4).
    expect(portableSettings({ number_of_shards: '1', replication: { type: 'DOCUMENT' }, gc_deletes: '24h' })).toEqual({
      number_of_shards: '1',
      gc_deletes: '24h',
    });
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

describe('the visibility schedule of a shard', () => {
  const reading = (globalCheckpoint: number, refreshes: number, observedAt: number) => ({
    stats: { globalCheckpoint, refreshTotals: { n1: refreshes, n2: refreshes + 10 } },
    observedAt,
  });

  it('queues a reading, and takes it once every copy has refreshed twice since', () => {
    const first = visibilityStep([], reading(5, 0, 1000), 1000, -1, 5000);
    expect(first).toEqual({ force: false, queue: [reading(5, 0, 1000)] });
    const once = visibilityStep(first.queue, reading(5, 1, 1200), 1200, -1, 5000);
    expect(once.window).toBeUndefined();
    const twice = visibilityStep(once.queue, reading(5, 2, 1400), 1400, -1, 5000);
    expect(twice).toEqual({ window: reading(5, 0, 1000), force: false, queue: [] });
  });

  it('takes the latest ready reading with those before it, and queues the new one above it', () => {
    const queue = [reading(5, 0, 1000), reading(9, 1, 1100), reading(12, 3, 1200)];
    const step = visibilityStep(queue, reading(15, 3, 1300), 1300, 4, 5000);
    expect(step.window).toEqual(reading(9, 1, 1100));
    expect(step.queue).toEqual([reading(12, 3, 1200), reading(15, 3, 1300)]);
  });

  it('forces a refresh once the oldest reading has waited too long (an idle shard refreshes no more)', () => {
    const queue = [reading(5, 0, 1000), reading(7, 0, 2000)];
    expect(visibilityStep(queue, reading(7, 0, 3000), 5999, 4, 5000).window).toBeUndefined();
    expect(visibilityStep(queue, reading(7, 0, 3000), 6000, 4, 5000)).toEqual({ window: reading(7, 0, 2000), force: true, queue: [] });
  });

  it('queues nothing that the cursor, the queue or the window taken already covers', () => {
    expect(visibilityStep([], reading(4, 0, 1000), 1000, 4, 5000).queue).toEqual([]);
    expect(visibilityStep([reading(6, 0, 900)], reading(6, 1, 1000), 1000, 4, 5000).queue).toEqual([reading(6, 0, 900)]);
    expect(visibilityStep([reading(6, 0, 900)], reading(6, 2, 1000), 1000, 4, 5000)).toEqual({ window: reading(6, 0, 900), force: false, queue: [] });
  });
});
