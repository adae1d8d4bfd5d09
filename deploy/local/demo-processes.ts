/**
 * The demo's child processes: kccr's extractor, applier and control service, each run from its TypeScript
 * (node --import tsx), output to its own log, pid in a pid file. The demo stops exactly these, by pid: on its
 * normal end, on a failure, on Ctrl-C; a demo killed outright leaves pid files the next run stops them by.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isAlive, readPid } from './lib/procs.js';

/** `extractor-2`: the fan-in demo's extractor of its second leader cluster. */
export type DemoServiceName = 'extractor' | 'extractor-2' | 'applier' | 'control';

export const DEMO_SERVICES: readonly DemoServiceName[] = ['control', 'extractor', 'extractor-2', 'applier'];

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** The script a service runs from; also what tells a leftover process of ours from an unrelated one. */
export function serviceScript(root: string, name: DemoServiceName): string {
  return join(root, 'services', name === 'extractor-2' ? 'extractor' : name, 'main.ts');
}

export class DemoService {
  private child?: ChildProcess;
  private exitInfo?: ExitInfo;
  private exitPromise?: Promise<ExitInfo>;
  /** Set once the demo asked for the stop: an exit after it is expected, not a failure. */
  private stopping = false;

  constructor(
    readonly name: DemoServiceName,
    private readonly root: string,
    private readonly env: NodeJS.ProcessEnv,
    readonly logFile: string,
    readonly pidFile: string,
  ) {}

  /** Starts the service; its log starts afresh. `onExit` hears of an exit the demo did not ask for. */
  start(onExit: (info: ExitInfo) => void): number {
    mkdirSync(dirname(this.logFile), { recursive: true });
    mkdirSync(dirname(this.pidFile), { recursive: true });
    const fd = openSync(this.logFile, 'w');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, ['--import', 'tsx', serviceScript(this.root, this.name)], {
        cwd: this.root,
        env: this.env,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    if (child.pid === undefined) throw new Error(`could not start the ${this.name} (node ${process.execPath})`);
    writeFileSync(this.pidFile, `${child.pid}\n`);
    this.child = child;
    this.exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        rmSync(this.pidFile, { force: true });
        resolve(this.exitInfo);
        if (!this.stopping) onExit(this.exitInfo);
      });
    });
    return child.pid;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.exitInfo === undefined;
  }

  /** SIGTERM, and SIGKILL if the service has not stopped within `graceMs` (it bounds its own stop at 20 s). */
  async stop(graceMs = 25_000): Promise<{ info: ExitInfo; ms: number; killed: boolean } | undefined> {
    if (!this.child || !this.exitPromise) return undefined;
    this.stopping = true;
    const t0 = Date.now();
    if (this.exitInfo) return { info: this.exitInfo, ms: 0, killed: false };
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
    const first = await Promise.race([this.exitPromise, timedOut]);
    clearTimeout(timer);
    if (first !== 'timeout') return { info: first, ms: Date.now() - t0, killed: false };
    this.child.kill('SIGKILL');
    return { info: await this.exitPromise, ms: Date.now() - t0, killed: true };
  }

  /** For a second Ctrl-C: no grace. */
  kill(): void {
    this.stopping = true;
    if (this.running) this.child?.kill('SIGKILL');
  }

  /** The last lines of the service's log, for a failure message. */
  tail(lines = 12): string {
    return logTail(this.logFile, lines);
  }
}

export function logTail(file: string, lines = 12): string {
  if (!existsSync(file)) return '(no log)';
  const text = readFileSync(file, 'utf8').trimEnd();
  return text.split('\n').slice(-lines).join('\n') || '(empty log)';
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** The pid in `file` when that process is alive and runs `script` (a reused pid is someone else's). */
export function livePidRunning(file: string, script: string): number | undefined {
  const pid = readPid(file);
  if (pid === undefined || !isAlive(pid)) return undefined;
  return commandLine(pid).includes(script) ? pid : undefined;
}

/**
 * Services a previous demo left running (it was killed before it could stop them): SIGTERM, then SIGKILL after
 * the grace time. Returns what it stopped, as "name (pid N)".
 */
export async function stopLeftovers(root: string, pidsDir: string, graceMs = 25_000): Promise<string[]> {
  const stopped: string[] = [];
  for (const name of DEMO_SERVICES) {
    const file = join(pidsDir, `demo-${name}.pid`);
    const pid = livePidRunning(file, serviceScript(root, name));
    if (pid === undefined) {
      rmSync(file, { force: true });
      continue;
    }
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(file, { force: true });
    stopped.push(`${name} (pid ${pid})`);
  }
  return stopped;
}
