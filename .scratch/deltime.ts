import { bulkLines, startHarness, startReplication } from '../test/support/replication.js';
import { loadStack, uniqueName } from '../test/support/stack.js';
const stack = loadStack('plain');
const h = await startHarness(stack, 'deltime', { env: { KCCR_LOG_LEVEL: 'debug' } });
const leader = uniqueName('dt'); const follower = uniqueName('dt-f');
await h.leader.createIndex(leader, { settings: { index: { number_of_shards: 2, number_of_replicas: 0 } } });
await h.leader.bulk(bulkLines(leader, Array.from({ length: 2000 }, (_, i) => ({ id: `d${i}`, source: { n: i } }))), { refresh: 'true' });
await startReplication(h, leader, follower);
const t0 = Date.now();
for (;;) { const r = await h.follower.request<{count:number}>('GET', `/${follower}/_count`, { ignore: [404, 503] }); if (r.status === 200 && r.body.count === 2000) break; await new Promise(r => setTimeout(r, 200)); }
console.log('replicated', Date.now() - t0);
for (const id of ['d1', 'd2', 'd3']) {
  const t = Date.now();
  await h.leader.request('DELETE', `/${leader}/_doc/${id}`);
  for (;;) { const r = await h.follower.request('GET', `/${follower}/_doc/${id}`, { ignore: [404] }); if (r.status === 404) break; await new Promise(r => setTimeout(r, 100)); }
  console.log('deleted', id, Date.now() - t);
}
console.log('logs', h.applier.logFile ?? '');
process.exit(0);
