/**
 * JSON schemas shared by the routes: names, the error and acknowledgement answers. Every route declares its body,
 * params, querystring and responses with these; the OpenAPI document is generated from them.
 * A `description` on a pattern is what a 400 says when a value does not match it.
 */
import { CLUSTER_NAME } from '../../shared/replication.js';
import { INDEX_NAME } from '../../shared/rows.js';

export const clusterName = {
  type: 'string',
  pattern: CLUSTER_NAME.source,
  description: 'a cluster name: lower-case letters, digits, _ and -, starting with a letter or digit, at most 64 characters',
} as const;

/** Elasticsearch's rules for index names (rows.ts). */
export const indexName = {
  type: 'string',
  minLength: 1,
  maxLength: 255,
  pattern: INDEX_NAME.source,
  description:
    'an index name: lower case (no upper-case letter of any script), at most 255 bytes, none of \\ / * ? " < > | , # : or space, not starting with - _ or +, not . or ..',
} as const;

export const envName = {
  type: 'string',
  pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$',
  description: 'an environment variable name: letters, digits and _, not starting with a digit',
} as const;

export const filePath = {
  type: 'string',
  minLength: 1,
  maxLength: 4096,
  pattern: String.raw`^/[^\u0000-\u001f]*$`,
  description: "an absolute path on the control service's host",
} as const;

export const errorBody = {
  $id: 'kccrError',
  type: 'object',
  description:
    'Every failure: a stable code from the kccr error catalogue, a message that says what was wrong and what to do, and whether trying again may help.',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'retriable'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        retriable: { type: 'boolean' },
        details: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;

export const acknowledged = {
  type: 'object',
  required: ['acknowledged'],
  properties: { acknowledged: { type: 'boolean' } },
} as const;

/** Error answers every route may give. */
export const errorResponses = {
  '4xx': { $ref: 'kccrError#' },
  '5xx': { $ref: 'kccrError#' },
} as const;

/** `?pretty` (as the announcement's calls use it) and `?human` are accepted everywhere; anything else is refused. */
export const commonQuery = {
  pretty: { type: 'string', maxLength: 10, description: 'indent the JSON answer' },
  human: { type: 'string', maxLength: 10, description: 'accepted for compatibility; no effect' },
} as const;

export function query(extra: Record<string, unknown> = {}) {
  return { type: 'object', additionalProperties: false, properties: { ...commonQuery, ...extra } } as const;
}

export const freeObject = { type: 'object', additionalProperties: true } as const;

/** The `merge` object of a start or an auto-follow rule (fan-in, merged mode: shared/merge.ts), with what it is for. */
export function mergeBody(description: string) {
  return {
    type: 'object',
    additionalProperties: false,
    description,
    properties: {
      id_template: {
        type: 'string',
        minLength: 1,
        maxLength: 256,
        description:
          'the follower _id of a leader _id: {{leader_cluster}}, {{leader_index}} and {{id}} (last), separated by : / | or #; default {{leader_cluster}}:{{leader_index}}:{{id}}',
      },
      origin_field: {
        type: 'string',
        minLength: 1,
        maxLength: 255,
        description: 'where the provenance {cluster, index} is written (keywords); default _kccr.origin',
      },
    },
  } as const;
}
