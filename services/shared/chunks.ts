/**
 * Records larger than a Kafka record may be: an encoded envelope above the chunk size is published as ordered
 * chunks in one partition, one after the other (the producer sends a call's records contiguously), and the
 * applier puts them together before it decodes.
 *
 * Every chunk carries headers: its place (`i/n`), the SHA-256 of the whole value, the whole value's size, the
 * document's _source size and where it came from (so that a document too large to hold can be dead-lettered with
 * its id, size and origin without reading it). The last chunk is keyed by the document id, like an unchunked
 * record, so that compaction keeps the newest version of the document under its id; the others are keyed
 * `kccr:chunk:<i>:<id>` (never an _id: ids are at most 512 bytes), so that compaction cannot take a chunk of the
 * newest version away by keeping only the last record of the id.
 *
 * A sequence cut by a crash of the extractor, a producer retry or a compaction (chunks of older versions left
 * behind) is recognised — a chunk out of place, another digest, any other record in between — and dropped; it is
 * never applied half. The whole sequence is published again after a cut (the extractor retries from its cursor).
 */
import { createHash } from 'node:crypto';

export const CHUNK_HEADER = 'kccr.chunk';
export const CHUNK_DIGEST_HEADER = 'kccr.chunk.sha256';
export const CHUNK_BYTES_HEADER = 'kccr.chunk.bytes';
export const SOURCE_BYTES_HEADER = 'kccr.source.bytes';
export const ORIGIN_HEADER = 'kccr.origin';

/** Bytes a chunk record may take beyond its share of the value: key (2 × 512-byte id at most), headers, framing. */
export const CHUNK_OVERHEAD_BYTES = 4096;

/** What the headers say of the document a chunked record carries. */
export interface ChunkedDocument {
  readonly sourceBytes: number;
  readonly origin: {
    readonly id: string;
    readonly op: string;
    readonly shard: number;
    readonly seqNo: number;
    readonly version: number;
    readonly cluster: string;
    readonly index: string;
  };
}

export interface ChunkRecord {
  readonly key: string;
  readonly value: Buffer;
  readonly partition: number;
  readonly headers?: { [name: string]: string };
}

export function chunkKey(index: number, id: string): string {
  return `kccr:chunk:${index}:${id}`;
}

/** The record as it is when it fits in `chunkBytes`, else its chunks in order. */
export function splitRecord(record: ChunkRecord, chunkBytes: number, doc: ChunkedDocument): ChunkRecord[] {
  const total = record.value.length;
  if (total <= chunkBytes) return [record];
  const count = Math.ceil(total / chunkBytes);
  const digest = createHash('sha256').update(record.value).digest('hex');
  const common = {
    [CHUNK_DIGEST_HEADER]: digest,
    [CHUNK_BYTES_HEADER]: String(total),
    [SOURCE_BYTES_HEADER]: String(doc.sourceBytes),
    [ORIGIN_HEADER]: JSON.stringify(doc.origin),
  };
  return Array.from({ length: count }, (_, i) => ({
    key: i === count - 1 ? record.key : chunkKey(i, record.key),
    value: record.value.subarray(i * chunkBytes, Math.min(total, (i + 1) * chunkBytes)),
    partition: record.partition,
    headers: { ...record.headers, ...common, [CHUNK_HEADER]: `${i}/${count}` },
  }));
}

/** A chunk's headers, read; undefined when the record is not a chunk. Malformed chunk headers are an error. */
export interface ChunkInfo {
  readonly index: number;
  readonly count: number;
  readonly digest: string;
  readonly totalBytes: number;
  readonly sourceBytes: number;
  readonly origin: ChunkedDocument['origin'] | undefined;
}

export function chunkInfo(headers: { readonly [name: string]: string | undefined } | undefined): ChunkInfo | undefined {
  const place = headers?.[CHUNK_HEADER];
  if (place === undefined) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(place);
  const digest = headers?.[CHUNK_DIGEST_HEADER] ?? '';
  const totalBytes = Number(headers?.[CHUNK_BYTES_HEADER]);
  const sourceBytes = Number(headers?.[SOURCE_BYTES_HEADER] ?? '0');
  if (!m || !/^[0-9a-f]{64}$/.test(digest) || !Number.isSafeInteger(totalBytes) || totalBytes <= 0 || Number(m[2]) < 2 || Number(m[1]) >= Number(m[2])) {
    throw new Error(
      `malformed chunk headers: ${CHUNK_HEADER}=${place} ${CHUNK_DIGEST_HEADER}=${digest} ${CHUNK_BYTES_HEADER}=${headers?.[CHUNK_BYTES_HEADER]}`,
    );
  }
  let origin: ChunkedDocument['origin'] | undefined;
  try {
    origin = headers?.[ORIGIN_HEADER] ? (JSON.parse(headers[ORIGIN_HEADER]) as ChunkedDocument['origin']) : undefined;
  } catch {
    origin = undefined;
  }
  return { index: Number(m[1]), count: Number(m[2]), digest, totalBytes, sourceBytes: Number.isSafeInteger(sourceBytes) ? sourceBytes : 0, origin };
}

