/**
 * The replication lifecycle in the OpenSearch plugin's shapes. Registered twice, under /_plugins/_replication and
 * /_opendistro/_replication, with the same handlers: start / stop / pause / resume / update / status, and the
 * leader, follower and auto-follow stats. `leader_alias` + `leader_index` and the announcement's
 * `remote_cluster` + `remote_index` are both accepted.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KccrError } from '../../shared/errors.js';
import type { BootstrapMode, ReplicationState } from '../../shared/replication.js';
import { principalOf } from '../http/auth.js';
import type { ControlDeps } from '../deps.js';
import { sourceNotes } from './index-features.js';
import { acknowledged, clusterName, errorResponses, freeObject, indexName, mergeBody, query } from '../http/schemas.js';

interface StartBody {
  readonly leader_alias?: string;
  readonly remote_cluster?: string;
  readonly leader_index?: string;
  readonly remote_index?: string;
  readonly use_roles?: { readonly leader_cluster_role: string; readonly follower_cluster_role: string };
  readonly settings?: Record<string, unknown>;
  readonly bootstrap?: BootstrapMode;
  readonly accept_partial_source?: boolean;
  readonly follower_cluster?: string;
  readonly merge?: { readonly id_template?: string; readonly origin_field?: string };
}

interface IndexRoute {
  Params: { follower_index: string };
  Querystring: { follower_cluster?: string; pretty?: string };
}

const indexParams = { type: 'object', required: ['follower_index'], properties: { follower_index: indexName } } as const;
const lifecycleQuery = query({
  follower_cluster: {
    ...clusterName,
    description: 'the follower cluster; by default the one the control service is configured with (KCCR_CONTROL_FOLLOWER_CLUSTER)',
  },
});
const emptyBody = { type: 'object', additionalProperties: false, properties: {}, description: 'an empty object, or no body' } as const;
const nullableInt = { type: ['integer', 'null'] } as const;
const nullableNumber = { type: ['number', 'null'] } as const;
const nullableString = { type: ['string', 'null'] } as const;

const startBody = {
  type: 'object',
  additionalProperties: false,
  description:
    'Name the leader cluster with leader_alias (OpenSearch) or remote_cluster (Open Distro), and the leader index with leader_index or remote_index.',
  properties: {
    leader_alias: clusterName,
    remote_cluster: clusterName,
    leader_index: indexName,
    remote_index: indexName,
    use_roles: {
      type: 'object',
      additionalProperties: false,
      required: ['leader_cluster_role', 'follower_cluster_role'],
      description: 'accepted for compatibility with the OpenSearch plugin; kccr services act with their own cluster credentials',
      properties: {
        leader_cluster_role: { type: 'string', minLength: 1, maxLength: 256 },
        follower_cluster_role: { type: 'string', minLength: 1, maxLength: 256 },
      },
    },
    settings: { ...freeObject, maxProperties: 256, description: 'settings of the follower index, laid over the leader index settings (not number_of_shards)' },
    bootstrap: {
      type: 'string',
      enum: ['snapshot', 'scan', 'none'],
      description: 'how the follower gets the documents that predate the start; scan (the default) streams them through the topic',
    },
    accept_partial_source: {
      type: 'boolean',
      description:
        "replicate a leader index whose _source has includes/excludes: the follower then holds what the leader's _source keeps (refused without it); see docs/design/index-features.md",
    },
    follower_cluster: { ...clusterName, description: 'the follower cluster; by default KCCR_CONTROL_FOLLOWER_CLUSTER' },
    merge: mergeBody(
      'merged mode (docs/design/fan-in.md): the follower index is a merged index and this leader index one of its sources, named <follower_index>@<leader cluster>@<leader index> in status, stop, pause and resume',
    ),
  },
} as const;

const shardSchema = {
  type: 'object',
  properties: {
    shard: { type: 'integer' },
    leader_checkpoint: nullableInt,
    leader_max_seq_no: nullableInt,
    follower_checkpoint: nullableInt,
    lag_operations: nullableInt,
    lag_seconds: nullableNumber,
    applied: { type: 'integer' },
    skipped: { type: 'integer' },
    dead_lettered: { type: 'integer' },
    reassembling_bytes: { type: 'integer', description: 'bytes of a chunked document held while its chunks arrive (absent when none)' },
    chunks_dropped: { type: 'integer', description: 'chunks of sequences found cut (published again, or left by compaction) and dropped' },
    leader_read_from: { type: 'string', description: "the leader node (id) the extractor last read this shard from: the primary's node" },
    leader_primary_term: { type: 'integer', description: "the leader primary's term at the extractor's last reading" },
    leader_failovers: { type: 'integer', description: 'new primary terms the extractor saw (each followed by a read again of the recent changes)' },
    offset: nullableString,
    high_watermark: nullableString,
    last_applied_at: nullableString,
  },
} as const;

export const statusSchema = {
  type: 'object',
  required: ['status', 'leader_alias', 'leader_index', 'follower_index'],
  properties: {
    status: { type: 'string', enum: ['BOOTSTRAPPING', 'SYNCING', 'RETRYING', 'STALE', 'PAUSED', 'STOPPED', 'FAILED'] },
    reason: { type: 'string' },
    leader_alias: { type: 'string' },
    remote_cluster: { type: 'string' },
    leader_index: { type: 'string' },
    leader_index_uuid: nullableString,
    follower_cluster: { type: 'string' },
    follower_index: { type: 'string' },
    bootstrap: { type: 'string' },
    partial_source: {
      type: 'object',
      description: 'the leader index keeps only part of _source and the start accepted it: the follower holds what these includes/excludes keep',
      properties: { includes: { type: 'array', items: { type: 'string' } }, excludes: { type: 'array', items: { type: 'string' } } },
    },
    synthetic_source: { type: 'boolean', description: 'the leader index has synthetic _source: the follower holds the documents as the leader rebuilds them' },
    merged: {
      type: 'object',
      description: 'one source of a merged index: follower_index is the source name, into the merged index it writes',
      properties: { into: { type: 'string' }, id_template: { type: 'string' }, origin_field: { type: 'string' } },
    },
    syncing_details: {
      type: 'object',
      properties: { leader_checkpoint: { type: 'integer' }, follower_checkpoint: { type: 'integer' }, seq_no: { type: 'integer' } },
    },
    lag_operations: nullableInt,
    lag_seconds: nullableNumber,
    shards: { type: 'array', items: shardSchema },
    requested_by: { type: 'string' },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
    extractor_updated_at: nullableString,
    applier_updated_at: nullableString,
    retrying: {
      type: 'object',
      description:
        'what kccr is retrying (RETRYING, or FAILED on refused credentials probed again every minute): which side, the latest reason, since when, attempts',
      properties: {
        side: { type: 'string', enum: ['extractor', 'applier'] },
        reason: { type: 'string' },
        since: { type: 'string' },
        attempts: { type: 'integer' },
      },
    },
    restarts: {
      type: 'object',
      description: 'times the extractor loop of this index and the applier consumer were started again after ending unexpectedly',
      properties: { extractor: { type: 'integer' }, applier: { type: 'integer' } },
    },
    left_out: {
      type: 'array',
      description:
        "settings and mapping parameters of the leader's index that the follower does not know (another version or vendor), left out of the follower index (docs/design/compatibility.md)",
      items: { type: 'string' },
    },
    recent_dead_letters: {
      type: 'array',
      description:
        "the applier's latest dead letters (at most 5, newest last, since it started): what the follower refused and why; the records are in the dead-letter topic",
      items: {
        type: 'object',
        properties: {
          at: { type: 'string' },
          id: { type: 'string' },
          shard: { type: 'integer' },
          offset: { type: 'string' },
          stage: { type: 'string' },
          reason: { type: 'string' },
        },
      },
    },
    position: {
      type: 'object',
      additionalProperties: true,
      description: 'the latest request to move the position in the topic (POST .../_offsets), and when the applier applied it',
    },
    rebuild: {
      type: 'object',
      additionalProperties: true,
      description: 'a follower index made by a rebuild: offsets applied of the topic end, when it caught up and the alias moved',
    },
    bootstrap_progress: {
      type: 'object',
      description: 'bootstrap progress: a snapshot copy and restore in bytes, or a scan in documents; rate per second since the start, ETA in seconds',
      properties: {
        mode: { type: 'string', enum: ['snapshot', 'scan'] },
        phase: { type: 'string' },
        documents: { type: 'integer' },
        documents_total: { type: 'integer' },
        bytes: { type: 'integer' },
        bytes_total: { type: 'integer' },
        percent: nullableNumber,
        rate_per_second: nullableNumber,
        eta_seconds: nullableInt,
        started_at: { type: 'string' },
        finished_at: nullableString,
      },
    },
    reconciliation: {
      type: 'object',
      description:
        'delete reconciliation: passes the applier asked for, ids the extractor checked, DELETEs it published (the extractor counts per leader index)',
      properties: {
        passes: { type: 'integer' },
        ids_checked: { type: 'integer' },
        deletes_published: { type: 'integer' },
        last_pass_ms: nullableInt,
        last_pass_at: nullableString,
      },
    },
  },
} as const;

/** The plugin's acknowledgement, with what the follower's documents will lack or hold differently when that is so. */
const startAnswer = {
  type: 'object',
  required: ['acknowledged'],
  properties: {
    acknowledged: { type: 'boolean' },
    source: { type: 'string', description: 'merged mode: the name of this source (for its status, stop, pause and resume)' },
    notes: {
      type: 'array',
      items: { type: 'string' },
      description: "how the follower's documents differ from what the leader indexed: an accepted partial _source, a synthetic _source",
    },
  },
} as const;

