import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync, statfsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { StackConfig } from './config.js';
import { portFree } from './procs.js';

export interface JavaHome {
  readonly home: string;
  readonly java: string;
  readonly major: number;
}

/** The major version of a java binary, from `java -version`. */
export function javaMajor(javaBin: string): number | undefined {
  const r = spawnSync(javaBin, ['-version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return parseJavaVersion(`${r.stderr}${r.stdout}`);
}

export function parseJavaVersion(text: string): number | undefined {
  const m = /version "(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  const first = Number(m[1]);
  return first === 1 && m[2] ? Number(m[2]) : first;
}

/** The JDK home of the `java` on PATH (bin/java resolved through its links). */
function javaOnPath(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v java'], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout.trim()) return undefined;
  return dirname(dirname(realpathSync(r.stdout.trim())));
}

function jdkCandidates(): JavaHome[] {
  const found: JavaHome[] = [];
  const add = (home: string | undefined) => {
    if (!home) return;
    const java = join(home, 'bin', 'java');
    if (!existsSync(java)) return;
    const major = javaMajor(java);
    if (major !== undefined) found.push({ home, java, major });
  };
  if (process.env.JAVA_HOME) add(process.env.JAVA_HOME);
  add(javaOnPath());
  if (existsSync('/usr/lib/jvm')) {
    for (const d of readdirSync('/usr/lib/jvm')) add(join('/usr/lib/jvm', d));
  }
  return found;
}

/**
 * Picks a JDK of at least `minMajor`: KCCR_<what>_JAVA_HOME if set, else JAVA_HOME or the java on PATH,
 * else any JDK under /usr/lib/jvm. The error says which Java was found and which is needed.
 */
export function findJava(what: string, minMajor: number, overrideVar: string): JavaHome {
  const override = process.env[overrideVar];
  if (override) {
    const java = join(override, 'bin', 'java');
    const major = existsSync(java) ? javaMajor(java) : undefined;
    if (major === undefined) throw new Error(`${overrideVar}=${override} has no working bin/java; point it at a JDK ${minMajor}+ home`);
    if (major < minMajor) throw new Error(`${what} needs Java ${minMajor}+, but ${overrideVar} points at Java ${major}`);
    return { home: override, java, major };
  }
  const all = jdkCandidates();
  const ok = all.find((j) => j.major >= minMajor);
  if (ok) return ok;
  const seen = all.length ? all.map((j) => `Java ${j.major} (${j.home})`).join(', ') : 'no Java at all';
  throw new Error(`${what} needs Java ${minMajor}+; found ${seen}. Install a JDK ${minMajor}+ or set ${overrideVar} to its home.`);
}

export function requireCommand(cmd: string, hint: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} is not installed or not on PATH: ${hint}`);
}

export function availableMemoryMiB(): number {
  const info = readFileSync('/proc/meminfo', 'utf8');
  const m = /MemAvailable:\s+(\d+) kB/.exec(info);
  return m ? Math.floor(Number(m[1]) / 1024) : Number.POSITIVE_INFINITY;
}

export function freeDiskMiB(dir: string): number {
  mkdirSync(dir, { recursive: true });
  const s = statfsSync(dir);
  return Math.floor((s.bavail * s.bsize) / 1024 / 1024);
}

export function heapMiB(heap: string): number {
  const n = Number(heap.slice(0, -1));
  return heap.endsWith('g') ? n * 1024 : n;
}

/**
 * What the parts about to start need of memory: their heaps, and 1 GiB beside them (JVM overhead, the page cache they
 * lean on). Parts already running are not counted: restarting one part (a fault test's Kafka) needs only its own.
 */
export function memoryNeededMiB(heaps: readonly string[]): number {
  return heaps.length === 0 ? 0 : heaps.reduce((n, h) => n + heapMiB(h), 0) + 1024;
}

/** Everything that would make start-up fail, reported together before anything starts. */
export async function preflight(config: StackConfig, needPorts: Record<string, number>, heaps: readonly string[]): Promise<void> {
  const problems: string[] = [];
  const memNeeded = memoryNeededMiB(heaps);
  const mem = availableMemoryMiB();
  if (mem < memNeeded)
    problems.push(
      `too little memory: ${mem} MiB available, the ${heaps.length} part(s) to start need about ${memNeeded} MiB (lower KCCR_ES_HEAP / KCCR_KAFKA_HEAP or free memory)`,
    );
  const disk = freeDiskMiB(config.stackDir);
  if (disk < 2048)
    problems.push(`too little disk: ${disk} MiB free under ${config.stackDir}, the stack needs at least 2048 MiB (set KCCR_STACK_DIR elsewhere or free space)`);
  for (const [part, port] of Object.entries(needPorts)) {
    if (!(await portFree(port)))
      problems.push(
        `port ${port} (${part}) is already in use on 127.0.0.1: stop what uses it or choose another port (KCCR_PORT_OFFSET, or the part's own port setting: docs/reference/settings.md, "Local stack")`,
      );
  }
  if (problems.length) throw new Error(`cannot start the stack:\n  - ${problems.join('\n  - ')}`);
}
