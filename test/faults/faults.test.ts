/**
 * Infrastructure faults under a mixed write load (issue 9): Kafka, the registry and either cluster killed or kept
 * down, a hung network between a service and Kafka or the follower, a write-blocked follower index, and a leader
 * index recreated between two replications. These kill parts of the plain stack, so this project runs alone,
 * after the others (test/run.ts).
 *
 * One extractor and one applier (real processes) serve every scenario; the extractor reaches Kafka through a proxy
 * on Kafka's PROXIED listener, the applier reaches the follower through a proxy, so either link can hang. Each
 * scenario has its own 3-shard leader index and follower index, and is run and judged by test/support/scenario.ts.
 */
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { verifyIndex } from '../../services/verifier/verify.js';
import { readStackConfig } from '../../deploy/local/lib/config.js';
import { tcpOpen } from '../../deploy/local/lib/procs.js';
import { compareIndices } from '../support/checks.js';
import { closeControlledHarness, startControlledHarness } from '../support/control.js';
import { ensureStackUp, localStack, stackEnv, startProxy } from '../support/faults.js';
import type { Proxy } from '../support/faults.js';
import { bulkLines } from '../support/replication.js';
import { restart, runScenario, sleep } from '../support/scenario.js';
import type { Scenario, ScenarioContext } from '../support/scenario.js';
import { esConnection, loadStack, uniqueName, waitFor } from '../support/stack.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const STATE_FILE = process.env.KCCR_STACK_STATE ?? join(ROOT, '.stack', 'stack.json');

const stack = loadStack('plain');
const local = localStack(STATE_FILE, stack);

let kafkaProxy: Proxy;
let followerProxy: Proxy;

/** Filled in once the services run (beforeAll below). */
const ctx: ScenarioContext = {
  tag: 'faults',
  stack,
  local,
  config: readStackConfig(stackEnv(local)),
  h: undefined as unknown as ScenarioContext['h'],
  control: undefined as unknown as ScenarioContext['control'],
  reset: () => {
    kafkaProxy?.resume();
    followerProxy?.resume();
  },
  restartServices: false,
};

/**
 * Stalls a proxy for `ms`. The harness checks itself: the service's traffic went through the proxy before, and
 * nothing was forwarded while stalled (`during` may check more while it hangs).
 */
async function stall(proxy: Proxy, what: string, ms: number, during?: () => Promise<void>): Promise<void> {
  if (proxy.connections === 0 || proxy.forwarded === 0) throw new Error(`harness: no traffic goes through the ${what} proxy; the service bypasses it`);
  proxy.stall();
  const before = proxy.forwarded;
  try {
    await Promise.all([sleep(ms), during?.()]);
    if (proxy.forwarded !== before) throw new Error(`harness: the ${what} proxy forwarded ${proxy.forwarded - before} bytes while stalled`);
  } finally {
    proxy.resume();
  }
}

