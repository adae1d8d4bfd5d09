#!/usr/bin/env node
// The `kccr` command: the compiled CLI when `npm run build` made dist/, otherwise the TypeScript through tsx.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'services', 'cli', 'main.js');
let cli;
if (existsSync(built)) {
  cli = await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(pathToFileURL(join(root, 'services', 'cli', 'main.ts')).href);
}
process.exitCode = await cli.runCli(process.argv.slice(2), process.env, cli.processIo());
