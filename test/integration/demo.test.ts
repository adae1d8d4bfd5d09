/**
 * `npm run demo` as a user runs it: the demo script as a child process against the running plain stack. It must
 * end with the verifier's verdict `identical`, having shown the live status table with its lag columns, and leave
 * none of its services running; interrupted, it must stop them too and exit 130.
 *
 * The demo uses fixed names (clusters demo-leader / demo-follower, index kccr-demo): it clears what a previous
 * run left, so these tests share nothing with the others.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../services/control/http/principals.js';
import { isAlive } from '../../deploy/local/lib/procs.js';
import { portOffset } from '../support/faults.js';
import { leaderClusters, loadStack, waitFor } from '../support/stack.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const STACK_DIR = dirname(process.env.KCCR_STACK_STATE ?? join(ROOT, '.stack', 'stack.json'));
// The plain stack's ports, from its state: the demo must not reach a stack on other ports.
const PORT_OFFSET = portOffset(loadStack('plain')) ?? '0';

interface DemoRun {
  readonly child: ChildProcess;
  output: string;
  readonly exit: Promise<number | null>;
}

function startDemo(env: Record<string, string>, args: string[] = []): DemoRun {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['KCCR_SECURE', 'KCCR_PORT_OFFSET'].includes(k)));
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'deploy', 'local', 'demo.ts'), ...args], {
    cwd: ROOT,
    env: { ...base, KCCR_STACK_DIR: STACK_DIR, KCCR_PORT_OFFSET: PORT_OFFSET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: DemoRun = { child, output: '', exit: new Promise((res) => child.on('exit', (code) => res(code))) };
  child.stdout!.on('data', (d: Buffer) => (run.output += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (run.output += d.toString('utf8')));
  return run;
}

/** Listens on `port` (127.0.0.1) until closed; undefined when something else listens there already. */
function holdPort(port: number): Promise<Server | undefined> {
  return new Promise((res) => {
    const server = createServer();
    server.once('error', () => res(undefined));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => res(server));
  });
}

/** The pids the demo printed for its three services. */
function servicePids(output: string): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const m of output.matchAll(/^ {2}(control|extractor-2|extractor|applier) +pid (\d+)/gm)) pids[m[1]!] = Number(m[2]);
  return pids;
}

let current: DemoRun | undefined;

afterEach(async () => {
  // A failed assertion must not leave a demo (and its services) running.
  if (current && current.child.exitCode === null && current.child.signalCode === null) {
    current.child.kill('SIGINT');
    const timer = setTimeout(() => current?.child.kill('SIGKILL'), 40_000);
    await current.exit;
    clearTimeout(timer);
  }
  current = undefined;
});

