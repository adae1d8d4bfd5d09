/**
 * Multi-node clusters under a mixed write load: a 3-node leader and a 2-node follower (the stack started with
 * KCCR_LEADER_NODES=3 KCCR_FOLLOWER_NODES=2; test/run.ts starts it for this project), each scenario's leader index
 * 3 shards with 1 replica. The node holding a leader primary is killed (a replica is promoted: a new primary term),
 * every leader node is restarted in turn, leader shards are moved between nodes by allocation filtering, a follower
 * node is killed, the follower restarted node by node; and a primary's node killed again with `scheduled`
 * visibility. Each scenario is run and judged by test/support/scenario.ts: identical by the plain comparison and
 * the verifier, nothing dead-lettered, never SYNCING with lag 0 while replication is blocked, SYNCING again within
 * 60 s. The failover scenarios also print the lag the status showed during the fault (p99, max).
 */
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readStackConfig } from '../../deploy/local/lib/config.js';
import type { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import { closeControlledHarness, startControlledHarness } from '../support/control.js';
import { ensureStackUp, localStack, stackEnv, startPartsWatching, stopPart } from '../support/faults.js';
import type { PartName } from '../support/faults.js';
import { killAndCheck, restart, runScenario, seconds, sleep } from '../support/scenario.js';
import type { Scenario, ScenarioContext } from '../support/scenario.js';
import { loadStack, waitFor } from '../support/stack.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const STATE_FILE = process.env.KCCR_STACK_STATE ?? join(ROOT, '.stack-multi', 'stack.json');
const stack = loadStack('plain');
const local = localStack(STATE_FILE, stack);
const config = readStackConfig(stackEnv(local));

function context(tag: string): ScenarioContext {
  return {
    tag,
    stack,
    local,
    config,
    replicas: 1,
    h: undefined as unknown as ScenarioContext['h'],
    control: undefined as unknown as ScenarioContext['control'],
    restartServices: false,
  };
}

/** The stack part of a node, by its name (`leader-2` -> `elasticsearch-leader-2`). */
function partOf(role: 'leader' | 'follower', nodeName: string): PartName {
  const node = stack.clusters[role].nodes?.find((n) => n.name === nodeName);
  if (!node) throw new Error(`harness: no node ${nodeName} in the ${role} cluster of ${STATE_FILE}`);
  return node.part as PartName;
}

/** The name of the node holding the primary of `shard` of `index`. */
async function primaryNode(es: ElasticsearchAdapter, index: string, shard = 0): Promise<string> {
  const r = await es.request<{ shard: string; prirep: string; state: string; node: string | null }[]>('GET', `/_cat/shards/${encodeURIComponent(index)}`, {
    query: { format: 'json', h: 'shard,prirep,state,node' },
  });
  const row = r.body.find((x) => Number(x.shard) === shard && x.prirep === 'p' && x.state === 'STARTED');
  if (!row?.node) throw new Error(`harness: no started primary of ${index}[${shard}]`);
  return row.node;
}

/** Green: every primary and replica of the index started (nothing initializing or relocating). */
async function green(es: ElasticsearchAdapter, index: string): Promise<boolean> {
  const r = await es.request<{ status: string; relocating_shards: number; initializing_shards: number }>(
    'GET',
    `/_cluster/health/${encodeURIComponent(index)}`,
    { ignore: [404, 408, 503], timeoutMs: 2000 },
  );
  return r.status === 200 && r.body.status === 'green' && r.body.relocating_shards === 0 && r.body.initializing_shards === 0;
}

/** Starts what is down and resolves with when the index is green again. */
function backGreen(es: ElasticsearchAdapter, index: string): Promise<number> {
  return startPartsWatching(local, () => green(es, index));
}

/** p99 and max of the lag (seconds) the status showed from `from` to `to`, counting only samples that gave one. */
function lagDuring(s: Scenario, from: number, to: number): string {
  // The samples so far: the scenario's own list is filled when its sampler stops.
  const lags = [...s.samples, ...(s.sampler?.samples ?? [])]
    .filter((x) => x.at >= from && x.at <= to && typeof x.lag_seconds === 'number')
    .map((x) => x.lag_seconds!)
    .sort((a, b) => a - b);
  if (lags.length === 0) return 'no lag sampled';
  return `p99 ${lags[Math.min(lags.length - 1, Math.floor(lags.length * 0.99))]!.toFixed(1)} s, max ${lags.at(-1)!.toFixed(1)} s over ${lags.length} samples`;
}

/** Kills the node holding the primary of shard 0, and starts it again once the replica was promoted. */
async function killPrimaryNode(ctx: ScenarioContext, s: Scenario): Promise<void> {
  const node = await primaryNode(ctx.h.leader, s.leaderIndex);
  const start = Date.now();
  // Not a fault that stops replication: once a replica is promoted (seconds), the leader serves everything again.
  await s.fault(
    `leader primary's node ${node} SIGKILL`,
    async () => {
      await killAndCheck(ctx, partOf('leader', node));
      // The replica is promoted (a new primary term) before the node comes back.
      await waitFor('a replica promoted', async () => (await primaryNode(ctx.h.leader, s.leaderIndex).catch(() => node)) !== node, 60_000, 250);
      return backGreen(ctx.h.leader, s.leaderIndex);
    },
    { blocks: false },
  );
  const end = Date.now();
  await s.recovered();
  console.log(`${ctx.tag}: ${s.name}: lag during the failover (${seconds(end - start)} s): ${lagDuring(s, start, end + 10_000)}`);
}

function suite(name: string, tag: string, extractorEnv: Record<string, string>, scenarios: (ctx: ScenarioContext) => void): void {
  describe(name, () => {
    const ctx = context(tag);

    beforeAll(async () => {
      const leaderNodes = stack.clusters.leader.nodes?.length ?? 1;
      const followerNodes = stack.clusters.follower.nodes?.length ?? 1;
      if (leaderNodes < 3 || followerNodes < 2) {
        throw new Error(
          `${STATE_FILE} describes a stack with ${leaderNodes} leader and ${followerNodes} follower nodes; this suite needs 3 and 2: KCCR_STACK_DIR=.stack-multi KCCR_PORT_OFFSET=2000 KCCR_LEADER_NODES=3 KCCR_FOLLOWER_NODES=2 KCCR_ES_HEAP=512m npm run stack:up`,
        );
      }
      await ensureStackUp(local);
      ({ h: ctx.h, control: ctx.control } = await startControlledHarness(tag, { services: { extractorEnv } }));
    }, 360_000);

    afterEach(async () => {
      const started = await ensureStackUp(local);
      if (started.length) console.log(`${tag}: after the scenario: started ${started.join(', ')} again`);
      // Allocation filters a scenario cut short may have left on the cluster.
      await ctx.h?.leader
        .request('PUT', '/_cluster/settings', { body: { persistent: { 'cluster.routing.allocation.exclude._name': null } } })
        .catch(() => undefined);
      if (ctx.restartServices && ctx.h) {
        await Promise.all([restart(ctx.h.extractor), restart(ctx.h.applier)]);
        ctx.restartServices = false;
      }
    }, 360_000);

    afterAll(async () => {
      await closeControlledHarness(ctx.h, ctx.control);
    }, 120_000);

    scenarios(ctx);
  });
}

suite('multi-node clusters', 'multinode', {}, (ctx) => {
  it('the node holding a leader primary SIGKILLed, then back', { timeout: 480_000 }, async () => {
    await runScenario(ctx, 'leader primary node killed', (s) => killPrimaryNode(ctx, s));
  });

  it('every leader node restarted in turn (rolling restart)', { timeout: 900_000 }, async () => {
    await runScenario(ctx, 'leader rolling restart', async (s) => {
      for (const node of stack.clusters.leader.nodes!) {
        await s.fault(
          `leader ${node.name} restart`,
          async () => {
            await stopPart(local, node.part as PartName);
            return backGreen(ctx.h.leader, s.leaderIndex);
          },
          { blocks: false },
        );
        await s.recovered();
      }
    });
  });

  it('leader shards moved between nodes by allocation filtering', { timeout: 600_000 }, async () => {
    await runScenario(ctx, 'leader shards relocated', async (s) => {
      for (const node of ['leader-1', 'leader-2']) {
        await s.fault(
          `shards moved off ${node}`,
          async () => {
            await ctx.h.leader.request('PUT', `/${s.leaderIndex}/_settings`, { body: { index: { routing: { allocation: { exclude: { _name: node } } } } } });
            await sleep(1000);
            await waitFor(`${s.leaderIndex} relocated off ${node}`, () => green(ctx.h.leader, s.leaderIndex), 180_000, 500);
          },
          { blocks: false },
        );
        await s.recovered();
      }
      const placed = await ctx.h.leader.request<{ node: string }[]>('GET', `/_cat/shards/${s.leaderIndex}`, { query: { format: 'json', h: 'node' } });
      expect(placed.body.every((x) => x.node === 'leader-3' || x.node === 'leader-1')).toBe(true);
      await ctx.h.leader.request('PUT', `/${s.leaderIndex}/_settings`, { body: { index: { routing: { allocation: { exclude: { _name: null } } } } } });
    });
  });

  it('a follower node SIGKILLed, then back', { timeout: 480_000 }, async () => {
    await runScenario(ctx, 'follower node killed', (s) =>
      s.fault(
        'follower-2 SIGKILL',
        async () => {
          await killAndCheck(ctx, partOf('follower', 'follower-2'));
          await sleep(10_000);
          return backGreen(ctx.h.follower, s.followerIndex);
        },
        // follower-1 (the master, with a copy of every shard) goes on taking writes.
        { blocks: false },
      ),
    );
  });

  it('every follower node restarted in turn (rolling restart)', { timeout: 900_000 }, async () => {
    await runScenario(ctx, 'follower rolling restart', async (s) => {
      for (const node of stack.clusters.follower.nodes!) {
        // follower-1 is the cluster's only master: while it restarts the follower takes no writes (blocks).
        await s.fault(
          `follower ${node.name} restart`,
          async () => {
            await stopPart(local, node.part as PartName);
            return backGreen(ctx.h.follower, s.followerIndex);
          },
          { blocks: node.name === 'follower-1' },
        );
        await s.recovered();
      }
    });
  });
});

suite('multi-node clusters, scheduled visibility', 'multinode-scheduled', { KCCR_EXTRACTOR_VISIBILITY: 'scheduled' }, (ctx) => {
  it('the node holding a leader primary SIGKILLed, then back', { timeout: 480_000 }, async () => {
    await runScenario(ctx, 'leader primary node killed (scheduled)', (s) => killPrimaryNode(ctx, s));
  });
});
