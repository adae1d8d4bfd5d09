/**
 * `npm test`: the whole suite. Brings up the local stacks it needs (plain, and secure on ports offset by 1000)
 * unless they are already healthy, runs every vitest project against them, and stops what it started.
 *
 *   KCCR_KEEP_STACK=1  leave the stacks it started running afterwards
 *   extra arguments go to vitest (for example a file filter)
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
    return await exec(vitest, ['run', ...process.argv.slice(2)], {
      KCCR_STACK_STATE: join(STACKS.plain.KCCR_STACK_DIR, 'stack.json'),
      KCCR_SECURE_STACK_STATE: join(STACKS.secure.KCCR_STACK_DIR, 'stack.json'),
    });
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
