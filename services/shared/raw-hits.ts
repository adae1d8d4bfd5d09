/**
 * Reads search and mget responses without parsing them whole, so that each document's `_source` comes out as
 * the exact bytes Elasticsearch stored (JSON.parse + stringify would turn 1.0 into 1, round big integers,
 * reorder nothing but lose formatting). Elasticsearch copies the stored source raw into these responses.
 *
 * One pass over the buffer: a structural scanner that knows strings (with escapes) and the nesting of {} and [],
 * so a `"_source"` inside a string or inside a document is never taken for a hit field. Only the small values
 * kccr needs (`_id`, `_routing`, `_seq_no`, ...) are JSON.parsed, each from its own slice.
 */
import { KccrError } from './errors.js';

export interface RawHit {
  readonly id: string;
  readonly routing: string | null;
  readonly seqNo: number;
  readonly primaryTerm: number;
  readonly found: boolean;
  /** The stored `_source`, byte for byte (a view into the response buffer); null when absent. */
  readonly source: Buffer | null;
  /** Sort values as JSON.parse reads them (longs above 2^53 lose precision; `_seq_no` never gets there). */
  readonly sort: readonly unknown[] | null;
}

export interface ShardsHeader {
  readonly total: number;
  readonly successful: number;
  readonly failed: number;
}

export interface RawSearchPage {
  readonly hits: RawHit[];
  readonly pitId: string | null;
  readonly total: number | null;
  /** A search that timed out or lost shards returns only part of the hits; callers that need all must check. */
  readonly timedOut: boolean;
  readonly shards: ShardsHeader | null;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

class Scanner {
  pos = 0;

  constructor(private readonly buf: Buffer) {}

  fail(what: string): never {
    const at = Math.min(this.pos, this.buf.length);
    const near = this.buf.toString('utf8', Math.max(0, at - 20), Math.min(this.buf.length, at + 20));
    throw new KccrError('ES_REJECTED', `unreadable response from Elasticsearch: ${what} at byte ${at} (near ${JSON.stringify(near)})`, { offset: at });
  }

  /** Skips whitespace and returns the next byte without consuming it (-1 at the end). */
  peek(): number {
    const buf = this.buf;
    while (this.pos < buf.length && isSpace(buf[this.pos]!)) this.pos++;
    return this.pos < buf.length ? buf[this.pos]! : -1;
  }

  expect(byte: number): void {
    if (this.peek() !== byte) this.fail(`expected '${String.fromCharCode(byte)}'`);
    this.pos++;
  }

  /** From an opening quote to just past the closing one; indexOf keeps long strings fast. */
  private skipString(): void {
    const buf = this.buf;
    let i = this.pos + 1;
    for (;;) {
      const q = buf.indexOf(QUOTE, i);
      if (q < 0) this.fail('unterminated string');
      let slashes = 0;
      for (let j = q - 1; j > this.pos && buf[j] === BACKSLASH; j--) slashes++;
      i = q + 1;
      if (slashes % 2 === 0) break;
    }
    this.pos = i;
  }

  /** Skips one value of any kind and returns its [start, end) slice bounds. */
  skipValue(): [number, number] {
    const buf = this.buf;
    const c = this.peek();
    const start = this.pos;
    if (c === QUOTE) {
      this.skipString();
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      let depth = 0;
      while (this.pos < buf.length) {
        const b = buf[this.pos]!;
        if (b === QUOTE) {
          this.skipString();
          continue;
        }
        this.pos++;
        if (b === OPEN_OBJECT || b === OPEN_ARRAY) depth++;
        else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
          if (--depth === 0) return [start, this.pos];
        }
      }
      this.fail('unterminated object or array');
    } else {
      // A number, true, false or null: up to the next delimiter.
      while (this.pos < buf.length) {
        const b = buf[this.pos]!;
        if (b === COMMA || b === CLOSE_OBJECT || b === CLOSE_ARRAY || isSpace(b)) break;
        this.pos++;
      }
      if (this.pos === start) this.fail('expected a value');
    }
    return [start, this.pos];
  }

  /** JSON.parse of the next value's own slice: only for the small values. */
  parseValue(): unknown {
    const [start, end] = this.skipValue();
    try {
      return JSON.parse(this.buf.toString('utf8', start, end));
    } catch (e) {
      this.pos = start;
      return this.fail(`invalid JSON value (${(e as Error).message})`);
    }
  }

  /** A field name: decoded directly unless it holds an escape. */
  private key(): string {
    const [start, end] = this.skipValue();
    // A bounded scan: an unbounded indexOf would run to the far end of the buffer for every key.
    for (let i = start + 1; i < end - 1; i++) {
      if (this.buf[i] === BACKSLASH) return JSON.parse(this.buf.toString('utf8', start, end)) as string;
    }
    return this.buf.toString('utf8', start + 1, end - 1);
  }

  slice(start: number, end: number): Buffer {
    return this.buf.subarray(start, end);
  }

