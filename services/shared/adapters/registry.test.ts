import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { frame } from './registry.js';

const type = avro.Type.forSchema({
  type: 'record',
  name: 'T',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'source', type: ['null', 'bytes'], default: null },
    { name: 'note', type: 'string' },
  ],
});

describe('registry wire format', () => {
  it('writes magic byte, schema id and the Avro body in one buffer', () => {
    const value = { id: 'a', source: Buffer.from('{"n":1.0}'), note: 'x' };
    const buf = frame(type, 4242, value);
    expect(buf[0]).toBe(0);
    expect(buf.readInt32BE(1)).toBe(4242);
    expect(type.fromBuffer(buf.subarray(5))).toEqual(value);
    expect(buf.subarray(5).equals(type.toBuffer(value))).toBe(true);
  });

  it('grows the buffer when the first guess is too small', () => {
    const value = { id: 'b'.repeat(3000), source: null, note: 'é'.repeat(2000) };
    const buf = frame(type, 7, value);
    expect(buf.length).toBe(5 + type.toBuffer(value).length);
    expect(type.fromBuffer(buf.subarray(5))).toEqual(value);
  });

  it('refuses a value that does not fit the schema', () => {
    expect(() => frame(type, 7, { id: 5, source: null, note: 'x' })).toThrow();
  });
});
