import { describe, expect, it } from 'vitest';
import { deleteEvent, indexEvent } from '../shared/envelope.js';
import { failureKind } from '../shared/errors.js';
import { bulkBody, classify, fitsBulk, followerSettings, refusal } from './bulk.js';

const base = { cluster: 'c', index: 'l', indexUuid: 'u', historyUuid: 'h', shard: 1 };

describe('bulk body', () => {
  it('writes index and delete actions with external versions, routing, and the source bytes unchanged', () => {
    const src = Buffer.from('{"n":1.0,"big":12345678901234567890}');
    const body = bulkBody('f', [
      { envelope: indexEvent(base, { id: 'a', routing: 'r', source: src, seqNo: 4, primaryTerm: 1 }, 0), offset: '0' },
      { envelope: deleteEvent(base, 'b', null, 9, 0), offset: '1' },
    ]);
    expect(body.toString('utf8').split('\n')).toEqual([
      '{"index":{"_index":"f","_id":"a","version":5,"version_type":"external","routing":"r"}}',
      '{"n":1.0,"big":12345678901234567890}',
      '{"delete":{"_index":"f","_id":"b","version":10,"version_type":"external"}}',
      '',
    ]);
  });

  it('keeps pretty-printed sources out of _bulk lines', () => {
    const pretty = { envelope: indexEvent(base, { id: 'p', routing: null, source: Buffer.from('{\n  "a": 1\n}'), seqNo: 1, primaryTerm: 1 }, 0), offset: '0' };
    const flat = { envelope: indexEvent(base, { id: 'q', routing: null, source: Buffer.from('{"a":1}'), seqNo: 1, primaryTerm: 1 }, 0), offset: '0' };
    expect(fitsBulk(pretty)).toBe(false);
    expect(fitsBulk(flat)).toBe(true);
    expect(fitsBulk({ envelope: deleteEvent(base, 'd', null, 1, 0), offset: '0' })).toBe(true);
  });
});

describe('classify', () => {
  it('tells applied, skipped, retriable and dead-letter outcomes apart', () => {
    expect(classify({ action: 'index', status: 201 })).toBe('applied');
    expect(classify({ action: 'index', status: 200 })).toBe('applied');
    expect(classify({ action: 'delete', status: 404, error: undefined })).toBe('applied');
    expect(classify({ action: 'index', status: 409, error: { type: 'version_conflict_engine_exception', reason: '' } })).toBe('skipped');
    expect(classify({ action: 'index', status: 429, error: { type: 'es_rejected_execution_exception', reason: '' } })).toBe('retry');
    expect(classify({ action: 'index', status: 503, error: { type: 'unavailable_shards_exception', reason: '' } })).toBe('retry');
    expect(classify({ action: 'index', status: 403, error: { type: 'security_exception', reason: '' } })).toBe('retry');
    expect(classify({ action: 'index', status: 400, error: { type: 'index_closed_exception', reason: '' } })).toBe('retry');
    expect(classify({ action: 'index', status: 400, error: { type: 'mapper_parsing_exception', reason: '' } })).toBe('dead-letter');
    expect(classify({ action: 'index', status: 400, error: { type: 'document_parsing_exception', reason: '' } })).toBe('dead-letter');
  });
});

describe('follower settings', () => {
  it('keeps the leader shard count, applies overrides, and sets gc_deletes', () => {
    const s = followerSettings(
      { number_of_shards: '3', number_of_replicas: '1', refresh_interval: '1s' },
      { 'index.number_of_replicas': 0, number_of_shards: 7 },
      '24h',
    );
    expect(s).toEqual({ number_of_shards: '3', number_of_replicas: 0, refresh_interval: '1s', gc_deletes: '24h' });
  });
});

describe('refusal', () => {
  it('leaves refused credentials or privileges to an operator, and waits out everything else', () => {
    expect(failureKind(refusal({ status: 403, error: { type: 'security_exception', reason: 'action [indices:data/write/bulk[s]] is unauthorized' } }))).toBe(
      'credentials',
    );
    expect(failureKind(refusal({ status: 401, error: { type: 'security_exception', reason: 'unable to authenticate' } }))).toBe('credentials');
    // A write-blocked index answers 403 too: a block, not a permission.
    expect(
      failureKind(refusal({ status: 403, error: { type: 'cluster_block_exception', reason: 'index [f] blocked by: [FORBIDDEN/8/index write (api)]' } })),
    ).toBe('transient');
    expect(failureKind(refusal({ status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } }))).toBe('transient');
    expect(refusal({ status: 503 }).message).toBe('the follower refused a write for now (503)');
    expect(refusal({ status: 403, error: { type: 'security_exception', reason: 'denied' } }).message).toMatch(
      /^the follower denied a write \(403 security_exception: denied\)/,
    );
    // The same refusals on a ledger write name the ledger and the privilege it needs.
    const ledger = { index: '.kccr-ledger-f', of: 'f' };
    expect(refusal({ status: 403, error: { type: 'security_exception', reason: 'denied' } }, ledger).message).toMatch(
      /^the follower denied a write to \.kccr-ledger-f, the ledger of f \(403 security_exception: denied\); grant .* on \.kccr-ledger-f \(the pattern \.kccr-ledger-\*\)/,
    );
    expect(failureKind(refusal({ status: 401 }, ledger))).toBe('credentials');
    expect(refusal({ status: 503 }, ledger).details).toEqual({ index: '.kccr-ledger-f' });
  });
});
