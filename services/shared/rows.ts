/**
 * The rows of the control tables checked when they are read, with the rules the control API applies when it writes
 * them. Kafka is not the API: whoever can write to it (a client with other credentials, a tool, a bug) could put any
 * row there, and the services act on these rows (create indices, restore snapshots, move offsets). A row that does
 * not pass is refused: never acted on, reported with what is wrong (table.ts).
 *
 * Fields this version does not know are let through untouched: a newer control service may write them, and the
 * rows it writes must not be refused by an older applier during an upgrade.
 */
import { KccrError } from './errors.js';
import { idTemplateProblem, mergedSourceName, originFieldProblem } from './merge.js';
import { CLUSTER_NAME, replicationKey } from './replication.js';
import type { ReplicationSpec } from './replication.js';

/**
 * Elasticsearch's rules for index names: lower case (no upper-case letter of any script), none of
 * \ / * ? " < > | , # : or space, not starting with - _ +, not . or .. (the 255-byte bound is checked apart).
 */
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
export const INDEX_NAME = /^(?!\.\.?$)(?![-_+])[^\u0000-\u001f\u007f\p{Uppercase}\p{Lt}\\/*?"<>|,#: ]+$/u;

/** Settings a follower cannot choose: the follower has the leader's shard count (partition = shard). */
export const FIXED_SETTINGS: readonly string[] = ['number_of_shards', 'number_of_routing_shards'];

const STATES = ['bootstrapping', 'active', 'paused', 'stopped'];
const BOOTSTRAPS = ['snapshot', 'scan', 'none'];
const MAX_TEXT = 4096;

export function isIndexName(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && Buffer.byteLength(v, 'utf8') <= 255 && INDEX_NAME.test(v) && v === v.toLowerCase();
}

/** Collects what is wrong with one row, field by field, so that the report names every problem at once. */
class RowCheck {
  readonly problems: string[] = [];

  constructor(private readonly row: Record<string, unknown>) {}

  private fail(field: string, what: string): void {
    this.problems.push(`${field} ${what}`);
  }

  required(field: string, ok: (v: unknown) => boolean, what: string): void {
    if (!ok(this.row[field])) this.fail(field, `must be ${what}`);
  }

  optional(field: string, ok: (v: unknown) => boolean, what: string): void {
    if (this.row[field] !== undefined && !ok(this.row[field])) this.fail(field, `must be ${what} when given`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT;
const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isCheckpoint = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= -1;
const isScalar = (v: unknown): boolean => typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
const isUuid = (v: unknown): boolean => typeof v === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(v);
const arrayOf = (v: unknown, ok: (x: unknown) => boolean, max = 10_000): boolean => Array.isArray(v) && v.length <= max && v.every(ok);

/** Flat follower settings as the control service keeps them (settings.ts): dotted names, no shard counts, scalar values. */
function isFollowerSettings(v: unknown): boolean {
  if (!isObject(v)) return false;
  return Object.entries(v).every(
    ([k, x]) =>
      k.length > 0 &&
      k.length <= 256 &&
      !k.startsWith('index.') &&
      k.split('.').every((p) => p.length > 0) &&
      !FIXED_SETTINGS.includes(k) &&
      (x === null || isScalar(x) || arrayOf(x, isScalar, 1000)),
  );
}

function isPartialSource(v: unknown): boolean {
  return isObject(v) && arrayOf(v.includes, isText, 1000) && arrayOf(v.excludes, isText, 1000);
}

function isBootstrapCheckpoints(v: unknown): boolean {
  if (!isObject(v)) return false;
  const shard = (s: unknown) => isObject(s) && isCount(s.shard) && isUuid(s.historyUuid) && isCheckpoint(s.globalCheckpoint);
  const snapshot = v.snapshot === undefined || (isObject(v.snapshot) && isText(v.snapshot.repository) && isText(v.snapshot.name));
  return isUuid(v.indexUuid) && arrayOf(v.shards, shard, 1024) && snapshot && isTime(v.readAt);
}

function isPosition(v: unknown): boolean {
  return isObject(v) && isText(v.requestId) && (v.to === 'earliest' || v.to === 'latest' || isTime(v.to)) && isTime(v.requestedAt) && isText(v.requestedBy);
}

function isMerge(v: unknown): boolean {
  return (
    isObject(v) &&
    isIndexName(v.into) &&
    typeof v.idTemplate === 'string' &&
    idTemplateProblem(v.idTemplate) === undefined &&
    typeof v.originField === 'string' &&
    originFieldProblem(v.originField) === undefined
  );
}

function isRebuild(v: unknown): boolean {
  if (!isObject(v)) return false;
  const checkpoint = (c: unknown) => isObject(c) && isCount(c.shard) && isCheckpoint(c.globalCheckpoint);
  const time = (t: unknown) => t === undefined || isTime(t);
  return (
    isIndexName(v.from) &&
    isIndexName(v.alias) &&
    isTime(v.startedAt) &&
    arrayOf(v.leaderCheckpoints, checkpoint, 1024) &&
    time(v.caughtUpAt) &&
    time(v.aliasMovedAt)
  );
}

/**
 * A row of `kccr._replications` as the control API would have written it, or a BAD_REQUEST naming every problem.
 * The key must be the one of the follower index the row names: a row cannot speak for another follower index.
 */
export function parseReplicationSpec(key: string, value: unknown): ReplicationSpec {
  if (!isObject(value)) throw new KccrError('BAD_REQUEST', `replication ${JSON.stringify(key)} refused: not a JSON object`);
  const c = new RowCheck(value);
  const cluster = (v: unknown) => typeof v === 'string' && CLUSTER_NAME.test(v);
  c.required('followerCluster', cluster, 'a cluster name');
  c.required('leaderCluster', cluster, 'a cluster name');
  c.required('followerIndex', isIndexName, 'an index name');
  c.required('leaderIndex', isIndexName, 'an index name');
  c.required('state', (v) => STATES.includes(v as string), `one of ${STATES.join(', ')}`);
  c.required('bootstrap', (v) => BOOTSTRAPS.includes(v as string), `one of ${BOOTSTRAPS.join(', ')}`);
  c.required('requestedBy', isText, 'a non-empty text');
  c.required('createdAt', isTime, 'a time in epoch milliseconds');
  c.required('updatedAt', isTime, 'a time in epoch milliseconds');
  c.optional('leaderIndexUuid', isUuid, 'an index UUID');
  c.optional('followerSettings', isFollowerSettings, 'flat index settings without number_of_shards');
  c.optional('partialSource', isPartialSource, '{includes, excludes} lists of fields');
  c.optional('syntheticSource', (v) => typeof v === 'boolean', 'true or false');
  c.optional('bootstrapCheckpoints', isBootstrapCheckpoints, '{indexUuid, shards: [{shard, historyUuid, globalCheckpoint}], readAt}');
  c.optional('reason', (v) => typeof v === 'string' && v.length <= MAX_TEXT, 'a text');
  c.optional('position', isPosition, '{requestId, to: earliest | latest | a time, requestedAt, requestedBy}');
  c.optional('rebuild', isRebuild, '{from, alias, startedAt, leaderCheckpoints}');
  c.optional('rebuiltInto', isIndexName, 'an index name');
  c.optional('merge', isMerge, '{into, idTemplate, originField} (shared/merge.ts)');
  const merge = value.merge as { into: string } | undefined;
  if (c.problems.length === 0 && merge) {
    const name = mergedSourceName(merge.into, { leaderCluster: value.leaderCluster as string, leaderIndex: value.leaderIndex as string });
    if (value.followerIndex !== name) c.problems.push(`a source of merged index ${merge.into} must be named ${JSON.stringify(name)}`);
  }
  if (c.problems.length === 0 && key !== replicationKey(value.followerCluster as string, value.followerIndex as string)) {
    c.problems.push(
      `the key must be ${JSON.stringify(replicationKey(value.followerCluster as string, value.followerIndex as string))}, the follower cluster and index the row names`,
    );
  }
  if (c.problems.length) throw new KccrError('BAD_REQUEST', `replication ${JSON.stringify(key.slice(0, 300))} refused: ${c.problems.join('; ')}`);
  return value as unknown as ReplicationSpec;
}
