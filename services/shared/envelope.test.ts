import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generatedSource, GENERATED_FILE } from '../../schemas/generate.js';
import { checkpointEvent, deleteEvent, envelopeSchema, indexEvent, validateEnvelope } from './envelope.js';
import { KccrError } from './errors.js';

const base = { cluster: 'c1', index: 'leader-01', indexUuid: 'u', historyUuid: 'h', shard: 0 };

describe('envelope', () => {
  it('has its TypeScript type generated from the schema, and the generated file is current', () => {
    expect(readFileSync(GENERATED_FILE, 'utf8')).toBe(generatedSource());
  });

  it('builds index events with version seq_no + 1 and keeps routing and source bytes', () => {
    const e = indexEvent(base, { id: 'a', routing: 'r', source: Buffer.from('{"x":1}'), seqNo: 9, primaryTerm: 2 }, 5);
    expect(e).toMatchObject({ op: 'INDEX', id: 'a', routing: 'r', version: 10, origin: { seqNo: 9, primaryTerm: 2, readAt: 5, shard: 0 } });
    expect(e.source?.toString()).toBe('{"x":1}');
  });

  it('builds deletes above every earlier version of the document', () => {
    expect(deleteEvent(base, 'a', null, 41, 7)).toMatchObject({ op: 'DELETE', version: 42, source: null });
  });

  it('validates what Avro cannot', () => {
    const cp = checkpointEvent(base, { globalCheckpoint: 3, maxSeqNo: 4, observedAt: 1, docCount: null, deleteTotal: null, counts: null }, 2);
    expect(validateEnvelope(cp)).toBe(cp);
    expect(() => validateEnvelope({ ...cp, checkpoint: null })).toThrow(KccrError);
    expect(() => validateEnvelope({ ...cp, op: 'INDEX', source: null })).toThrow(/INDEX without source/);
    expect(() => validateEnvelope({ ...cp, op: 'DELETE' })).toThrow(/empty id/);
    // An empty shard has global checkpoint -1: its checkpoint carries version 0, which is fine for a checkpoint.
    const empty = checkpointEvent(base, { globalCheckpoint: -1, maxSeqNo: -1, observedAt: 1, docCount: 0, deleteTotal: 0, counts: null }, 2);
    expect(validateEnvelope(empty).version).toBe(0);
    expect(() => validateEnvelope({ ...empty, op: 'DELETE', id: 'x' })).toThrow(/version 0 is below 1/);
  });

  it('reads the schema shipped in schemas/', () => {
    expect(envelopeSchema()).toMatchObject({ name: 'ChangeEnvelope', namespace: 'io.kccr' });
  });
});
