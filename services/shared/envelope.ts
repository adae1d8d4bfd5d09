/**
 * The change envelope: its schema is schemas/change-envelope.avsc, its type is generated from it
 * (envelope.generated.ts), and events are built only through the factories below.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChangeEnvelope, Checkpoint, Origin } from './envelope.generated.js';
import { KccrError } from './errors.js';

export type { ChangeEnvelope, Checkpoint, Origin, Operation, RangeCounts, SeqRangeCount } from './envelope.generated.js';

/** The key of checkpoint records: Elasticsearch never accepts an empty _id, so it cannot collide with a document. */
export const CHECKPOINT_KEY = '';

/** The key of metadata records: 513 characters, one more than the longest _id Elasticsearch accepts. */
export const METADATA_KEY = 'kccr:metadata:'.padEnd(513, '~');

/** What a METADATA record carries: enough to create and keep the follower index like the leader's. */
export interface IndexMetadata {
  readonly indexUuid: string;
  readonly shards: number;
  readonly settings: Record<string, unknown>;
  readonly mappings: Record<string, unknown>;
  readonly aliases: Record<string, unknown>;
  /** A digest of settings, mappings and aliases; the extractor publishes again when it changes. */
  readonly digest: string;
}

let cachedSchema: object | undefined;

/** The envelope schema, read from schemas/ (found upwards from this module, in the source tree and in dist/). */
export function envelopeSchema(): object {
  if (cachedSchema) return cachedSchema;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'schemas', 'change-envelope.avsc');
    if (existsSync(candidate)) {
      cachedSchema = JSON.parse(readFileSync(candidate, 'utf8')) as object;
      return cachedSchema;
    }
    dir = dirname(dir);
  }
  throw new KccrError('CONFIG_INVALID', 'schemas/change-envelope.avsc not found above the kccr installation; it ships with kccr');
}

export interface OriginBase {
  readonly cluster: string;
  readonly index: string;
  readonly indexUuid: string;
  readonly historyUuid: string;
  readonly shard: number;
}

export interface DocumentRead {
  readonly id: string;
  readonly routing: string | null;
  readonly source: Buffer;
  readonly seqNo: number;
  readonly primaryTerm: number;
}

function origin(base: OriginBase, seqNo: number, primaryTerm: number, readAt: number): Origin {
  return { cluster: base.cluster, index: base.index, indexUuid: base.indexUuid, historyUuid: base.historyUuid, shard: base.shard, seqNo, primaryTerm, readAt };
}

/** A document as it now is on the leader; the follower writes it with external version _seq_no + 1. */
export function indexEvent(base: OriginBase, doc: DocumentRead, readAt: number, op: 'INDEX' | 'READ' = 'INDEX'): ChangeEnvelope {
  return {
    op,
    id: doc.id,
    routing: doc.routing,
    source: doc.source,
    version: doc.seqNo + 1,
    origin: origin(base, doc.seqNo, doc.primaryTerm, readAt),
    checkpoint: null,
  };
}

/**
 * A document found gone by reconciliation. Its version is the global checkpoint read before the diff, plus one:
 * higher than any version the document had before, lower than any later re-creation.
 */
export function deleteEvent(base: OriginBase, id: string, routing: string | null, reconciledAt: number, readAt: number): ChangeEnvelope {
  return { op: 'DELETE', id, routing, source: null, version: reconciledAt + 1, origin: origin(base, reconciledAt, 0, readAt), checkpoint: null };
}

export function checkpointEvent(base: OriginBase, checkpoint: Checkpoint, readAt: number): ChangeEnvelope {
  return {
    op: 'CHECKPOINT',
    id: CHECKPOINT_KEY,
    routing: null,
    source: null,
    version: checkpoint.globalCheckpoint + 1,
    origin: origin(base, checkpoint.globalCheckpoint, 0, readAt),
    checkpoint,
  };
}

/** The leader index's metadata, published to every partition before documents that may need it. */
export function metadataEvent(base: OriginBase, meta: IndexMetadata, seqNo: number, readAt: number): ChangeEnvelope {
  return {
    op: 'METADATA',
    id: METADATA_KEY,
    routing: null,
    source: Buffer.from(JSON.stringify(meta)),
    version: seqNo + 1,
    origin: origin(base, seqNo, 0, readAt),
    checkpoint: null,
  };
}

export function readMetadata(e: ChangeEnvelope): IndexMetadata {
  if (e.op !== 'METADATA' || !e.source) throw new KccrError('ENVELOPE_INVALID', `not a METADATA envelope: ${e.op}`);
  return JSON.parse(e.source.toString('utf8')) as IndexMetadata;
}

/** Checks a decoded record against the envelope's rules that Avro alone cannot express. */
export function validateEnvelope(value: unknown): ChangeEnvelope {
  const e = value as ChangeEnvelope;
  const problems: string[] = [];
  if (!e || typeof e !== 'object') throw new KccrError('ENVELOPE_INVALID', 'envelope is not a record');
  if ((e.op === 'INDEX' || e.op === 'READ') && !e.source) problems.push(`${e.op} without source`);
  if (e.op !== 'CHECKPOINT' && e.id === CHECKPOINT_KEY) problems.push(`${e.op} with an empty id`);
  if (e.op === 'METADATA' && (e.id !== METADATA_KEY || !e.source)) problems.push('METADATA without its key or source');
  if (e.op === 'CHECKPOINT' && !e.checkpoint) problems.push('CHECKPOINT without checkpoint');
  // Documents are written with their version, which must be positive; checkpoints and metadata only carry one.
  const minVersion = e.op === 'CHECKPOINT' || e.op === 'METADATA' ? 0 : 1;
  if (!Number.isSafeInteger(e.version) || e.version < minVersion) problems.push(`version ${e.version} is below ${minVersion}`);
  if (problems.length) throw new KccrError('ENVELOPE_INVALID', `invalid envelope: ${problems.join('; ')}`, { id: e.id, op: e.op });
  return e;
}