  /** Calls `onField` for each key of the object that starts here; `onField` must consume the value. */
  object(onField: (key: string) => void): void {
    this.expect(OPEN_OBJECT);
    if (this.peek() === CLOSE_OBJECT) {
      this.pos++;
      return;
    }
    for (;;) {
      if (this.peek() !== QUOTE) this.fail('expected a field name');
      const key = this.key();
      this.expect(COLON);
      onField(key);
      const next = this.peek();
      this.pos++;
      if (next === CLOSE_OBJECT) return;
      if (next !== COMMA) this.fail("expected ',' or '}'");
    }
  }

  /** Calls `onItem` for each element of the array that starts here; `onItem` must consume the element. */
  array(onItem: () => void): void {
    this.expect(OPEN_ARRAY);
    if (this.peek() === CLOSE_ARRAY) {
      this.pos++;
      return;
    }
    for (;;) {
      onItem();
      const next = this.peek();
      this.pos++;
      if (next === CLOSE_ARRAY) return;
      if (next !== COMMA) this.fail("expected ',' or ']'");
    }
  }

  /** Whether the next value is an object or an array. */
  isContainer(): boolean {
    const c = this.peek();
    return c === OPEN_OBJECT || c === OPEN_ARRAY;
  }
}

interface MutableHit {
  id: string | null;
  routing: string | null;
  seqNo: number;
  primaryTerm: number;
  found: boolean;
  source: Buffer | null;
  sort: unknown[] | null;
  error: unknown;
}

function readHit(s: Scanner, foundByDefault: boolean): MutableHit {
  const hit: MutableHit = { id: null, routing: null, seqNo: -1, primaryTerm: 0, found: foundByDefault, source: null, sort: null, error: undefined };
  s.object((key) => {
    switch (key) {
      case '_source': {
        const [start, end] = s.skipValue();
        hit.source = s.slice(start, end);
        return;
      }
      case '_id':
        hit.id = String(s.parseValue());
        return;
      case '_routing':
        hit.routing = String(s.parseValue());
        return;
      case '_seq_no':
        hit.seqNo = Number(s.parseValue());
        return;
      case '_primary_term':
        hit.primaryTerm = Number(s.parseValue());
        return;
      case 'found':
        hit.found = s.parseValue() === true;
        return;
      case 'sort': {
        const v = s.parseValue();
        hit.sort = Array.isArray(v) ? v : null;
        return;
      }
      case 'error':
        hit.error = s.parseValue();
        return;
      default:
        // _index, _score, _version, fields, highlight, inner_hits ...: not needed, never parsed.
        s.skipValue();
    }
  });
  if (hit.id === null && hit.error === undefined) s.fail('a hit without _id');
  return hit;
}

function freeze(h: MutableHit): RawHit {
  return { id: h.id ?? '', routing: h.routing, seqNo: h.seqNo, primaryTerm: h.primaryTerm, found: h.found, source: h.source, sort: h.sort };
}

function errorReason(error: unknown): string {
  if (typeof error === 'string') return error;
  const e = error as { type?: string; reason?: string } | null;
  return `${e?.type ?? 'error'}: ${e?.reason ?? JSON.stringify(error)}`;
}

function totalOf(v: unknown): number | null {
  if (typeof v === 'number') return v;
  const value = (v as { value?: unknown } | null)?.value;
  return typeof value === 'number' ? value : null;
}

/** A `_search` response: `hits.hits[*]`, `pit_id`, `hits.total.value` (null when not tracked), `_shards`, `timed_out`. */
export function parseSearchResponse(body: Buffer): RawSearchPage {
  const s = new Scanner(body);
  const hits: RawHit[] = [];
  let pitId: string | null = null;
  let total: number | null = null;
  let timedOut = false;
  let shards: ShardsHeader | null = null;
  s.object((key) => {
    if (key === 'pit_id') pitId = String(s.parseValue());
    else if (key === 'timed_out') timedOut = s.parseValue() === true;
    else if (key === '_shards') {
      const v = s.parseValue() as Partial<ShardsHeader> | null;
      shards = { total: Number(v?.total ?? 0), successful: Number(v?.successful ?? 0), failed: Number(v?.failed ?? 0) };
    } else if (key === 'hits' && s.isContainer()) {
      s.object((hitsKey) => {
        if (hitsKey === 'total') total = totalOf(s.parseValue());
        else if (hitsKey === 'hits') s.array(() => hits.push(freeze(readHit(s, true))));
        else s.skipValue();
      });
    } else s.skipValue();
  });
  if (s.peek() !== -1) s.fail('trailing bytes after the response');
  return { hits, pitId, total, timedOut, shards };
}

/**
 * An `_mget` response: `docs[*]` in request order, `found` from each doc. A doc that failed (an `error` field:
 * a missing required routing, a closed index ...) throws ES_REJECTED naming the id and the reason.
 */
export function parseMgetResponse(body: Buffer): RawHit[] {
  const s = new Scanner(body);
  const docs: RawHit[] = [];
  s.object((key) => {
    if (key !== 'docs') {
      s.skipValue();
      return;
    }
    s.array(() => {
      const doc = readHit(s, false);
      if (doc.error !== undefined) {
        throw new KccrError('ES_REJECTED', `mget of document ${JSON.stringify(doc.id)} failed: ${errorReason(doc.error)}`, { id: doc.id, error: doc.error });
      }
      docs.push(freeze(doc));
    });
  });
  if (s.peek() !== -1) s.fail('trailing bytes after the response');
  return docs;
}
