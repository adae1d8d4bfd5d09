/**
 * `npm run demo`: the first quick-start command. Brings the local stack up and shows its status.
 * (The replication walkthrough joins it once the control service exists.)
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const stack = (cmd: string) => spawnSync(tsx, [join(root, 'deploy/local/stack.ts'), cmd], { stdio: 'inherit', cwd: root }).status ?? 1;

if (stack('up') !== 0) process.exit(1);
process.exit(stack('status'));
