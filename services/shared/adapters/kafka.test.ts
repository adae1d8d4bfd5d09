import { describe, expect, it } from 'vitest';
import { chunkByBytes } from './kafka.js';

describe('chunkByBytes', () => {
  const msg = (key: string, size: number) => ({ key, value: Buffer.alloc(size) });

  it('keeps order and cuts before a chunk would pass the bound', () => {
    const chunks = chunkByBytes([msg('a', 400), msg('b', 400), msg('c', 400)], 1000);
    expect(chunks.map((c) => c.map((m) => m.key))).toEqual([['a', 'b'], ['c']]);
  });

  it('gives a message larger than the bound a chunk of its own', () => {
    const chunks = chunkByBytes([msg('a', 10), msg('big', 5000), msg('b', 10)], 1000);
    expect(chunks.map((c) => c.map((m) => m.key))).toEqual([['a'], ['big'], ['b']]);
  });

  it('counts tombstones and headers', () => {
    expect(chunkByBytes([{ key: 'k', value: null }], 10)).toHaveLength(1);
    expect(
      chunkByBytes(
        [
          { key: 'k', value: Buffer.alloc(10), headers: { h: 'x'.repeat(100) } },
          { key: 'l', value: null },
        ],
        120,
      ),
    ).toHaveLength(2);
  });
});