/** What one record means to the assembler of its partition. */
export type Assembly =
  /** Not a chunk: handle it as a record (a sequence in progress, if any, was cut and is dropped). */
  | { readonly kind: 'record' }
  /** A chunk held; the value is not whole yet. */
  | { readonly kind: 'held' }
  /** The last chunk: the whole value, checked against its digest. */
  | { readonly kind: 'whole'; readonly value: Buffer }
  /**
   * The first chunk of a document above a bound (the reassembly bound, or the operator's size limit on _source):
   * nothing is held and the rest of its chunks are skipped; the caller dead-letters it with what the headers say.
   */
  | { readonly kind: 'too-large'; readonly info: ChunkInfo; readonly limit: 'reassembly' | 'document' }
  /** All chunks in order, but not the value their digest names: the caller dead-letters what it knows. */
  | { readonly kind: 'corrupt'; readonly info: ChunkInfo }
  /** A later chunk of a document refused as too large, or a chunk out of its sequence (left over): nothing to do. */
  | { readonly kind: 'skip' };

/**
 * Puts the chunks of one partition together, in offset order. Holds at most `maxBytes`: a value announced larger is
 * refused at its first chunk, before anything is held. A whole value is kept until the next record, so that its last
 * chunk read again (its write failed and is retried) gives it again without its other chunks.
 */
export class ChunkAssembler {
  /** The value being put together, written in place as its chunks come (its size is known from the first). */
  private current?: { digest: string; count: number; next: number; value: Buffer; bytes: number; lastOffset?: string };
  private refused?: string;
  /** Chunks dropped because their sequence was cut (a retry published it again, or compaction left them behind). */
  droppedChunks = 0;

  constructor(
    private readonly maxBytes: number,
    /** The operator's limit on a document's _source bytes (Infinity: none). */
    private readonly maxSourceBytes = Number.POSITIVE_INFINITY,
  ) {}

  /** The bytes held for a value not yet whole. */
  get heldBytes(): number {
    return this.current && this.current.lastOffset === undefined ? this.current.bytes : 0;
  }

  add(offset: string, info: ChunkInfo | undefined, value: Buffer): Assembly {
    const cur = this.current;
    if (cur?.lastOffset !== undefined && info && info.digest === cur.digest && offset === cur.lastOffset) return { kind: 'whole', value: cur.value };
    if (!info) {
      this.cut();
      this.refused = undefined;
      return { kind: 'record' };
    }
    if (info.index === 0) return this.begin(info, value);
    if (this.refused === info.digest) {
      if (info.index === info.count - 1) this.refused = undefined;
      return { kind: 'skip' };
    }
    if (
      !cur ||
      cur.lastOffset !== undefined ||
      cur.digest !== info.digest ||
      cur.next !== info.index ||
      cur.count !== info.count ||
      cur.bytes + value.length > cur.value.length
    ) {
      this.cut();
      this.droppedChunks++;
      return { kind: 'skip' };
    }
    value.copy(cur.value, cur.bytes);
    cur.bytes += value.length;
    cur.next++;
    if (cur.next < cur.count) return { kind: 'held' };
    return this.finish(offset, info);
  }

  private begin(info: ChunkInfo, value: Buffer): Assembly {
    this.cut();
    this.refused = undefined;
    const limit = info.totalBytes > this.maxBytes ? 'reassembly' : info.sourceBytes > this.maxSourceBytes ? 'document' : undefined;
    if (limit) {
      this.refused = info.digest;
      return { kind: 'too-large', info, limit };
    }
    if (value.length > info.totalBytes) {
      this.droppedChunks++;
      return { kind: 'skip' };
    }
    // One buffer of the announced size, filled chunk by chunk: the chunks themselves are not kept.
    const whole = Buffer.allocUnsafe(info.totalBytes);
    value.copy(whole, 0);
    this.current = { digest: info.digest, count: info.count, next: 1, value: whole, bytes: value.length };
    return { kind: 'held' };
  }

  private finish(offset: string, info: ChunkInfo): Assembly {
    const cur = this.current!;
    if (cur.bytes !== cur.value.length || createHash('sha256').update(cur.value).digest('hex') !== cur.digest) {
      this.current = undefined;
      return { kind: 'corrupt', info };
    }
    // The whole value is kept until the next record, for a read again of the last chunk.
    cur.lastOffset = offset;
    return { kind: 'whole', value: cur.value };
  }

  /** The whole value's write is done: it need not be kept for a read again. A sequence in progress is kept. */
  settled(): void {
    if (this.current?.lastOffset !== undefined) this.current = undefined;
  }

  /** Drops a sequence in progress (a whole value kept for a read again is simply released). */
  private cut(): void {
    if (this.current && this.current.lastOffset === undefined) this.droppedChunks += this.current.next;
    this.current = undefined;
  }
}
