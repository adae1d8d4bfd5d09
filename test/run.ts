/**
 * `npm test`: the whole suite. Brings up the local stacks it needs (plain, and secure on ports offset by 1000)
 * unless they are already healthy, runs the unit and integration projects against them, then the faults project
 * on its own (it kills and restarts parts of the plain stack, so nothing else may run meanwhile), and stops what it
 * started. Fails when either run fails.
 *
 *   KCCR_KEEP_STACK=1  leave the stacks it started running afterwards
 *   KCCR_FAULTS=0      skip the faults project (a quicker local run; the full suite needs it)
 *   extra arguments go to vitest, in both runs (for example a file filter); with --project, one run with exactly them
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const vitest = join(root, 'node_modules', '.bin', 'vitest');

export const STACKS = {
  plain: { KCCR_STACK_DIR: join(root, '.stack') },
  secure: { KCCR_STACK_DIR: join(root, '.stack-secure'), KCCR_SECURE: '1', KCCR_PORT_OFFSET: '1000' },
} as const;

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv, quiet = false): Promise<number> {
  return new Promise((res) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: quiet ? 'ignore' : 'inherit' });
    child.on('exit', (code) => res(code ?? 1));
  });
}

/** Whether the projects hold a test file the arguments select (`vitest list --filesOnly`). */
function matches(projects: string[], args: string[]): Promise<boolean> {
  return new Promise((res) => {
    const child = spawn(vitest, ['list', '--filesOnly', ...projects, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => res(code === 0 && out.trim().length > 0));
  });
}

async function ensureUp(name: keyof typeof STACKS): Promise<boolean> {
  const env = STACKS[name];
  if ((await exec(tsx, ['deploy/local/stack.ts', 'status'], env, true)) === 0) {
    console.log(`test: the ${name} stack is already up; using it`);
    return false;
  }
  console.log(`test: starting the ${name} stack ...`);
  const code = await exec(tsx, ['deploy/local/stack.ts', 'up'], env);
  if (code !== 0) throw new Error(`the ${name} stack did not start (see above)`);
  return true;
}

async function main(): Promise<number> {
  const started: (keyof typeof STACKS)[] = [];
  try {
    // One after the other: two stacks starting at once on two cores time out more often than they save.
    for (const name of ['plain', 'secure'] as const) if (await ensureUp(name)) started.push(name);
    // bin/kccr.js runs dist/ when it exists (the benchmarks build it): rebuild it, so tests never run a stale CLI.
    if (existsSync(join(root, 'dist'))) {
      const built = await exec(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], {});
      if (built !== 0) return built;
    }
    const env = {
      KCCR_STACK_STATE: join(STACKS.plain.KCCR_STACK_DIR, 'stack.json'),
      KCCR_SECURE_STACK_STATE: join(STACKS.secure.KCCR_STACK_DIR, 'stack.json'),
    };
    const args = process.argv.slice(2);
    if (args.some((a) => a === '--project' || a.startsWith('--project='))) return await exec(vitest, ['run', ...args], env);
    const mainProjects = ['--project', 'unit', '--project', 'integration'];
    const faultProjects = ['--project', 'faults'];
    const skipFaults = process.env.KCCR_FAULTS === '0';
    // A filter may match files of one run only: the other is skipped then (when it matches none, vitest says so).
    const runMain = args.length === 0 || skipFaults || (await matches(mainProjects, args)) || !(await matches(faultProjects, args));
    const main = runMain ? await exec(vitest, ['run', ...mainProjects, ...args], env) : 0;
    if (skipFaults) {
      console.log('test: KCCR_FAULTS=0: the faults project was skipped (it is part of the full suite)');
      return main;
    }
    if (args.length > 0 && !(await matches(faultProjects, args))) return main;
    const faults = await exec(vitest, ['run', ...faultProjects, ...args], env);
    if (main !== 0 || faults !== 0) console.log(`test: unit and integration ${main === 0 ? 'passed' : `failed (exit ${main})`}; faults ${faults === 0 ? 'passed' : `failed (exit ${faults})`}`);
    return main !== 0 ? main : faults;
  } finally {
    if (process.env.KCCR_KEEP_STACK !== '1') {
      for (const name of started) await exec(tsx, ['deploy/local/stack.ts', 'down'], STACKS[name]);
    }
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`test: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
