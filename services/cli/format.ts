/** Plain-text rendering of the control API's answers: aligned tables a person reads at a glance. */

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((row) =>
    row
      .map((c, i) => (c ?? '').padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
}

export function num(v: number | null | undefined): string {
  return v === null || v === undefined ? '-' : String(v);
}

/** Seconds of lag as a person says them: 0 s, 4.2 s, 3 m 12 s, 2 h 5 m. */
export function seconds(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  if (v < 60) return `${Math.round(v * 10) / 10} s`;
  if (v < 3600) return `${Math.floor(v / 60)} m ${Math.round(v % 60)} s`;
  return `${Math.floor(v / 3600)} h ${Math.round((v % 3600) / 60)} m`;
}

export interface StatusShard {
  shard: number;
  leader_checkpoint: number | null;
  leader_max_seq_no: number | null;
  follower_checkpoint: number | null;
  lag_operations: number | null;
  lag_seconds: number | null;
  applied: number;
  skipped: number;
  dead_lettered: number;
  offset: string | null;
  high_watermark: string | null;
}

export interface Status {
  status: string;
  reason?: string;
  leader_alias: string;
  leader_index: string;
  follower_cluster?: string;
  follower_index: string;
  bootstrap?: string;
  partial_source?: { includes: string[]; excludes: string[] };
  synthetic_source?: boolean;
  merged?: { into: string; id_template: string; origin_field: string };
  lag_operations: number | null;
  lag_seconds: number | null;
  shards: StatusShard[];
  requested_by?: string;
  updated_at?: string;
  retrying?: { side: string; reason: string; since: string; attempts: number };
  restarts?: { extractor: number; applier: number };
  left_out?: string[];
}

function sourceFilter(p: { includes: string[]; excludes: string[] }): string {
  return [p.includes.length ? `includes ${p.includes.join(',')}` : '', p.excludes.length ? `excludes ${p.excludes.join(',')}` : ''].filter(Boolean).join('; ');
}

export function statusText(s: Status): string[] {
  const lines = [
    `${s.follower_index}${s.follower_cluster ? ` on ${s.follower_cluster}` : ''} <- ${s.leader_alias}:${s.leader_index}`,
    `status: ${s.status}${s.reason ? ` (${s.reason})` : ''}`,
    `lag: ${num(s.lag_operations)} operations, ${seconds(s.lag_seconds)}`,
  ];
  if (s.partial_source) lines.push(`partial _source accepted: the follower holds what the leader's _source keeps (${sourceFilter(s.partial_source)})`);
  if (s.merged) lines.push(`one source of merged index ${s.merged.into}: _id ${s.merged.id_template}, provenance in ${s.merged.origin_field}`);
  if (s.synthetic_source) lines.push("synthetic _source: the follower holds the documents as the leader's synthetic _source rebuilds them");
  if (s.left_out?.length) lines.push(`left out (the follower does not know them): ${s.left_out.join(', ')}`);
  if (s.retrying) lines.push(`retrying (${s.retrying.side}): since ${s.retrying.since}, ${s.retrying.attempts} attempts`);
  if (s.restarts && (s.restarts.extractor > 0 || s.restarts.applier > 0))
    lines.push(`restarted after ending unexpectedly: extractor ${s.restarts.extractor}, applier ${s.restarts.applier}`);
  if (s.requested_by || s.updated_at) lines.push(`last change: ${s.updated_at ?? '-'} by ${s.requested_by ?? '-'}`);
  lines.push('');
  if (s.shards.length === 0) {
    lines.push('no shard reported yet (the extractor and the applier report every few seconds)');
    return lines;
  }
  lines.push(
    ...table(
      ['shard', 'leader cp', 'leader max seq', 'follower cp', 'lag ops', 'lag', 'applied', 'skipped', 'dead-lettered', 'offset/high'],
      s.shards.map((sh) => [
        String(sh.shard),
        num(sh.leader_checkpoint),
        num(sh.leader_max_seq_no),
        num(sh.follower_checkpoint),
        num(sh.lag_operations),
        seconds(sh.lag_seconds),
        String(sh.applied),
        String(sh.skipped),
        String(sh.dead_lettered),
        sh.offset === null ? '-' : `${sh.offset}/${sh.high_watermark ?? '-'}`,
      ]),
    ),
  );
  return lines;
}

export interface ReplicationItem {
  follower_cluster: string;
  follower_index: string;
  leader_cluster: string;
  leader_index: string;
  state: string;
  status: string;
  reason?: string;
  lag_operations: number | null;
  lag_seconds: number | null;
  requested_by: string;
  updated_at: string;
}

export function replicationsText(items: readonly ReplicationItem[]): string[] {
  if (items.length === 0) return ['no replications'];
  return table(
    ['follower', 'leader', 'status', 'lag ops', 'lag', 'requested by', 'updated'],
    items.map((r) => [
      `${r.follower_cluster}:${r.follower_index}`,
      `${r.leader_cluster}:${r.leader_index}`,
      r.status,
      num(r.lag_operations),
      seconds(r.lag_seconds),
      r.requested_by,
      r.updated_at,
    ]),
  );
}

export interface ClusterItem {
  name: string;
  url: string;
  ca_file?: string;
  username?: string;
  password_env?: string;
  password_file?: string;
  api_key_env?: string;
  api_key_file?: string;
}

export function credentialsOf(c: ClusterItem): string {
  if (c.api_key_env) return `api key from $${c.api_key_env}`;
  if (c.api_key_file) return `api key from ${c.api_key_file}`;
  if (c.username) return `${c.username}, password from ${c.password_env ? `$${c.password_env}` : (c.password_file ?? '?')}`;
  return 'none';
}

export function clustersText(items: readonly ClusterItem[]): string[] {
  if (items.length === 0) return ['no clusters registered'];
  return table(
    ['name', 'url', 'credentials', 'ca file'],
    items.map((c) => [c.name, c.url, credentialsOf(c), c.ca_file ?? '-']),
  );
}
