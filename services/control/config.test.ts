import { describe, expect, it } from 'vitest';
import { renameReplacement } from './replication/bootstrap.js';
import { readControlConfig } from './config.js';

describe('control settings', () => {
  it('refuse authentication off on an address other machines reach', () => {
    expect(() => readControlConfig({ KCCR_CONTROL_AUTH: 'none', KCCR_CONTROL_HOST: '0.0.0.0' })).toThrow(
      /KCCR_CONTROL_AUTH=none: refused with KCCR_CONTROL_HOST=0\.0\.0\.0.*only on a loopback address/,
    );
    expect(readControlConfig({ KCCR_CONTROL_AUTH: 'none', KCCR_CONTROL_HOST: '127.0.0.1' }).auth).toEqual({ mode: 'none' });
    expect(readControlConfig({ KCCR_CONTROL_AUTH: 'none' }).auth).toEqual({ mode: 'none' });
  });
});

describe('snapshot restore of a follower index', () => {
  it('escapes what a Java regex replacement would read as a group reference', () => {
    expect(renameReplacement('follower-01')).toBe('follower-01');
    expect(renameReplacement('cost$1-eu')).toBe('cost\\$1-eu');
  });
});
