/**
 * The demo's data: a 3-shard leader index of small documents, a quarter of them with a custom routing, and a
 * writer that keeps creating, updating and deleting them. It remembers each live document's routing, since an
 * update or a delete of a routed document must name it; a document is touched at most once per bulk, so that
 * no item depends on another of the same request.
 */
import type { ElasticsearchAdapter } from '../../services/shared/adapters/elasticsearch.js';
import type { WriteCounts } from './demo-status.js';

export const SAMPLE_MAPPINGS = {
  properties: {
    title: { type: 'text' },
    customer: { type: 'keyword' },
    amount: { type: 'double' },
    revision: { type: 'integer' },
    updated_at: { type: 'date' },
  },
} as const;

const CUSTOMERS = 12;

export class LeaderWriter {
  /** Live documents: id -> routing (null: routed by id). */
  private readonly docs = new Map<string, string | null>();
  private readonly ids: string[] = [];
  private next = 1;

  constructor(
    private readonly es: ElasticsearchAdapter,
    readonly index: string,
    readonly counts: WriteCounts,
    private readonly random: () => number = Math.random,
  ) {}

  get live(): number {
    return this.docs.size;
  }

  /** A fresh index (3 shards, no replicas: the stack's clusters have one node each) with `count` documents. */
  async createIndex(count: number): Promise<void> {
    await this.es.createIndex(this.index, { settings: { index: { number_of_shards: 3, number_of_replicas: 0 } }, mappings: SAMPLE_MAPPINGS });
    for (let done = 0; done < count;) {
      const n = Math.min(1000, count - done);
      const lines: string[] = [];
      for (let i = 0; i < n; i++) lines.push(...this.createLines());
      await this.send(lines);
      done += n;
    }
  }

  /** One bulk of `size` operations: about half updates, a third creates, the rest deletes. */
  async tick(size: number): Promise<void> {
    const lines: string[] = [];
    const touched = new Set<string>();
    for (let i = 0; i < size; i++) {
      const r = this.random();
      if (r < 0.35 || this.docs.size < 50) {
        lines.push(...this.createLines());
        continue;
      }
      const id = this.pick(touched);
      if (id === undefined) continue;
      touched.add(id);
      if (r < 0.82) lines.push(...this.updateLines(id));
      else lines.push(...this.deleteLines(id));
    }
    if (lines.length) await this.send(lines);
  }

  private pick(touched: ReadonlySet<string>): string | undefined {
    for (let attempt = 0; attempt < 5; attempt++) {
      const id = this.ids[Math.floor(this.random() * this.ids.length)];
      if (id !== undefined && this.docs.has(id) && !touched.has(id)) return id;
    }
    return undefined;
  }

  private meta(id: string, routing: string | null): Record<string, string> {
    return { _index: this.index, _id: id, ...(routing !== null ? { routing } : {}) };
  }

  private createLines(): string[] {
    const n = this.next++;
    const id = `doc-${String(n).padStart(6, '0')}`;
    const customer = `customer-${n % CUSTOMERS}`;
    // A quarter of the documents are routed by customer: they sit on the customer's shard, not the id's.
    const routing = n % 4 === 0 ? customer : null;
    this.docs.set(id, routing);
    this.ids.push(id);
    const source = {
      title: `demo document ${n}`,
      customer,
      amount: Math.round(this.random() * 100_000) / 100,
      revision: 1,
      updated_at: new Date().toISOString(),
    };
    return [JSON.stringify({ create: this.meta(id, routing) }), JSON.stringify(source)];
  }

  private updateLines(id: string): string[] {
    const routing = this.docs.get(id) ?? null;
    const doc = { amount: Math.round(this.random() * 100_000) / 100, updated_at: new Date().toISOString() };
    return [JSON.stringify({ update: this.meta(id, routing) }), JSON.stringify({ doc })];
  }

  private deleteLines(id: string): string[] {
    const routing = this.docs.get(id) ?? null;
    this.docs.delete(id);
    return [JSON.stringify({ delete: this.meta(id, routing) })];
  }

  private async send(lines: readonly string[]): Promise<void> {
    const items = await this.es.bulk(`${lines.join('\n')}\n`);
    for (const item of items) {
      const ok = item.status >= 200 && item.status < 300;
      if (!ok) {
        this.counts.failed++;
        continue;
      }
      if (item.action === 'create') this.counts.created++;
      else if (item.action === 'update') this.counts.updated++;
      else if (item.action === 'delete') this.counts.deleted++;
    }
    // Routed writes, counted from the request: the answer does not repeat the routing.
    this.counts.routed += lines.filter((l) => l.includes('"routing"')).length;
  }

  /** Compacts the id list now and then, so that picks keep finding live documents. */
  compact(): void {
    if (this.ids.length < this.docs.size * 2) return;
    const live = this.ids.filter((id) => this.docs.has(id));
    this.ids.length = 0;
    this.ids.push(...live);
  }
}
