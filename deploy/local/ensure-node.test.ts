/**
 * deploy/local/ensure-node.sh without the network: a stand-in `node` of a chosen version on PATH, and stand-in
 * Node.js folders in a temporary tools folder (the fetch itself is exercised by .ci/run).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, 'ensure-node.sh');

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'kccr-ensure-node-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** A folder holding bin/node that answers `--version` with `version` and runs any script as a no-op, silently. */
function fakeNode(dir: string, version: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const node = join(dir, 'bin', 'node');
  writeFileSync(node, `#!/bin/sh\n[ "$1" = --version ] && echo ${version}\nexit 0\n`);
  chmodSync(node, 0o755);
  return dir;
}

/** Runs bash with the machine's node replaced by one of `machineVersion`, and the tools folder in tmp. */
function bash(command: string, machineVersion: string, env: Record<string, string> = {}) {
  const machine = fakeNode(join(tmp, 'machine'), machineVersion);
  const r = spawnSync('bash', ['-c', command, 'test'], {
    env: { PATH: `${join(machine, 'bin')}:/usr/bin:/bin`, KCCR_TOOLS_DIR: join(tmp, 'tools'), ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('ensure-node.sh', () => {
  it('changes nothing when the node on PATH is 24 or newer', () => {
    const r = bash(`bash ${SCRIPT}`, 'v26.1.0');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/is v26\.1\.0; nothing to do/);
  });

  it('prints the exports for the newest Node.js 24 already in the tools folder when the node on PATH is older', () => {
    fakeNode(join(tmp, 'tools', 'node-v24.9.0'), 'v24.9.0');
    const newest = fakeNode(join(tmp, 'tools', 'node-v24.10.0'), 'v24.10.0');
    const r = bash(`bash ${SCRIPT}`, 'v20.20.2');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`export PATH=${newest}/bin:"$PATH"\nexport npm_config_nodedir=${newest}\n`);
    expect(r.stderr).toMatch(/is v20\.20\.2; kccr needs Node\.js 24 or newer/);
  });

  it('when sourced, puts that Node.js first on PATH in the calling shell, even one with set -euo pipefail', () => {
    const tools = fakeNode(join(tmp, 'tools', 'node-v24.1.0'), 'v24.1.0');
    const r = bash(`set -euo pipefail; source ${SCRIPT}; node --version; echo "$npm_config_nodedir"`, 'v20.20.2');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`v24.1.0\n${tools}\n`);
  });

  it('refuses a version below 24; sourced, it returns 1 and the shell goes on', () => {
    const r = bash(`source ${SCRIPT}; echo "returned $?"; node --version`, 'v20.20.2', { KCCR_NODE_VERSION: '22' });
    expect(r.stdout).toBe('returned 1\nv20.20.2\n');
    expect(r.stderr).toMatch(/KCCR_NODE_VERSION=22: expected a major \(24 or newer\)/);
    expect(bash(`bash ${SCRIPT}`, 'v20.20.2', { KCCR_NODE_VERSION: '22' }).status).toBe(1);
  });

  it('uses an exact version asked for when it is in the tools folder', () => {
    const exact = fakeNode(join(tmp, 'tools', 'node-v24.9.0'), 'v24.9.0');
    fakeNode(join(tmp, 'tools', 'node-v24.10.0'), 'v24.10.0');
    const r = bash(`bash ${SCRIPT}`, 'v20.20.2', { KCCR_NODE_VERSION: '24.9.0' });
    expect(r.stdout).toContain(`export PATH=${exact}/bin:"$PATH"`);
  });
});