describe('npm run demo', () => {
  it('takes another port when 8090 is busy, and stops its services and exits 130 when interrupted', async () => {
    // Port 8090 held here (unless something else holds it already): the control service must go elsewhere.
    const blocker = await holdPort(8090);
    try {
      current = startDemo({ KCCR_DEMO_SECONDS: '60' });
      const run = current;
      await waitFor(
        'the demo to start writing',
        async () => run.output.includes('[6/7]') || (run.child.exitCode !== null ? Promise.reject(new Error(run.output)) : false),
        90_000,
        200,
      );
      expect(run.output).toMatch(/^ {2}control +pid \d+ +http:\/\/127\.0\.0\.1:(?!8090\b)\d+ \(port 8090 was taken\)/m);
      const pids = servicePids(run.output);
      expect(Object.keys(pids).sort(), run.output).toEqual(['applier', 'control', 'extractor']);
      run.child.kill('SIGINT');
      const code = await run.exit;
      expect(code, run.output).toBe(130);
      for (const [name, pid] of Object.entries(pids)) expect(isAlive(pid), `${name} (pid ${pid}) still running`).toBe(false);
      expect(run.output).toMatch(/stopping the kccr services \(SIGTERM\)/);
      for (const name of ['control', 'extractor', 'applier'])
        expect(existsSync(join(STACK_DIR, 'pids', `demo-${name}.pid`)), `demo-${name}.pid left behind`).toBe(false);
    } finally {
      await new Promise((res) => (blocker ? blocker.close(res) : res(undefined)));
    }
  }, 150_000);

  it('replicates while writing, shows the lag, verifies identical and stops its services', async () => {
    const t0 = Date.now();
    current = startDemo({ KCCR_DEMO_SECONDS: '10' });
    const run = current;
    const code = await run.exit;
    expect(code, run.output).toBe(0);
    expect(Date.now() - t0).toBeLessThan(120_000);

    // The announcement's call shape, through the control API.
    expect(run.output).toContain('PUT /_plugins/_replication/kccr-demo-follower/_start {"leader_alias":"demo-leader","leader_index":"kccr-demo"}');
    // The live status table, with its lag columns, and rows for the three shards.
    expect(run.output).toMatch(/^ {2}shard +leader cp +follower cp +lag ops +lag +applied +offset\/high$/m);
    expect(run.output).toMatch(/lag \d+ ops, [\d.]+ s/);
    for (const shard of [0, 1, 2]) expect(run.output).toMatch(new RegExp(`^ {2}${shard} +\\d+ +\\d+ +\\d+ +[\\d.]+ s `, 'm'));
    // Writes of every kind happened, and the verifier's verdict.
    expect(run.output).toMatch(/leader writes: [1-9][\d,]* created, [1-9][\d,]* updated, [1-9][\d,]* deleted/);
    expect(run.output).toMatch(/^ {2}verdict: identical$/m);

    // The admin token is kept for the curl commands (mode 600); the users file holds only its digest.
    const tokenFile = join(STACK_DIR, 'secrets', 'demo-token');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    const users = readFileSync(join(STACK_DIR, 'demo-users.json'), 'utf8');
    expect(users).not.toContain(token);
    expect(JSON.parse(users)).toEqual([{ name: 'demo-admin', role: 'admin', token_sha256: sha256Hex(token) }]);
    expect(run.output).toContain('Authorization: Bearer $TOKEN');

    // Every service stopped with SIGTERM, cleanly.
    const pids = servicePids(run.output);
    expect(Object.keys(pids).sort()).toEqual(['applier', 'control', 'extractor']);
    for (const [name, pid] of Object.entries(pids)) expect(isAlive(pid), `${name} (pid ${pid}) still running`).toBe(false);
    for (const name of ['control', 'extractor', 'applier']) expect(run.output).toMatch(new RegExp(`^ {2}${name} +exited with code 0`, 'm'));
  }, 150_000);

  it.skipIf(leaderClusters(loadStack('plain')).length < 2)(
    'fan-in: two leader clusters into their own follower indices under one alias, both verified identical',
    async () => {
      current = startDemo({ KCCR_DEMO_SECONDS: '10' }, ['fan-in']);
      const run = current;
      const code = await run.exit;
      expect(code, run.output).toBe(0);
      expect(run.output).toContain('POST /_plugins/_replication/_autofollow {"leader_clusters":["demo-east","demo-west"]');
      expect(run.output).toMatch(/^ {2}replicating demo-east:kccr-demo -> demo-east-kccr-demo$/m);
      expect(run.output).toMatch(/^ {2}replicating demo-west:kccr-demo -> demo-west-kccr-demo$/m);
      // A status table per source, each with writes of every kind.
      expect(run.output).toMatch(/demo-west -> demo-west-kccr-demo +SYNCING/);
      expect([...run.output.matchAll(/^ {2}verdict: identical$/gm)]).toHaveLength(2);
      expect(run.output).toContain('both read as kccr-demo-all');
      const pids = servicePids(run.output);
      expect(Object.keys(pids).sort()).toEqual(['applier', 'control', 'extractor', 'extractor-2']);
      for (const [name, pid] of Object.entries(pids)) expect(isAlive(pid), `${name} (pid ${pid}) still running`).toBe(false);
    },
    180_000,
  );

  it('refuses a variant it does not know, saying which it has', async () => {
    current = startDemo({}, ['fan-out']);
    const code = await current.exit;
    expect(code).toBe(2);
    expect(current.output).toMatch(/unknown demo variant "fan-out": run `npm run demo` \(one leader cluster\) or `npm run demo -- fan-in` \(two\)/);
  });
});
