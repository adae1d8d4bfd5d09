/** The `kccr` command as a user runs it: a child process (bin/kccr.js), with no control-service settings inherited. */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
const KCCR = join(ROOT, 'bin', 'kccr.js');

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `kccr <args>` with `env` over this process's environment (KCCR_CONTROL_* cleared first); `input` is its stdin. */
export function kccr(args: readonly string[], env: Record<string, string> = {}, input?: string): Promise<CliRun> {
  return new Promise((res) => {
    const cleared = { KCCR_CONTROL_URL: '', KCCR_CONTROL_TOKEN: '', KCCR_CONTROL_USER: '', KCCR_CONTROL_PASSWORD: '' };
    const child = execFile(
      process.execPath,
      [KCCR, ...args],
      { cwd: ROOT, env: { ...process.env, ...cleared, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
    child.stdin!.end(input);
  });
}
