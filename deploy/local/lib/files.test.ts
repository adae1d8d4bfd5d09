import { chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ownedDir, writeFileNoFollow } from './files.js';
import { run } from './procs.js';

const isRoot = process.getuid?.() === 0;
// Another owner than the one asked for: what a planted folder of the unprivileged user looks like.
const OTHER = { uid: 65534, gid: 65534 };

describe('writing where an unprivileged user could plant links', () => {
  let dir: string;
  let victim: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kccr-files-'));
    victim = join(dir, 'victim');
    writeFileSync(victim, 'precious');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('replaces a link at the file name instead of writing through it', () => {
    const target = join(dir, 'elasticsearch.yml');
    symlinkSync(victim, target);
    writeFileNoFollow(target, 'cluster.name: x\n', 0o640);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(lstatSync(target).isSymbolicLink()).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe('cluster.name: x\n');
    expect(statSync(target).mode & 0o777).toBe(0o640);
  });

  it('removes a link at a folder name (not what it points to) and makes the folder', () => {
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'keep'), 'x');
    const config = join(dir, 'config');
    symlinkSync(outside, config);
    ownedDir(config, 0o750, isRoot ? { uid: 0, gid: 0 } : undefined, 'remake');
    if (isRoot) {
      expect(lstatSync(config).isDirectory()).toBe(true);
      expect(statSync(config).mode & 0o777).toBe(0o750);
    }
    expect(readFileSync(join(outside, 'keep'), 'utf8')).toBe('x');
  });

  it.runIf(isRoot)('remakes a folder of another owner whose contents cannot be trusted, and adopts one whose contents it checks', () => {
    const config = join(dir, 'config');
    mkdirSync(config);
    writeFileSync(join(config, 'users'), 'intruder:hash\n');
    chownSync(config, OTHER.uid, OTHER.gid);
    ownedDir(config, 0o750, { uid: 0, gid: 0 }, 'remake');
    expect(statSync(config).uid).toBe(0);
    expect(() => statSync(join(config, 'users'))).toThrow();

    const data = join(dir, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'segment'), 'documents');
    chownSync(data, OTHER.uid, OTHER.gid);
    ownedDir(data, 0o750, { uid: 0, gid: 0 }, 'adopt');
    expect(statSync(data).uid).toBe(0);
    expect(statSync(data).mode & 0o777).toBe(0o750);
    expect(readFileSync(join(data, 'segment'), 'utf8')).toBe('documents');
  });

  it('hands secrets to a command on stdin, not among its arguments', () => {
    const r = run('sh', ['-c', 'read a; read b; test "$a" = "$b" && printf %s "$a"'], { input: 's3cret\ns3cret\n', what: 'reading a secret' });
    expect(r.stdout).toBe('s3cret');
  });
});
