import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkAssembler, chunkInfo, chunkKey, CHUNK_HEADER, splitRecord } from './chunks.js';
import type { Assembly, ChunkRecord } from './chunks.js';

const doc = { sourceBytes: 900, origin: { id: 'doc-1', op: 'INDEX', shard: 1, seqNo: 41, version: 42, cluster: 'leader', index: 'logs' } };

function record(bytes: number, key = 'doc-1'): ChunkRecord {
  return { key, value: randomBytes(bytes), partition: 1 };
}

/** Feeds records to an assembler in order, as the applier reads a partition; offsets are their places. */
function feed(assembler: ChunkAssembler, records: readonly ChunkRecord[]): Assembly[] {
  return records.map((r, i) => assembler.add(String(i), chunkInfo(r.headers), r.value));
}

describe('splitRecord', () => {
  it('leaves a record that fits as it is', () => {
    const r = record(100);
    expect(splitRecord(r, 100, doc)).toEqual([r]);
  });

  it('cuts a larger one into ordered chunks of the same partition, the last keyed by the id', () => {
    const r = record(250);
    const chunks = splitRecord(r, 100, doc);
    expect(chunks.map((c) => c.value.length)).toEqual([100, 100, 50]);
    expect(chunks.map((c) => c.key)).toEqual([chunkKey(0, 'doc-1'), chunkKey(1, 'doc-1'), 'doc-1']);
    expect(chunks.every((c) => c.partition === 1)).toBe(true);
    expect(chunks.map((c) => c.headers?.[CHUNK_HEADER])).toEqual(['0/3', '1/3', '2/3']);
    expect(Buffer.concat(chunks.map((c) => c.value))).toEqual(r.value);
    const info = chunkInfo(chunks[1]!.headers)!;
    expect(info).toMatchObject({ index: 1, count: 3, totalBytes: 250, sourceBytes: 900, origin: doc.origin });
  });
});

describe('chunkInfo', () => {
  it('is undefined for a record that is not a chunk, and refuses malformed headers', () => {
    expect(chunkInfo(undefined)).toBeUndefined();
    expect(chunkInfo({ other: 'x' })).toBeUndefined();
    expect(() => chunkInfo({ [CHUNK_HEADER]: '3/3', 'kccr.chunk.sha256': 'a'.repeat(64), 'kccr.chunk.bytes': '10' })).toThrow(/malformed chunk headers/);
    expect(() => chunkInfo({ [CHUNK_HEADER]: '0/2', 'kccr.chunk.sha256': 'nope', 'kccr.chunk.bytes': '10' })).toThrow(/malformed/);
  });
});