describe('fault harness', () => {
  it('a stalled proxy forwards nothing and closes nothing, and forwards everything once resumed', async () => {
    const echo = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.pipe(socket);
    });
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    const port = (echo.address() as { port: number }).port;
    const proxy = await startProxy('127.0.0.1', port);
    const received = (socket: Socket) => {
      const chunks: Buffer[] = [];
      socket.on('error', () => undefined);
      socket.on('data', (c: Buffer) => chunks.push(c));
      return () => Buffer.concat(chunks).toString();
    };
    try {
      const a = connect(proxy.port, '127.0.0.1');
      await once(a, 'connect');
      const gotA = received(a);
      a.write('one');
      await waitFor('the echo through the proxy', async () => gotA() === 'one', 2000, 20);

      proxy.stall();
      a.write('two');
      const b = connect(proxy.port, '127.0.0.1');
      await once(b, 'connect');
      const gotB = received(b);
      b.write('three');
      await sleep(500);
      expect(gotA()).toBe('one');
      expect(gotB()).toBe('');
      expect(a.destroyed || b.destroyed).toBe(false);
      expect(proxy.connections).toBe(2);

      proxy.resume();
      await waitFor('what was held back', async () => gotA() === 'onetwo' && gotB() === 'three', 2000, 20);
      a.destroy();
      b.destroy();
    } finally {
      await proxy.close();
      echo.close();
    }

    // A target that refuses: the client's connection is reset, not left hanging.
    const refused = await startProxy('127.0.0.1', port);
    try {
      const c = connect(refused.port, '127.0.0.1');
      const error = new Promise<string>((res) => c.on('error', (e: NodeJS.ErrnoException) => res(e.code ?? e.message)));
      await new Promise((res) => c.on('close', res));
      expect(await error).toBe('ECONNRESET');
    } finally {
      await refused.close();
    }
  });

  it('the plain comparison and the verifier find real differences', async () => {
    const leaderIndex = uniqueName('flt-compare');
    const followerIndex = uniqueName('flf-compare');
    const leader = new ElasticsearchAdapter(esConnection(stack, 'leader'));
    const follower = new ElasticsearchAdapter(esConnection(stack, 'follower'));
    try {
      const settings = { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } } };
      await leader.createIndex(leaderIndex, settings);
      await follower.createIndex(followerIndex, settings);
      const same = Array.from({ length: 20 }, (_, i) => ({
        id: `same-${i}`,
        ...(i % 3 === 0 ? { routing: 'r1' } : {}),
        source: { n: i, nested: { a: 1, b: [1, 2] } },
      }));
      await leader.bulk(
        bulkLines(leaderIndex, [
          ...same,
          { id: 'missing', source: { n: 1 } },
          { id: 'changed', source: { n: 1 } },
          { id: 'rerouted', routing: 'r1', source: { n: 1 } },
        ]),
        { refresh: 'true' },
      );
      // The same documents with their keys in another order are the same documents.
      const reordered = same.map((d) => ({ ...d, source: { nested: { b: [1, 2], a: 1 }, n: d.source.n } }));
      await follower.bulk(
        bulkLines(followerIndex, [
          ...reordered,
          { id: 'extra', source: { n: 1 } },
          { id: 'changed', source: { n: 2 } },
          { id: 'rerouted', routing: 'r2', source: { n: 1 } },
        ]),
        { refresh: 'true' },
      );

      const c = await compareIndices(leader, follower, leaderIndex, followerIndex);
      expect({ missing: c.missing, extra: c.extra, different: [...c.different].sort(), leaderCount: c.leaderCount, followerCount: c.followerCount }).toEqual({
        missing: ['missing'],
        extra: ['extra'],
        different: ['changed', 'rerouted'],
        leaderCount: 23,
        followerCount: 23,
      });
      expect(c.differences).toBe(4);
      expect((await compareIndices(leader, leader, leaderIndex, leaderIndex)).differences).toBe(0);
      const v = await verifyIndex(leader, follower, { leaderIndex, followerIndex });
      expect(v.identical).toBe(false);
      expect(v.differences).toBeGreaterThanOrEqual(3);
    } finally {
      await leader.deleteIndex(leaderIndex);
      await follower.deleteIndex(followerIndex);
      await Promise.all([leader.close(), follower.close()]);
    }
  });
});

