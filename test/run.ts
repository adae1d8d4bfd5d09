/**
 * `npm test`: the whole suite. Brings up the local stacks it needs (plain, and secure on ports offset by 1000)
 * unless they are already healthy, runs the unit and integration projects against them, then the faults project
 * on its own (it kills and restarts parts of the plain stack, so nothing else may run meanwhile), then the
 * multinode project on a multi-node stack (3 leader nodes, 2 follower nodes, ports offset by 2000; the stacks it
 * started before are stopped first, to give it the machine), then the compatibility matrix (`npm run test:matrix`,
 * its own stack with ports offset by 3000, after the others are stopped), and stops what it started. Fails when any run fails.
 *
 *   KCCR_KEEP_STACK=1  leave the stacks it started running afterwards
 *   KCCR_FAULTS=0      skip the faults project (a quicker local run; the full suite needs it)
 *   KCCR_MULTINODE=0   skip the multinode project (likewise)
 *   KCCR_MATRIX=0      skip the compatibility matrix (test/matrix.ts, run last on a stack of its own; likewise)
 *   extra arguments go to vitest, in both runs (for example a file filter); with --project, one run with exactly them
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EnvReader } from '../services/shared/config.js';
import { failuresOf, type JsonReport, type SuiteError } from './support/report.js';

const root = resolve(import.meta.dirname, '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const vitest = join(root, 'node_modules', '.bin', 'vitest');

export const STACKS = {
  // Two leader clusters for the fan-in tests; the second is small (KCCR_EXTRA_LEADER_HEAP, 512m by default).
  plain: { KCCR_STACK_DIR: join(root, '.stack'), KCCR_LEADER_CLUSTERS: '2' },
  secure: { KCCR_STACK_DIR: join(root, '.stack-secure'), KCCR_SECURE: '1', KCCR_PORT_OFFSET: '1000' },
  multinode: { KCCR_STACK_DIR: join(root, '.stack-multi'), KCCR_PORT_OFFSET: '2000', KCCR_LEADER_NODES: '3', KCCR_FOLLOWER_NODES: '2', KCCR_ES_HEAP: '512m' },
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

/** Where each vitest run writes its JSON report, read back for the summary of failures at the end. */
const reportsDir = join(root, '.test-reports');

/** Vitest arguments that keep the usual console output and also write a JSON report named after the run. */
function reporting(run: string): string[] {
  return [
    '--reporter=default',
    '--reporter=json',
    `--reporter=${join(root, 'test', 'support', 'suite-errors.ts')}`,
    `--outputFile.json=${join(reportsDir, `${run.replace(/\W+/g, '-')}.json`)}`,
  ];
}

function printFailures(run: string): void {
  const file = join(reportsDir, `${run.replace(/\W+/g, '-')}.json`);
  if (!existsSync(file)) return console.log(`test: ${run}: no report was written (vitest stopped before its end; see above)`);
  const errorsFile = file.replace(/\.json$/, '.errors.json');
  const suiteErrors = existsSync(errorsFile) ? (JSON.parse(readFileSync(errorsFile, 'utf8')) as SuiteError[]) : [];
  const lines = failuresOf(JSON.parse(readFileSync(file, 'utf8')) as JsonReport, root, suiteErrors);
  for (const line of lines) console.log(`test: ${run}: FAILED ${line}`);
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

/** The switches of a run, read as every kccr setting is (a bad value stops it, saying which). */
interface Flags {
  faults: boolean;
  multinode: boolean;
  matrix: boolean;
  keepStack: boolean;
}

function readFlags(): Flags {
  const r = new EnvReader(process.env);
  return r.done({
    faults: r.bool('KCCR_FAULTS', true),
    multinode: r.bool('KCCR_MULTINODE', true),
    matrix: r.bool('KCCR_MATRIX', true),
    keepStack: r.bool('KCCR_KEEP_STACK', false),
  });
}

let flags: Flags = { faults: true, multinode: true, matrix: true, keepStack: false };

async function main(): Promise<number> {
  flags = readFlags();
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
    const multiProjects = ['--project', 'multinode'];
    const skipFaults = !flags.faults;
    const skipMulti = !flags.multinode;
    // A filter may match files of some runs only: the others are skipped then (when it matches none, vitest says so).
    const wanted = async (projects: string[]) => args.length === 0 || (await matches(projects, args));
    const runMain =
      args.length === 0 || (await matches(mainProjects, args)) || (!(await matches(faultProjects, args)) && !(await matches(multiProjects, args)));
    const results: [string, number][] = [];
    rmSync(reportsDir, { recursive: true, force: true });
    mkdirSync(reportsDir, { recursive: true });
    if (runMain) results.push(['unit and integration', await exec(vitest, ['run', ...mainProjects, ...reporting('unit and integration'), ...args], env)]);
    if (skipFaults) console.log('test: KCCR_FAULTS=0: the faults project was skipped (it is part of the full suite)');
    else if (await wanted(faultProjects)) results.push(['faults', await exec(vitest, ['run', ...faultProjects, ...reporting('faults'), ...args], env)]);
    if (skipMulti) console.log('test: KCCR_MULTINODE=0: the multinode project was skipped (it is part of the full suite)');
    else if (await wanted(multiProjects)) {
      // The multi-node stack gets the machine: the stacks this run started are stopped first.
      for (const name of started.splice(0)) await exec(tsx, ['deploy/local/stack.ts', 'down'], STACKS[name]);
      if (await ensureUp('multinode')) started.push('multinode');
      results.push([
        'multinode',
        await exec(vitest, ['run', ...multiProjects, ...reporting('multinode'), ...args], {
          KCCR_STACK_STATE: join(STACKS.multinode.KCCR_STACK_DIR, 'stack.json'),
        }),
      ]);
    }
    const matrixProjects = ['--project', 'matrix'];
    if (!flags.matrix) console.log('test: KCCR_MATRIX=0: the compatibility matrix was skipped (it is part of the full suite)');
    else if (await wanted(matrixProjects)) {
      // Its own stack, whose clusters it starts with each pair's engines: the stacks this run started are stopped first.
      for (const name of started.splice(0)) await exec(tsx, ['deploy/local/stack.ts', 'down'], STACKS[name]);
      results.push(['compatibility matrix', await exec(tsx, ['test/matrix.ts', ...args], {})]);
    }
    for (const [run, code] of results) if (code !== 0 && run !== 'compatibility matrix') printFailures(run);
    if (results.length > 1) console.log(`test: ${results.map(([n, c]) => `${n} ${c === 0 ? 'passed' : `failed (exit ${c})`}`).join('; ')}`);
    return results.find(([, c]) => c !== 0)?.[1] ?? 0;
  } finally {
    if (!flags.keepStack) {
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