describe('ChunkAssembler', () => {
  it('gives the whole value at the last chunk, and holds nothing for records that are not chunks', () => {
    const r = record(1000);
    const a = new ChunkAssembler(10_000);
    const out = feed(a, [record(10, 'small'), ...splitRecord(r, 300, doc), record(10, 'next')]);
    expect(out.map((o) => o.kind)).toEqual(['record', 'held', 'held', 'held', 'whole', 'record']);
    expect((out[4] as { value: Buffer }).value).toEqual(r.value);
    expect(a.droppedChunks).toBe(0);
  });

  it('drops a sequence cut by another record, and applies the sequence published again after it', () => {
    const r = record(1000);
    const chunks = splitRecord(r, 300, doc);
    const a = new ChunkAssembler(10_000);
    // A producer retry: the first two chunks, a checkpoint of the shard, then the whole sequence again.
    const out = feed(a, [chunks[0]!, chunks[1]!, record(5, ''), ...chunks]);
    expect(out.map((o) => o.kind)).toEqual(['held', 'held', 'record', 'held', 'held', 'held', 'whole']);
    expect(a.droppedChunks).toBe(2);
    expect((out[6] as { value: Buffer }).value).toEqual(r.value);
  });

  it('skips chunks left without their beginning (compaction kept a later chunk of an older version)', () => {
    const old = splitRecord(record(1000), 300, doc);
    const next = splitRecord(record(700), 300, doc);
    const a = new ChunkAssembler(10_000);
    const out = feed(a, [old[2]!, old[3]!, ...next]);
    expect(out.map((o) => o.kind)).toEqual(['skip', 'skip', 'held', 'held', 'whole']);
    expect(a.droppedChunks).toBe(2);
  });

  it('refuses at the first chunk a value above its bound, holding nothing, and skips the rest', () => {
    const a = new ChunkAssembler(500);
    const out = feed(a, [...splitRecord(record(1000), 300, doc), record(10, 'next')]);
    expect(out.map((o) => o.kind)).toEqual(['too-large', 'skip', 'skip', 'skip', 'record']);
    expect(out[0]).toMatchObject({ limit: 'reassembly', info: { totalBytes: 1000, origin: { id: 'doc-1' } } });
    expect(a.heldBytes).toBe(0);
  });

  it("refuses a document above the operator's _source limit the same way", () => {
    const a = new ChunkAssembler(10_000, 800);
    const out = feed(a, splitRecord(record(1000), 300, doc));
    expect(out[0]).toMatchObject({ kind: 'too-large', limit: 'document', info: { sourceBytes: 900 } });
  });

  it('gives the whole value again when its last chunk is read again (its write is retried)', () => {
    const r = record(700);
    const chunks = splitRecord(r, 300, doc);
    const a = new ChunkAssembler(10_000);
    feed(a, chunks);
    const again = a.add(String(chunks.length - 1), chunkInfo(chunks[2]!.headers), chunks[2]!.value);
    expect(again).toEqual({ kind: 'whole', value: r.value });
  });

  it('says so when the chunks do not make the value their digest names', () => {
    const chunks = splitRecord(record(700), 300, doc);
    const a = new ChunkAssembler(10_000);
    const tampered = { ...chunks[1]!, value: Buffer.alloc(300) };
    expect(feed(a, [chunks[0]!, tampered, chunks[2]!]).map((o) => o.kind)).toEqual(['held', 'held', 'corrupt']);
  });

  it('never gives a value other than one published whole, whatever is cut or repeated (property)', () => {
    const values = [record(900), record(650), record(1200, 'doc-2')];
    const sequences = values.map((v) => splitRecord(v, 256, doc));
    // Any interleaving of whole sequences, prefixes of them (cut), repeats and other records.
    const piece = fc.oneof(
      fc.record({ seq: fc.integer({ min: 0, max: 2 }), cut: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }) }),
      fc.constant('other' as const),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const stream: ChunkRecord[] = [];
        for (const p of pieces) {
          if (p === 'other') stream.push(record(8, 'x'));
          else stream.push(...sequences[p.seq]!.slice(0, p.cut ?? undefined));
        }
        const a = new ChunkAssembler(1_000_000);
        const whole = feed(a, stream).filter((o): o is { kind: 'whole'; value: Buffer } => o.kind === 'whole');
        const published = pieces.filter((p) => p !== 'other' && (p.cut === undefined || p.cut >= sequences[p.seq]!.length)).length;
        expect(whole.length).toBe(published);
        for (const w of whole) expect(values.some((v) => v.value.equals(w.value))).toBe(true);
      }),
    );
  });
});

describe('ChunkAssembler.settled', () => {
  it('lets the whole value go once its write is done, and keeps a sequence in progress', () => {
    const chunks = splitRecord(record(700), 300, doc);
    const a = new ChunkAssembler(10_000);
    feed(a, chunks);
    a.settled();
    // Its last chunk read again is now a chunk without its beginning.
    expect(a.add('2', chunkInfo(chunks[2]!.headers), chunks[2]!.value)).toEqual({ kind: 'skip' });
    a.add('3', chunkInfo(chunks[0]!.headers), chunks[0]!.value);
    a.settled();
    expect(a.heldBytes).toBe(300);
  });
});
