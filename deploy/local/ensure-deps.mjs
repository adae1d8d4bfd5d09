// Installs the npm dependencies when node_modules is missing or older than package-lock.json,
// so that `npm run demo` and `npm test` work on a fresh clone. Plain JavaScript: it runs before anything is installed.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// npm writes node_modules/.package-lock.json on every install; older than package-lock.json means stale.
const marker = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `kccr needs Node.js 24 or newer; this is ${process.version}. Install Node.js 24 LTS, or run\n` +
      '  source deploy/local/ensure-node.sh\n' +
      'which fetches it into .tools/ (once) and puts it first on PATH in this shell; then try again.',
  );
  process.exit(1);
}
const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
if (stale) {
  console.log('installing npm dependencies (npm ci) ...');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('npm ci failed; see the messages above');
    process.exit(r.status ?? 1);
  }
}
