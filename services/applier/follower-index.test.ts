import { describe, expect, it } from 'vitest';
import { aliasActions } from './follower-index.js';

describe("the leader's aliases on a follower index", () => {
  it('adds each alias with its definition', () => {
    expect(aliasActions('logs-2', { all: {}, recent: { filter: { term: { x: 1 } } } }, {})).toEqual([
      { add: { index: 'logs-2', alias: 'all' } },
      { add: { index: 'logs-2', alias: 'recent', filter: { term: { x: 1 } } } },
    ]);
  });

  it("moves a rollover alias's write flag off the follower index that holds it, in the same request", () => {
    expect(aliasActions('logs-2', { logs: { is_write_index: true } }, { logs: 'logs-1' })).toEqual([
      { add: { index: 'logs-1', alias: 'logs', is_write_index: false } },
      { add: { index: 'logs-2', alias: 'logs', is_write_index: true } },
    ]);
    // Held by the index itself, or by none: nothing to move.
    expect(aliasActions('logs-2', { logs: { is_write_index: true } }, { logs: 'logs-2' })).toEqual([
      { add: { index: 'logs-2', alias: 'logs', is_write_index: true } },
    ]);
    // The old generation's own update (flag dropped) takes nothing from the new one.
    expect(aliasActions('logs-1', { logs: { is_write_index: false } }, { logs: 'logs-2' })).toEqual([
      { add: { index: 'logs-1', alias: 'logs', is_write_index: false } },
    ]);
  });

  it('after creating an index, sets only the aliases that carry the flag (the others came with the index)', () => {
    expect(aliasActions('logs-2', { all: {}, logs: { is_write_index: true } }, { logs: 'logs-1' }, true)).toEqual([
      { add: { index: 'logs-1', alias: 'logs', is_write_index: false } },
      { add: { index: 'logs-2', alias: 'logs', is_write_index: true } },
    ]);
  });
});
