/**
 * A randomized run: concurrent writers index, update and delete random ids (some with custom routing) on a
 * 3-shard leader for at least 60 s, while the extractor and the applier are each killed with SIGKILL and started
 * again. Once the writers stop, the verifier must find the follower identical within a bounded time. In the plain
 * stack, and in the secure one (HTTPS clusters with least-privilege users, Kafka over SASL_SSL with each service's
 * own principal and ACLs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyIndex } from '../../services/verifier/verify.js';
import type { VerifyResult } from '../../services/verifier/verify.js';
import { bulkLines, startHarness, startReplication, applierStatus } from '../support/replication.js';
import type { Harness } from '../support/replication.js';
import { rng, routingOf } from '../support/load.js';
import { loadStack, uniqueName, waitFor } from '../support/stack.js';
import type { StackKind } from '../support/stack.js';

const RUN_MS = Number(process.env.KCCR_CHAOS_MS ?? 60_000);
const WRITERS = 4;
const ID_SPACE = 3000;

describe.each<StackKind>(['plain', 'secure'])('randomized replication with crashes (%s stack)', (kind) => {
  let h: Harness;
  const leaderIndex = uniqueName('chaos-leader');
  const followerIndex = uniqueName('chaos-follower');
  const seed = Number(process.env.KCCR_CHAOS_SEED ?? Date.now() % 1_000_000);

  beforeAll(async () => {
    h = await startHarness(loadStack(kind), `chaos-${kind}`);
  });
  afterAll(async () => {
    await h?.close();
  });

  it(`converges to an identical follower (seed ${seed})`, { timeout: RUN_MS + 300_000 }, async () => {
    await h.leader.createIndex(leaderIndex, {
      settings: { index: { number_of_shards: 3, number_of_replicas: 0, refresh_interval: '1s' } },
      mappings: { properties: { n: { type: 'long' }, writer: { type: 'keyword' }, text: { type: 'text' } } },
    });
    await startReplication(h, leaderIndex, followerIndex);

    const counts = { index: 0, update: 0, delete: 0, batches: 0 };
    const stopAt = Date.now() + RUN_MS;
    const writer = async (w: number) => {
      const random = rng(seed * 31 + w);
      while (Date.now() < stopAt) {
        const ops = Array.from({ length: 1 + Math.floor(random() * 30) }, () => {
          const id = Math.floor(random() * ID_SPACE);
          const roll = random();
          const kind = roll < 0.6 ? 'index' : roll < 0.85 ? 'update' : 'delete';
          counts[kind]++;
          const routing = routingOf(id);
          return kind === 'delete'
            ? { id: `doc-${id}`, delete: true, ...(routing ? { routing } : {}) }
            : {
                id: `doc-${id}`,
                ...(routing ? { routing } : {}),
                source: { n: Math.floor(random() * 1e9), writer: `w${w}`, text: `${kind} ${random().toString(36)}`, at: Date.now() },
              };
        });
        await h.leader.bulk(bulkLines(leaderIndex, ops));
        counts.batches++;
        await new Promise((r) => setTimeout(r, Math.floor(random() * 40)));
      }
    };

    const crashes = (async () => {
      const at = (fraction: number) => new Promise((r) => setTimeout(r, Math.max(0, stopAt - RUN_MS + fraction * RUN_MS - Date.now())));
      await at(0.2);
      await h.extractor.kill();
      await at(0.3);
      h.extractor.start();
      await at(0.5);
      await h.applier.kill();
      await at(0.6);
      h.applier.start();
      await at(0.75);
      await h.extractor.kill();
      await h.applier.kill();
      await at(0.8);
      h.extractor.start();
      h.applier.start();
    })();

    await Promise.all([...Array.from({ length: WRITERS }, (_, w) => writer(w)), crashes]);
    expect(h.extractor.starts).toBe(3);
    expect(h.applier.starts).toBe(3);
    expect(counts.delete).toBeGreaterThan(100);

    // Bounded convergence: identical within 120 s of the last write.
    const writesEnded = Date.now();
    let last: VerifyResult | undefined;
    await waitFor(
      'the follower to be identical to the leader',
      async () => {
        last = await verifyIndex(h.leader, h.follower, { leaderIndex, followerIndex });
        return last.identical && last.shards.every((s) => s.leaderCount === s.followerCount);
      },
      120_000,
      2000,
    );
    const convergedMs = Date.now() - writesEnded;
    console.log(
      `chaos (${kind}): seed ${seed}, ${JSON.stringify(counts)}, converged ${convergedMs} ms after the last write; ${last!.shards.map((s) => `shard ${s.shard}: ${s.leaderCount} docs`).join(', ')}`,
    );
    expect(last!.shards).toHaveLength(3);
    expect(last!.shards.reduce((n, s) => n + s.leaderCount, 0)).toBeGreaterThan(100);

    // Graceful stop: both exit 0 within the bound, and every applied message is committed.
    const status = applierStatus(h, followerIndex)!;
    expect(status.shards.reduce((n, s) => n + s.deadLettered, 0)).toBe(0);
    const stops = await Promise.all([h.extractor.stop(), h.applier.stop()]);
    for (const s of stops) {
      expect(s.code).toBe(0);
      expect(s.ms).toBeLessThan(20_000);
    }
    const committed = await h.kafka.groupOffsets(`kccr-applier-${h.names.followerCluster}`, `kccr.${h.names.leaderCluster}.${leaderIndex}`);
    const ends = await h.kafka.offsets(`kccr.${h.names.leaderCluster}.${leaderIndex}`);
    for (const end of ends) {
      const c = committed.find((p) => p.partition === end.partition);
      // The extractor keeps sending idle checkpoints until it stops; at most those few may follow the last commit.
      expect(BigInt(end.high) - BigInt(c!.offset)).toBeLessThanOrEqual(10n);
    }
  });
});
