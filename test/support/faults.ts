/**
 * The fault harness: infrastructure faults the tests inflict on the local stack.
 *
 * - A TCP proxy between a service and Kafka or a cluster that can stall: bytes stop moving in both directions while
 *   every socket stays open (a hung network: no RST, no FIN, no answer), then move again.
 * - Killing, stopping and starting parts of the local stack by the pid files `npm run stack:up` wrote; a start is
 *   `stack.ts up` itself, which starts only what is not running and waits until it is healthy.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import type { Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { descendants, isAlive, pidFile, readPid, stopByPidFile, tail } from '../../deploy/local/lib/procs.js';
import type { Engine } from '../../deploy/local/lib/config.js';
import type { StackState } from '../../deploy/local/lib/state.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

// ---------------------------------------------------------------------------------------------------------------
// TCP proxy

export interface Proxy {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  readonly stalled: boolean;
  /** Connections open now (client and upstream socket counted once). */
  readonly connections: number;
  /** Bytes forwarded so far, both directions: shows that a service's traffic really goes through the proxy. */
  readonly forwarded: number;
  /** Stops forwarding in both directions, sockets left open; new connections are accepted and hang too. */
  stall(): void;
  /** Forwards again, including what arrived while stalled. */
  resume(): void;
  close(): Promise<void>;
}

/**
 * Forwards 127.0.0.1:listenPort (0: any free port) to targetHost:targetPort, one upstream connection per client
 * connection. When the target refuses, the client's socket is reset, the nearest a proxy gets to a refusal.
 *
 * Stalling pauses every socket's reading (the kernel's buffers fill, the peer's writes then block) and holds back
 * whatever chunk was already read; nothing is closed, so a client sees exactly a network that stopped answering.
 * Forwarding is done by hand rather than with pipe(): pipe() resumes a source when its destination drains, which
 * would undo a stall.
 */
