import { describe, expect, it } from 'vitest';
import { KccrError } from '../errors.js';
import { ElasticsearchAdapter } from './elasticsearch.js';

/** An adapter whose _stats answer is a recorded fixture (the shape Elasticsearch 8 gives with level=shards). */
function adapterAnswering(shards: Record<string, unknown[]>): ElasticsearchAdapter {
  const es = new ElasticsearchAdapter({ url: 'http://127.0.0.1:1' });
  (es as unknown as { request: () => Promise<unknown> }).request = async () => ({ status: 200, body: { indices: { idx: { shards } } } });
  return es;
}

const started = (node: string, primary: boolean, gcp: number) => ({
  routing: { state: 'STARTED', primary, node },
  seq_no: { global_checkpoint: gcp, local_checkpoint: gcp, max_seq_no: gcp },
  commit: { user_data: { history_uuid: 'h' } },
  retention_leases: { primary_term: 2 },
  docs: { count: 10 },
  indexing: { delete_total: 1, index_total: 11 },
  refresh: { total: 5, external_total: 3 },
});

describe('shard stats', () => {
  it('reads the primary that serves while it relocates, not its initializing target', async () => {
    const relocating = { ...started('n1', true, 41), routing: { state: 'RELOCATING', primary: true, node: 'n1' } };
    // The target of the relocation: listed as a primary, initializing, without sequence numbers or commit yet.
    const target = {
      routing: { state: 'INITIALIZING', primary: true, node: 'n2' },
      docs: { count: 0 },
      indexing: { delete_total: 0, index_total: 0 },
      refresh: { total: 0 },
    };
    const [s] = await adapterAnswering({ '0': [target, relocating, started('n3', false, 41)] }).shardStats('idx');
    expect(s).toMatchObject({ shard: 0, globalCheckpoint: 41, primaryNode: 'n1', historyUuid: 'h', primaryTerm: 2 });
  });

  it('is a transient error, not a crash, while no primary with sequence numbers is there', async () => {
    const target = {
      routing: { state: 'INITIALIZING', primary: true, node: 'n2' },
      docs: { count: 0 },
      indexing: { delete_total: 0, index_total: 0 },
      refresh: { total: 0 },
    };
    const e = await adapterAnswering({ '0': [target] })
      .shardStats('idx')
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KccrError);
    expect(e).toMatchObject({ code: 'ES_UNAVAILABLE', retriable: true });
    expect((e as Error).message).toMatch(/shard 0 of idx has no started primary/);
  });
});
