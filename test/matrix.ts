/**
 * `npm run test:matrix`: the compatibility matrix. One Kafka and registry are started once (folder .stack-matrix,
 * ports offset by 3000); for each pair of engines only the two clusters are stopped, their data purged and started
 * again with the pair's engines (`stack.ts down --clusters --purge`, then `up`: about 15 s instead of a whole stack's
 * start), and the matrix project (test/matrix/compat.test.ts) runs against them. Prints each pair's result and time;
 * fails when any pair failed. `npm test` runs it last (KCCR_MATRIX=0 skips it there).
 *
 *   KCCR_MATRIX_PAIRS  the pairs to run, `<leader engine>><follower engine>` separated by commas (default: all five)
 *   KCCR_STACK_DIR, KCCR_PORT_OFFSET  the stack's folder and ports (default .stack-matrix, 3000)
 *   KCCR_KEEP_STACK=1  leave the stack running afterwards (with the last pair's clusters)
 *   extra arguments go to vitest (for example -t walkthrough)
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { EnvReader } from '../services/shared/config.js';

const root = resolve(import.meta.dirname, '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const vitest = join(root, 'node_modules', '.bin', 'vitest');

export const MATRIX_STACK = { KCCR_STACK_DIR: join(root, '.stack-matrix'), KCCR_PORT_OFFSET: '3000' } as const;

/** The pairs the issue asks for: Elasticsearch 8 <-> 9, Elasticsearch <-> OpenSearch 2, OpenSearch 3 -> 3. */
export const DEFAULT_PAIRS = [
  'elasticsearch:8.19.21>elasticsearch:9.2.4',
  'elasticsearch:9.2.4>elasticsearch:8.19.21',
  'elasticsearch:8.19.21>opensearch:2.19.4',
  'opensearch:2.19.4>elasticsearch:8.19.21',
  'opensearch:3.3.2>opensearch:3.3.2',
].join(',');

const PAIR = /^(elasticsearch:(8|9)|opensearch:(2|3))\.\d+\.\d+>(elasticsearch:(8|9)|opensearch:(2|3))\.\d+\.\d+$/;

interface Flags {
  readonly pairs: [string, string][];
  readonly keepStack: boolean;
  readonly stack: { readonly KCCR_STACK_DIR: string; readonly KCCR_PORT_OFFSET: string };
}

function readFlags(): Flags {
  const r = new EnvReader(process.env);
  const flags = r.done({
    pairs: r.list('KCCR_MATRIX_PAIRS', DEFAULT_PAIRS.split(',')),
    keepStack: r.bool('KCCR_KEEP_STACK', false),
    // The stack's folder and ports, as for `stack.ts` (by default its own, beside the other stacks of `npm test`).
    dir: r.matching('KCCR_STACK_DIR', MATRIX_STACK.KCCR_STACK_DIR, /./, 'a folder'),
    offset: r.matching('KCCR_PORT_OFFSET', MATRIX_STACK.KCCR_PORT_OFFSET, /^\d+$/, 'a port offset'),
  });
  const bad = flags.pairs.filter((p) => !PAIR.test(p));
  if (bad.length)
    throw new Error(`KCCR_MATRIX_PAIRS: expected <engine>><engine> pairs such as opensearch:2.19.4>elasticsearch:8.19.21, received ${bad.join(', ')}`);
  return {
    pairs: flags.pairs.map((p) => p.split('>') as [string, string]),
    keepStack: flags.keepStack,
    stack: { KCCR_STACK_DIR: flags.dir, KCCR_PORT_OFFSET: flags.offset },
  };
}

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((res) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: 'inherit' });
    child.on('exit', (code) => res(code ?? 1));
  });
}

async function main(): Promise<number> {
  const { pairs, keepStack, stack } = readFlags();
  const stackEnv = (leader: string, follower: string) => ({ ...stack, KCCR_LEADER_ENGINE: leader, KCCR_FOLLOWER_ENGINE: follower });
  const results: { pair: string; code: number; seconds: number; startSeconds: number }[] = [];
  const t0 = Date.now();
  try {
    for (const [leader, follower] of pairs) {
      const pair = `${leader} -> ${follower}`;
      console.log(`\nmatrix: ${pair}`);
      const p0 = Date.now();
      // The clusters of the last pair (or of an earlier run) go with their data; Kafka and the registry stay.
      await exec(tsx, ['deploy/local/stack.ts', 'down', '--clusters', '--purge'], stackEnv(leader, follower));
      const up = await exec(tsx, ['deploy/local/stack.ts', 'up'], stackEnv(leader, follower));
      const startSeconds = (Date.now() - p0) / 1000;
      const code =
        up !== 0
          ? up
          : await exec(vitest, ['run', '--project', 'matrix', ...process.argv.slice(2)], { KCCR_STACK_STATE: join(stack.KCCR_STACK_DIR, 'stack.json') });
      results.push({ pair, code, seconds: (Date.now() - p0) / 1000, startSeconds });
    }
  } finally {
    // Purged: the last pair's clusters' data is of no use to a later start with other engines.
    if (!keepStack) await exec(tsx, ['deploy/local/stack.ts', 'down', '--purge'], stack);
  }
  console.log("\nmatrix: results (time includes starting the pair's clusters)");
  for (const r of results) {
    console.log(
      `  ${r.code === 0 ? 'passed' : `FAILED (exit ${r.code})`}  ${r.pair}  ${r.seconds.toFixed(0)} s (clusters up in ${r.startSeconds.toFixed(0)} s)`,
    );
  }
  console.log(`matrix: ${((Date.now() - t0) / 1000).toFixed(0)} s in all`);
  return results.find((r) => r.code !== 0)?.code ?? (results.length === pairs.length ? 0 : 1);
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`matrix: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
