import { describe, expect, it } from 'vitest';
import { exitCodeForStatus } from './client.js';
import { credentialsOf, seconds, statusText, table } from './format.js';

describe('CLI output', () => {
  it('says lag as a person would', () => {
    expect(seconds(0)).toBe('0 s');
    expect(seconds(4.25)).toBe('4.3 s');
    expect(seconds(192)).toBe('3 m 12 s');
    expect(seconds(7500)).toBe('2 h 5 m');
    expect(seconds(null)).toBe('-');
  });

  it('aligns tables', () => {
    expect(table(['a', 'bb'], [['xxx', 'y']])).toEqual(['a    bb', 'xxx  y']);
  });

  it('renders a status with one row per shard', () => {
    const lines = statusText({
      status: 'SYNCING',
      leader_alias: 'leader-cluster',
      leader_index: 'leader-01',
      follower_cluster: 'follower',
      follower_index: 'follower-01',
      lag_operations: 3,
      lag_seconds: 12.5,
      shards: [
        {
          shard: 0,
          leader_checkpoint: 5,
          leader_max_seq_no: 5,
          follower_checkpoint: 2,
          lag_operations: 3,
          lag_seconds: 12.5,
          applied: 3,
          skipped: 0,
          dead_lettered: 1,
          offset: '4',
          high_watermark: '9',
        },
      ],
    });
    expect(lines[0]).toBe('follower-01 on follower <- leader-cluster:leader-01');
    expect(lines).toContain('lag: 3 operations, 12.5 s');
    expect(lines.at(-1)).toMatch(/^0\s+5\s+5\s+2\s+3\s+12\.5 s\s+3\s+0\s+1\s+4\/9$/);
  });

  it('says when the follower holds an accepted partial source or a synthetic one', () => {
    const base = { status: 'SYNCING', leader_alias: 'l', leader_index: 'i', follower_index: 'f', lag_operations: 0, lag_seconds: 0, shards: [] };
    expect(statusText(base).join('\n')).not.toMatch(/_source/);
    const lines = statusText({ ...base, partial_source: { includes: ['a.*'], excludes: ['secret'] }, synthetic_source: true });
    expect(lines).toContain("partial _source accepted: the follower holds what the leader's _source keeps (includes a.*; excludes secret)");
    expect(lines).toContain("synthetic _source: the follower holds the documents as the leader's synthetic _source rebuilds them");
  });

  it('lists what was left out of the follower index', () => {
    const base = { status: 'SYNCING', leader_alias: 'l', leader_index: 'i', follower_index: 'f', lag_operations: 0, lag_seconds: 0, shards: [] };
    expect(statusText(base).join('\n')).not.toMatch(/left out/);
    expect(statusText({ ...base, left_out: ['setting index.check_pending_flush.enabled', 'mapping parameter host.time_series_dimension'] })).toContain(
      'left out (the follower does not know them): setting index.check_pending_flush.enabled, mapping parameter host.time_series_dimension',
    );
  });

  it('names credentials by reference only', () => {
    expect(credentialsOf({ name: 'a', url: 'u', username: 'r', password_file: '/p' })).toBe('r, password from /p');
    expect(credentialsOf({ name: 'a', url: 'u', api_key_env: 'K' })).toBe('api key from $K');
  });

  it('maps answers to exit codes', () => {
    expect([400, 401, 403, 404, 409, 500, 503].map(exitCodeForStatus)).toEqual([2, 4, 4, 1, 1, 1, 1]);
  });
});
