import { describe, expect, it } from 'vitest';
import { failuresOf } from './report.js';

describe('failuresOf', () => {
  it('names each failed test with the first line of its error, and a file that failed outside its tests', () => {
    const report = {
      testResults: [
        {
          name: '/repo/test/integration/a.test.ts',
          status: 'failed',
          assertionResults: [
            { fullName: 'walkthrough deletes', status: 'failed', failureMessages: ['\nAssertionError: expected 3 to be 2\n    at x.ts:1'] },
            { fullName: 'walkthrough indexes', status: 'passed' },
          ],
        },
        { name: '/repo/test/integration/b.test.ts', status: 'failed', assertionResults: [], message: 'Hook timed out in 180000ms' },
        { name: '/repo/test/integration/c.test.ts', status: 'passed', assertionResults: [{ fullName: 'fine', status: 'passed' }] },
      ],
    };
    expect(failuresOf(report, '/repo')).toEqual([
      'test/integration/a.test.ts > walkthrough deletes: AssertionError: expected 3 to be 2',
      'test/integration/b.test.ts: Hook timed out in 180000ms',
    ]);
  });

  it('says why a file failed whose tests passed: its hooks, and errors thrown outside any test', () => {
    const report = {
      testResults: [
        { name: '/repo/test/integration/f.test.ts', status: 'failed', assertionResults: [{ fullName: 'fuzz', status: 'passed' }], message: '' },
        { name: '/repo/test/integration/g.test.ts', status: 'failed', assertionResults: [], message: '' },
      ],
    };
    const errors = [
      { file: 'test/integration/f.test.ts', where: 'control API fuzzing', message: 'KAFKA_UNAVAILABLE: not read back\n  at x' },
      { file: '', where: 'unhandled', message: 'socket hang up' },
    ];
    expect(failuresOf(report, '/repo', errors)).toEqual([
      'test/integration/f.test.ts > control API fuzzing: KAFKA_UNAVAILABLE: not read back',
      'test/integration/g.test.ts: failed',
      'unhandled: socket hang up',
    ]);
  });

  it('shortens a very long first line', () => {
    const report = {
      testResults: [{ name: 'x.test.ts', status: 'failed', assertionResults: [{ fullName: 't', status: 'failed', failureMessages: ['y'.repeat(500)] }] }],
    };
    const [line] = failuresOf(report, '/repo');
    expect(line).toHaveLength('x.test.ts > t: '.length + 303);
  });
});
