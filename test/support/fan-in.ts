/**
 * The fan-in tests' set-up on a stack with two leader clusters: the harness (stack leader 1 under a unique kccr name,
 * its extractor, the applier), an extractor for stack leader 2 under the name `west`, and a control service with
 * both leaders registered, auto-follow running, listening for the CLI.
 */
import { expect } from 'vitest';
import { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import type { StackState } from '../../deploy/local/lib/state.js';
import { ADMIN, autofollowEnv, forgetClusters, registerPlainClusters, startControl } from './control.js';
import type { Control } from './control.js';
import { startHarness } from './replication.js';
import type { Harness } from './replication.js';
import { startService } from './services.js';
import type { ServiceProcess } from './services.js';
import { esConnection, leaderClusters } from './stack.js';

export interface FanIn {
  readonly h: Harness;
  readonly control: Control;
  /** Stack leader 2, known to kccr as `west`. */
  readonly leader2: ElasticsearchAdapter;
  /** The CLI's settings for this control service. */
  readonly cli: Record<string, string>;
}

/** The extractor of stack leader 2 (kccr name `west`), started again after a test stopped it. */
export function startLeader2Extractor(stack: StackState, h: Harness, west: string, label: string): ServiceProcess {
  return startService(stack, 'extractor', { leaderCluster: west, followerCluster: h.names.followerCluster, leaderStackCluster: 'leader2' }, `${label}-${west}`);
}

export async function startFanIn(stack: StackState, label: string, west: string, autofollowIntervalMs: number): Promise<FanIn> {
  const h = await startHarness(stack, label);
  const leader2Conn = esConnection(stack, leaderClusters(stack)[1]!);
  const leader2 = new ElasticsearchAdapter(leader2Conn);
  const control = await startControl(stack, { followerCluster: h.names.followerCluster, env: autofollowEnv(h.names.followerCluster, autofollowIntervalMs) });
  await registerPlainClusters(control, stack, h.names);
  const r = await control.call('PUT', `/_kccr/clusters/${west}`, { url: leader2Conn.url });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const url = await control.app.listen({ host: '127.0.0.1', port: 0 });
  control.state.deps.autofollow.start();
  return { h, control, leader2, cli: { KCCR_CONTROL_URL: url, KCCR_CONTROL_USER: ADMIN.name, KCCR_CONTROL_PASSWORD: ADMIN.password } };
}

/** Stops what startFanIn started (and the leader 2 extractor, when running), forgetting the clusters it registered. */
export async function closeFanIn(f: Partial<FanIn>, extractor2: ServiceProcess | undefined, west: string): Promise<void> {
  if (f.control) await f.control.state.deps.autofollow.stop();
  await extractor2?.stop();
  await f.h?.close();
  if (f.control && f.h) await forgetClusters(f.control, [f.h.names.leaderCluster, west, f.h.names.followerCluster]);
  await f.leader2?.close();
}