describe('replication under infrastructure faults', () => {
  beforeAll(async () => {
    // A part left down by an aborted earlier run would fail every scenario.
    await ensureStackUp(local);
    const proxied = stack.kafka.proxied;
    if (!proxied) throw new Error(`${STATE_FILE} names no proxied Kafka listener: run \`npm run stack:up\` (it rewrites stack.json) and restart Kafka`);
    if (!(await tcpOpen(proxied.listenerPort))) {
      throw new Error(
        `Kafka does not listen on its proxied listener (port ${proxied.listenerPort}); it was started by an older stack: restart it (\`npm run stack:down && npm run stack:up\`)`,
      );
    }
    kafkaProxy = await startProxy('127.0.0.1', proxied.listenerPort, proxied.advertisedPort);
    const follower = new URL(stack.clusters.follower.url);
    followerProxy = await startProxy(follower.hostname, Number(follower.port));
    ({ h: ctx.h, control: ctx.control } = await startControlledHarness('faults', {
      services: {
        extractorEnv: { KCCR_KAFKA_BROKERS: `127.0.0.1:${kafkaProxy.port}` },
        applierEnv: { KCCR_FOLLOWER_URL: `http://127.0.0.1:${followerProxy.port}` },
      },
    }));
  }, 360_000);

  afterEach(async () => {
    // Whatever happened, the next scenario gets the whole stack, open links and (after a failure) fresh services.
    kafkaProxy?.resume();
    followerProxy?.resume();
    const started = await ensureStackUp(local);
    if (started.length) console.log(`faults: after the scenario: started ${started.join(', ')} again`);
    if (ctx.restartServices && ctx.h) {
      console.log('faults: after a failed scenario: restarting the extractor and the applier');
      await Promise.all([restart(ctx.h.extractor), restart(ctx.h.applier)]);
      ctx.restartServices = false;
    }
  }, 360_000);

  afterAll(async () => {
    await closeControlledHarness(ctx.h, ctx.control);
    await kafkaProxy?.close();
    await followerProxy?.close();
  }, 120_000);

  it('applier <-> follower stalled 30 s', { timeout: 420_000 }, async () => {
    await runScenario(ctx, 'applier <-> follower stalled 30 s', (s: Scenario) =>
      s.fault('stall', () =>
        stall(followerProxy, 'applier <-> follower', 30_000, async () => {
          // The harness's own evidence that the applier is cut off: the follower's count does not move meanwhile.
          const count = async () => (await ctx.h.follower.request<{ count: number }>('GET', `/${s.followerIndex}/_count`)).body.count;
          await sleep(3000);
          const first = await count();
          await sleep(25_000);
          const later = await count();
          if (later !== first) throw new Error(`harness: the follower index went from ${first} to ${later} documents while the applier's link was stalled`);
        }),
      ),
    );
  });

  it('extractor <-> Kafka stalled 30 s', { timeout: 420_000 }, async () => {
    await runScenario(ctx, 'extractor <-> Kafka stalled 30 s', (s: Scenario) => s.fault('stall', () => stall(kafkaProxy, 'extractor <-> Kafka', 30_000)));
  });

  it('follower index write-blocked 60 s', { timeout: 450_000 }, async () => {
    await runScenario(ctx, 'follower index write-blocked 60 s', (s: Scenario) =>
      s.fault('write block', async () => {
        const block = (value: boolean | null) =>
          ctx.h.follower.request('PUT', `/${encodeURIComponent(s.followerIndex)}/_settings`, { body: { index: { blocks: { write: value } } } });
        await block(true);
        try {
          await sleep(60_000);
        } finally {
          await block(null);
        }
      }),
    );
  });

  it('leader Elasticsearch SIGKILL + restart', { timeout: 480_000 }, async () => {
    await runScenario(ctx, 'leader Elasticsearch SIGKILL + restart', (s: Scenario) => s.fault('leader kill', () => s.killAndRestart('elasticsearch-leader')));
  });

  it('follower Elasticsearch SIGKILL + restart', { timeout: 480_000 }, async () => {
    await runScenario(ctx, 'follower Elasticsearch SIGKILL + restart', (s: Scenario) =>
      s.fault('follower kill', () => s.killAndRestart('elasticsearch-follower')),
    );
  });

  it('Kafka SIGKILL + restart', { timeout: 480_000 }, async () => {
    await runScenario(ctx, 'Kafka SIGKILL + restart', (s: Scenario) => s.fault('kafka kill', () => s.killAndRestart('kafka')));
  });

  it('Kafka down 60 s', { timeout: 540_000 }, async () => {
    await runScenario(ctx, 'Kafka down 60 s', (s: Scenario) => s.fault('kafka down', () => s.killAndRestart('kafka', 60_000)));
  });

  it('registry SIGKILL + restart, then the applier and the extractor restarted', { timeout: 480_000 }, async () => {
    // The services hold the schemas they use, so replication need not stop while the registry is away: the status
    // window does not apply. What must hold is that nothing is dead-lettered, also by services started afterwards.
    await runScenario(ctx, 'registry SIGKILL + restart, services restarted', (s: Scenario) =>
      s.fault(
        'registry kill, services restart',
        async () => {
          await s.killAndRestart('registry');
          await restart(ctx.h.applier);
          await restart(ctx.h.extractor);
        },
        { blocks: false },
      ),
    );
  });

  it('follower Elasticsearch down 2 minutes', { timeout: 600_000 }, async () => {
    await runScenario(ctx, 'follower Elasticsearch down 2 min', (s: Scenario) =>
      s.fault('follower down', () => s.killAndRestart('elasticsearch-follower', 120_000)),
    );
  });

  it('stop, delete and recreate the leader index, start into a new follower index', { timeout: 480_000 }, async () => {
    await runScenario(ctx, 'leader index recreated, started into a new follower', (s: Scenario) =>
      s.fault(
        'recreate',
        async () => {
          await s.stopLoad();
          const stopped = await ctx.control.call('POST', `/_plugins/_replication/${s.followerIndex}/_stop`, {});
          if (stopped.status !== 200) throw new Error(`stop: ${stopped.status} ${JSON.stringify(stopped.body)}`);
          await ctx.h.leader.deleteIndex(s.leaderIndex);
          await s.createLeaderIndex();
          // Other documents: ids the first incarnation never had, so any of its documents in the new follower shows.
          s.startLoad('new-', 1);
          await s.startReplication(uniqueName('flf-recreated'));
        },
        { blocks: false },
      ),
    );
  });

  it('several faults in sequence: Kafka kill + restart, follower kill + restart, applier <-> follower stall', { timeout: 720_000 }, async () => {
    await runScenario(ctx, 'sequence (Kafka kill, follower kill, applier <-> follower stall 30 s)', async (s: Scenario) => {
      await s.fault('kafka kill', () => s.killAndRestart('kafka'));
      await s.recovered();
      await s.fault('follower kill', () => s.killAndRestart('elasticsearch-follower'));
      await s.recovered();
      await s.fault('stall', () => stall(followerProxy, 'applier <-> follower', 30_000));
    });
  });
});