export async function startProxy(targetHost: string, targetPort: number, listenPort = 0): Promise<Proxy> {
  let stalled = false;
  let forwarded = 0;
  const pairs = new Set<Pair>();

  class Pair {
    readonly held: { from: Socket; chunk: Buffer }[] = [];
    /** Sources paused because the other side's buffer is full (not by a stall). */
    readonly blocked = new Set<Socket>();

    constructor(
      readonly client: Socket,
      readonly upstream: Socket,
    ) {
      this.wire(client, upstream);
      this.wire(upstream, client);
      const closeBoth = () => {
        client.destroy();
        upstream.destroy();
        pairs.delete(this);
      };
      client.on('close', closeBoth);
      upstream.on('close', closeBoth);
      client.on('error', () => upstream.destroy());
      // A refused or reset target: reset the client too, rather than closing it politely.
      upstream.on('error', () => {
        if (!client.destroyed) client.resetAndDestroy();
      });
    }

    private wire(from: Socket, to: Socket): void {
      from.on('data', (chunk: Buffer) => {
        if (stalled) {
          // Read before the pause took effect: hold it until the stall ends.
          this.held.push({ from, chunk });
          from.pause();
          return;
        }
        forwarded += chunk.length;
        if (!to.write(chunk)) {
          this.blocked.add(from);
          from.pause();
        }
      });
      to.on('drain', () => {
        this.blocked.delete(from);
        if (!stalled) from.resume();
      });
      from.on('end', () => {
        // A FIN is forwarded only once the stall is over: 'end' is emitted only after the data before it is read.
        if (!to.destroyed) to.end();
      });
    }

    pause(): void {
      this.client.pause();
      this.upstream.pause();
    }

    resume(): void {
      for (const { from, chunk } of this.held.splice(0)) {
        const to = from === this.client ? this.upstream : this.client;
        forwarded += chunk.length;
        if (!to.destroyed && !to.write(chunk)) this.blocked.add(from);
      }
      for (const s of [this.client, this.upstream]) if (!this.blocked.has(s)) s.resume();
    }
  }

  const server = createServer({ pauseOnConnect: true }, (client) => {
    const upstream = connect({ host: targetHost, port: targetPort });
    upstream.pause();
    const pair = new Pair(client, upstream);
    pairs.add(pair);
    if (!stalled) pair.resume();
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen({ host: '127.0.0.1', port: listenPort, exclusive: true }, () => {
      server.off('error', rej);
      res();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');

  return {
    port: address.port,
    get stalled() {
      return stalled;
    },
    get connections() {
      return pairs.size;
    },
    get forwarded() {
      return forwarded;
    },
    stall() {
      stalled = true;
      for (const p of pairs) p.pause();
    },
    resume() {
      stalled = false;
      for (const p of pairs) p.resume();
    },
    async close() {
      stalled = false;
      const closed = new Promise<void>((res) => server.close(() => res()));
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      pairs.clear();
      await closed;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Parts of the local stack

/**
 * kafka, registry, and a node of a cluster: `elasticsearch-<cluster>` (node 1) or `elasticsearch-<cluster>-<k>`, the
 * cluster being `leader`, `follower` or a further leader cluster `leader<k>` (KCCR_LEADER_CLUSTERS).
 */
export type PartName =
  | 'kafka'
  | 'registry'
  | 'elasticsearch-leader'
  | 'elasticsearch-follower'
  | `elasticsearch-${'leader' | 'follower'}-${number}`
  | `elasticsearch-leader${number}`
  | `elasticsearch-leader${number}-${number}`;

/** Every part of the stack: Kafka, the registry, and each node of every cluster. */
export function stackParts(state: StackState): PartName[] {
  const nodes = (cluster: string) => (state.clusters[cluster]?.nodes?.map((n) => n.part) ?? [`elasticsearch-${cluster}`]) as PartName[];
  return ['kafka', 'registry', ...(state.leaders ?? ['leader']).flatMap(nodes), ...nodes('follower')];
}

export interface LocalStack {
  /** The stack.json this handle was made from. */
  readonly stateFile: string;
  /** The stack's folder (KCCR_STACK_DIR): stack.json lies in it. */
  readonly dir: string;
  readonly state: StackState;
}

export function localStack(stateFile: string, state: StackState): LocalStack {
  return { stateFile, dir: dirname(resolve(stateFile)), state };
}

function pidPath(stack: LocalStack, part: PartName): string {
  return pidFile(join(stack.dir, 'pids'), part);
}

/** The pid of a part's process when it runs (Elasticsearch's launcher, whose child is the server). */
export function partPid(stack: LocalStack, part: PartName): number | undefined {
  const pid = readPid(pidPath(stack, part));
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

export function partsDown(stack: LocalStack): PartName[] {
  return stackParts(stack.state).filter((p) => partPid(stack, p) === undefined);
}

/**
 * SIGKILL to the part's process and everything it started (Elasticsearch's server is its launcher's child), then
 * waits until they are all gone. The pid file stays, as after a crash. Throws when the part is not running.
 */
export async function killPart(stack: LocalStack, part: PartName, timeoutMs = 30_000): Promise<void> {
  const pid = partPid(stack, part);
  if (pid === undefined) throw new Error(`cannot kill ${part}: it is not running (pid file ${pidPath(stack, part)})`);
  const family = [pid, ...descendants(pid)];
  for (const p of family) {
    try {
      process.kill(p, 'SIGKILL');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (family.some(lingers)) {
    if (Date.now() > deadline) throw new Error(`${part}: processes ${family.filter(lingers).join(', ')} still alive ${timeoutMs} ms after SIGKILL`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Whether anything of a process is left that may still hold its sockets. A multi-threaded process (a JVM) shows
 * its main thread as a zombie while its other threads are still exiting, and its files (listening sockets) close
 * only with the last of them; so `isAlive` alone says gone too early.
 */
function lingers(pid: number): boolean {
  if (isAlive(pid)) return true;
  try {
    return readdirSync(`/proc/${pid}/task`).length > 1;
  } catch {
    return false;
  }
}

/** A graceful stop (SIGTERM, SIGKILL after the grace period), for a part that is to be down a while. */
export async function stopPart(stack: LocalStack, part: PartName, graceMs = 30_000): Promise<void> {
  await stopByPidFile(pidPath(stack, part), graceMs);
}

/** The KCCR_PORT_OFFSET a stack was started with: the stacks npm test starts differ only by it, and the broker's port tells it. */
export function portOffset(state: StackState): string | undefined {
  const port = Number(state.kafka.brokers[0]?.split(':').pop());
  return Number.isInteger(port) && port >= 9092 ? String(port - 9092) : undefined;
}

function engineSetting(name: string, engine: Engine | undefined): NodeJS.ProcessEnv {
  return engine ? { [name]: `${engine.kind}:${engine.version}` } : {};
}

/** The settings `stack.ts up` needs to find this stack again: its folder, its mode and its ports. */
export function stackEnv(stack: LocalStack): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KCCR_STACK_DIR: stack.dir,
    KCCR_SECURE: stack.state.mode === 'secure' ? '1' : '0',
    // Its nodes and their heap, so that the parts started again are the ones it had.
    KCCR_LEADER_NODES: String(stack.state.clusters.leader.nodes?.length ?? 1),
    KCCR_FOLLOWER_NODES: String(stack.state.clusters.follower.nodes?.length ?? 1),
    ...(stack.state.esHeap ? { KCCR_ES_HEAP: stack.state.esHeap } : {}),
    // Its leader clusters (fan-in) and their heap: a stack.json written again with fewer would lose them.
    KCCR_LEADER_CLUSTERS: String(stack.state.leaders?.length ?? 1),
    ...(stack.state.clusters.leader2?.heap ? { KCCR_EXTRA_LEADER_HEAP: stack.state.clusters.leader2.heap } : {}),
    // Each side's engine: `stack up` refuses another engine than a running cluster's (absent before engines were listed).
    ...engineSetting('KCCR_LEADER_ENGINE', stack.state.clusters.leader.engine),
    ...engineSetting('KCCR_FOLLOWER_ENGINE', stack.state.clusters.follower.engine),
  };
  if (env.KCCR_PORT_OFFSET === undefined || env.KCCR_PORT_OFFSET === '') {
    const offset = portOffset(stack.state);
    if (offset !== undefined) env.KCCR_PORT_OFFSET = offset;
  }
  return env;
}

/**
 * Starts every part that is not running and waits until all are healthy (`stack.ts up`). Resolves with how long it
 * took; throws with the tail of its output when it fails or takes longer than `timeoutMs`.
 */
export async function startParts(stack: LocalStack, timeoutMs = 300_000): Promise<number> {
  const t0 = Date.now();
  const logs = join(stack.dir, 'test-logs');
  mkdirSync(logs, { recursive: true });
  const logFile = join(logs, 'fault-harness-stack-up.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  log.write(`\n--- ${new Date().toISOString()} stack.ts up (down: ${partsDown(stack).join(', ') || 'nothing'})\n`);
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['deploy/local/stack.ts', 'up'], {
    cwd: ROOT,
    env: stackEnv(stack),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const code = await new Promise<number | null>((res) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (c) => {
      clearTimeout(timer);
      res(c);
    });
  });
  await new Promise<void>((res) => log.end(res));
  if (code !== 0)
    throw new Error(`stack.ts up for ${stack.dir} failed (exit ${code}) after ${Date.now() - t0} ms; its output (${logFile}):\n${tail(logFile, 30)}`);
  return Date.now() - t0;
}

/**
 * `startParts`, watching meanwhile for the moment `answers` first holds (the restarted part serves what the caller
 * needs: `stack.ts up` itself returns later, once every index of a cluster has recovered and its own start-up is
 * done). Resolves, once `stack.ts up` has finished, with that moment (or the end of `stack.ts up` if it came first).
 */
export async function startPartsWatching(stack: LocalStack, answers: () => Promise<boolean>, timeoutMs?: number): Promise<number> {
  let done = false;
  const up = startParts(stack, timeoutMs).finally(() => {
    done = true;
  });
  up.catch(() => undefined);
  let back: number | undefined;
  while (!done && back === undefined) {
    if (await answers().catch(() => false)) back = Date.now();
    else await new Promise((r) => setTimeout(r, 250));
  }
  await up;
  return back ?? Date.now();
}

/** Starts whatever part is down; resolves with the parts it started. */
export async function ensureStackUp(stack: LocalStack): Promise<PartName[]> {
  const down = partsDown(stack);
  if (down.length) await startParts(stack);
  return down;
}