const statsSchema = { type: 'object', additionalProperties: true } as const;

/** One of two spellings, or the other; both only when they agree. */
function either(body: StartBody, a: 'leader_alias' | 'leader_index', b: 'remote_cluster' | 'remote_index', what: string): string {
  const x = body[a];
  const y = body[b];
  if (x !== undefined && y !== undefined && x !== y)
    throw new KccrError('BAD_REQUEST', `${a} ${JSON.stringify(x)} and ${b} ${JSON.stringify(y)} disagree; give one of them`);
  const v = x ?? y;
  if (v === undefined) throw new KccrError('BAD_REQUEST', `the body lacks the ${what}: give ${a} (or ${b})`);
  return v;
}

function checkIndexBytes(index: string, what: string): void {
  if (Buffer.byteLength(index, 'utf8') > 255) throw new KccrError('BAD_REQUEST', `${what} is longer than 255 bytes, the most Elasticsearch allows`);
}

export function replicationRoutes(deps: ControlDeps) {
  const followerClusterOf = (request: FastifyRequest<IndexRoute>, fromBody?: string): string => {
    const q = request.query.follower_cluster;
    if (q !== undefined && fromBody !== undefined && q !== fromBody)
      throw new KccrError('BAD_REQUEST', `follower_cluster is ${JSON.stringify(q)} in the query but ${JSON.stringify(fromBody)} in the body; give one`);
    return fromBody ?? q ?? deps.followerCluster;
  };

  return async function routes(app: FastifyInstance): Promise<void> {
    app.put<IndexRoute & { Body: StartBody }>('/:follower_index/_start', {
      schema: {
        summary: 'Start replicating a leader index into a follower index',
        tags: ['replication'],
        params: indexParams,
        querystring: lifecycleQuery,
        body: startBody,
        response: { 200: startAnswer, ...errorResponses },
      },
      handler: async (request) => {
        const body = request.body;
        const followerIndex = request.params.follower_index;
        checkIndexBytes(followerIndex, 'follower_index');
        const leaderCluster = either(body, 'leader_alias', 'remote_cluster', 'leader cluster');
        const leaderIndex = either(body, 'leader_index', 'remote_index', 'leader index');
        checkIndexBytes(leaderIndex, 'the leader index');
        const followerCluster = followerClusterOf(request, body.follower_cluster);
        const by = principalOf(request).name;
        const spec = await deps.replications.start({
          followerCluster,
          followerIndex,
          leaderCluster,
          leaderIndex,
          ...(body.bootstrap ? { bootstrap: body.bootstrap } : {}),
          ...(body.settings ? { settings: body.settings } : {}),
          ...(body.accept_partial_source ? { acceptPartialSource: true } : {}),
          ...(body.merge
            ? {
                merge: {
                  ...(body.merge.id_template !== undefined ? { idTemplate: body.merge.id_template } : {}),
                  ...(body.merge.origin_field !== undefined ? { originField: body.merge.origin_field } : {}),
                },
              }
            : {}),
          requestedBy: by,
        });
        request.log.info(
          {
            followerCluster,
            followerIndex,
            leaderCluster,
            leaderIndex,
            bootstrap: spec.bootstrap,
            partialSource: spec.partialSource,
            syntheticSource: spec.syntheticSource,
            by,
          },
          'replication started',
        );
        const notes = sourceNotes(spec);
        return { acknowledged: true, ...(notes.length ? { notes } : {}), ...(spec.merge ? { source: spec.followerIndex } : {}) };
      },
    });

    const transition = (verb: string, state: ReplicationState, summary: string) =>
      app.post<IndexRoute & { Body: Record<string, never> }>(`/:follower_index/_${verb}`, {
        schema: {
          summary,
          tags: ['replication'],
          params: indexParams,
          querystring: lifecycleQuery,
          body: emptyBody,
          response: { 200: acknowledged, ...errorResponses },
        },
        handler: async (request) => {
          const followerCluster = followerClusterOf(request);
          const by = principalOf(request).name;
          await deps.replications.setState(followerCluster, request.params.follower_index, state, by);
          request.log.info({ followerCluster, followerIndex: request.params.follower_index, state, by }, `replication ${state}`);
          // A stopped follower index leaves the read alias of the auto-follow rule that made it at once, not a run later.
          if (state === 'stopped') deps.autofollow.trigger();
          return { acknowledged: true };
        },
      });
    transition('stop', 'stopped', 'Stop replicating: the follower index becomes an ordinary writable index');
    transition('pause', 'paused', 'Pause replicating (changes wait in Kafka)');
    transition('resume', 'active', 'Resume a paused replication');

    app.put<IndexRoute & { Body: { settings: Record<string, unknown> } }>('/:follower_index/_update', {
      schema: {
        summary: 'Change follower index settings (applied now and kept for the follower index)',
        tags: ['replication'],
        params: indexParams,
        querystring: lifecycleQuery,
        body: { type: 'object', additionalProperties: false, required: ['settings'], properties: { settings: { ...freeObject, maxProperties: 256 } } },
        response: { 200: acknowledged, ...errorResponses },
      },
      handler: async (request) => {
        const followerCluster = followerClusterOf(request);
        const by = principalOf(request).name;
        await deps.replications.update(followerCluster, request.params.follower_index, request.body.settings, by);
        request.log.info({ followerCluster, followerIndex: request.params.follower_index, by }, 'follower settings updated');
        return { acknowledged: true };
      },
    });

    app.get<IndexRoute>('/:follower_index/_status', {
      schema: {
        summary: 'Status of one replication, per shard with lag in operations and seconds',
        tags: ['replication'],
        params: indexParams,
        querystring: lifecycleQuery,
        response: { 200: statusSchema, ...errorResponses },
      },
      handler: async (request) => deps.replications.status(followerClusterOf(request), request.params.follower_index),
    });

    app.get('/leader_stats', {
      schema: {
        summary: 'What the extractors report per replicated leader index',
        tags: ['stats'],
        querystring: query(),
        response: { 200: statsSchema, ...errorResponses },
      },
      handler: async () => deps.board.leaderStats(deps.replications.list()),
    });

    app.get<{ Querystring: { follower_cluster?: string } }>('/follower_stats', {
      schema: {
        summary: 'What the appliers report for one follower cluster',
        tags: ['stats'],
        querystring: lifecycleQuery,
        response: { 200: statsSchema, ...errorResponses },
      },
      handler: async (request) => deps.board.followerStats(deps.replications.list(), request.query.follower_cluster ?? deps.followerCluster),
    });

    app.get('/autofollow_stats', {
      schema: {
        summary: 'Auto-follow counters: totals and per rule (since the control service started)',
        tags: ['stats'],
        querystring: query(),
        response: { 200: statsSchema, ...errorResponses },
      },
      handler: async () => deps.autofollow.stats(),
    });
  };
}
