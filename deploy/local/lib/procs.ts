import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { dirname, join } from 'node:path';

/** The processes the stack starts are known only by the pid files it writes; it never stops anything else. */
export function pidFile(pidsDir: string, part: string): string {
  return join(pidsDir, `${part}.pid`);
}

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const n = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers kill(0); its state in /proc says it is gone.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return true;
  }
}

export interface StartOptions {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly logFile: string;
  readonly pidFile: string;
}

/** Starts a long-running process detached from this one, output appended to its log, pid recorded. */
export function startDetached(opts: StartOptions): number {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  mkdirSync(dirname(opts.pidFile), { recursive: true });
  const fd = openSync(opts.logFile, 'a');
  try {
    const child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    if (child.pid === undefined) throw new Error(`could not start ${opts.command}`);
    child.unref();
    writeFileSync(opts.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** The pids of every process below `pid` (Elasticsearch's launcher runs the server as its child). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process ended while we looked
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/**
 * SIGTERM, then SIGKILL after the grace period, for the recorded process and everything it started;
 * removes the pid file. Returns whether a process was stopped.
 */
export async function stopByPidFile(file: string, graceMs = 30_000): Promise<boolean> {
  const pid = readPid(file);
  if (pid === undefined) return false;
  let stopped = false;
  if (isAlive(pid)) {
    const family = [pid, ...descendants(pid)];
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (family.some(isAlive) && Date.now() < deadline) await sleep(200);
    for (const p of family) if (isAlive(p)) signal(p, 'SIGKILL');
    while (family.some(isAlive)) await sleep(100);
    stopped = true;
  }
  rmSync(file, { force: true });
  return stopped;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** True when nothing listens on 127.0.0.1:port and we may bind it. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolvePromise(true)));
  });
}

export function tcpOpen(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      socket.destroy();
      resolvePromise(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a short command to completion; throws with its output when it fails. `input` is written to its stdin
 * (secrets go there, never among the arguments, which any user can read in ps).
 */
export function run(command: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; what: string }): RunResult {
  const r = spawnSync(command, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
  if (r.error) throw new Error(`${opts.what}: could not run ${command}: ${r.error.message}`);
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`${opts.what} failed (exit ${r.status}) running: ${command} ${args.join(' ')}\n${out}`);
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function tail(file: string, lines = 20): string {
  if (!existsSync(file)) return '(no log file yet)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Polls `probe` until it returns true or the time is up; the error names the part and its log. */
export async function waitUntil(part: string, logFile: string, timeoutMs: number, probe: () => Promise<boolean>, alive?: () => boolean): Promise<number> {
  const start = Date.now();
  let delay = 250;
  while (Date.now() - start < timeoutMs) {
    if (await probe().catch(() => false)) return Date.now() - start;
    if (alive && !alive()) {
      throw new Error(`${part} exited during start-up; its log is ${logFile}. Last lines:\n${tail(logFile)}`);
    }
    await sleep(delay);
    delay = Math.min(delay * 1.5, 2000);
  }
  throw new Error(`${part} did not become healthy within ${Math.round(timeoutMs / 1000)} s; its log is ${logFile}. Last lines:\n${tail(logFile)}`);
}
