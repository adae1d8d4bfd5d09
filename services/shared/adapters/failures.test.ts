/**
 * The one decision of what is transient: every Kafka, registry and Elasticsearch failure as the adapters classify it,
 * from error shapes the clients really throw.
 */
import { errors } from '@elastic/elasticsearch';
import { AuthenticationError, MultipleErrors, NetworkError, ProtocolError, ResponseError, TimeoutError, UserError } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { MAX_REASON_CHARS, reasonOf, toKccrError } from './elasticsearch.js';
import { toKafkaError } from './kafka.js';
import { toRegistryError } from './registry.js';
import { failureKind, KccrError } from '../errors.js';
import { RetryTracker } from '../retry.js';

function esResponse(statusCode: number, type: string, reason: string) {
  return new errors.ResponseError({ body: { error: { type, reason }, status: statusCode }, statusCode, headers: {}, warnings: [], meta: {} as never });
}

describe('Kafka failures', () => {
  const kind = (e: unknown) => failureKind(toKafkaError(e, 'producing'));
  /** A response with a protocol error, as the client builds it (API key 0 is Produce). */
  const response = (code: number) => new ResponseError(0, 9, { '/responses/0/partitions/0': [code, null] }, {});

  it('are transient when a retry can fix them: connections, timeouts, leaders, coordinators, exhausted client retries', () => {
    expect(
      kind(
        new NetworkError('Connection to 127.0.0.1:9092 failed.', {
          cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), { code: 'ECONNREFUSED' }),
        }),
      ),
    ).toBe('transient');
    expect(kind(new TimeoutError('Request timed out'))).toBe('transient');
    expect(kind(new ProtocolError('LEADER_NOT_AVAILABLE'))).toBe('transient');
    expect(kind(response(14))).toBe('transient'); // COORDINATOR_LOAD_IN_PROGRESS
    expect(kind(new MultipleErrors('produce failed 6 times.', [new NetworkError('Connection closed'), new TimeoutError('Request timed out')]))).toBe(
      'transient',
    );
    expect(kind(new UserError('Cannot find broker with node id 1'))).toBe('transient');
    // A producer whose broker lost its state: a new producer id fixes it.
    expect(kind(new ProtocolError('OUT_OF_ORDER_SEQUENCE_NUMBER'))).toBe('transient');
    expect(kind(new ProtocolError('UNKNOWN_TOPIC_OR_PARTITION'))).toBe('transient');
  });

  it('are for an operator when credentials or permissions are refused, wherever they are in the chain', () => {
    expect(toKafkaError(new AuthenticationError('SASL authentication failed.'), 'connecting').code).toBe('KAFKA_UNAUTHORIZED');
    expect(toKafkaError(new ProtocolError('SASL_AUTHENTICATION_FAILED'), 'connecting').code).toBe('KAFKA_UNAUTHORIZED');
    const wrapped = new MultipleErrors('metadata failed 1 times.', [new NetworkError('Connection failed', { cause: response(29) })]); // TOPIC_AUTHORIZATION_FAILED
    expect(kind(wrapped)).toBe('credentials');
  });

  it('are permanent only when the request itself is wrong', () => {
    expect(toKafkaError(response(10), 'producing').code).toBe('KAFKA_REJECTED'); // MESSAGE_TOO_LARGE
    expect(toKafkaError(response(10), 'producing').details).toEqual({ kafkaError: 'MESSAGE_TOO_LARGE' });
    // The Kafka error is named in the message too: the client's own message may not say it.
    expect(toKafkaError(response(10), 'producing').message).toMatch(/^producing: .*\(MESSAGE_TOO_LARGE\)$/);
    expect(kind(new ProtocolError('INVALID_CONFIG'))).toBe('permanent');
  });

  it('keep an error kccr already classified', () => {
    const e = new KccrError('CONFLICT', 'topic has 2 partitions but 3 are needed');
    expect(toKafkaError(e, 'x')).toBe(e);
  });
});

describe('registry failures', () => {
  const registryError = (status: number | undefined, message: string, name = 'ResponseError') =>
    Object.assign(new Error(message), { name, ...(status !== undefined ? { status } : {}) });

  it('treat an unknown schema id as transient (a registry restarted empty, a replica behind): never a dead letter', () => {
    const e = toRegistryError(registryError(404, 'Schema 1 not found'), 'reading schema 1');
    expect(e.code).toBe('SCHEMA_UNKNOWN');
    expect(e.retriable).toBe(true);
  });

  it('treat the registry down, hung or overloaded as transient', () => {
    expect(toRegistryError(registryError(undefined, 'connect ECONNREFUSED 127.0.0.1:8081', 'Error'), 'x').code).toBe('REGISTRY_UNAVAILABLE');
    expect(toRegistryError(registryError(undefined, 'Timeout (10000ms)', 'Error'), 'x').retriable).toBe(true);
    expect(toRegistryError(registryError(503, 'unavailable'), 'x').retriable).toBe(true);
    expect(toRegistryError(registryError(429, 'slow down'), 'x').retriable).toBe(true);
  });

  it('leave refused credentials to an operator and bad schemas or records permanent', () => {
    expect(failureKind(toRegistryError(registryError(401, 'Unauthorized'), 'x'))).toBe('credentials');
    expect(toRegistryError(registryError(409, 'incompatible'), 'x').code).toBe('SCHEMA_INCOMPATIBLE');
    expect(toRegistryError(registryError(undefined, 'Message encoded with magic byte 1, expected 0', 'ConfluentSchemaRegistryArgumentError'), 'x').code).toBe(
      'ENVELOPE_INVALID',
    );
  });
});

describe('Elasticsearch failures', () => {
  const kind = (e: unknown) => failureKind(toKccrError(e, 'POST /_bulk', 'http://127.0.0.1:9201'));

  it('are transient for 408, 429, 5xx, connection errors, timeouts and blocks that lift by themselves', () => {
    expect(kind(esResponse(429, 'es_rejected_execution_exception', 'rejected execution'))).toBe('transient');
    expect(kind(esResponse(503, 'search_phase_execution_exception', 'all shards failed'))).toBe('transient');
    expect(kind(esResponse(408, 'timeout', 'request timed out'))).toBe('transient');
    expect(kind(new errors.ConnectionError('connect ECONNREFUSED'))).toBe('transient');
    expect(kind(new errors.TimeoutError('Request timed out'))).toBe('transient');
    // A write-blocked index answers 403; it is not a permission problem.
    expect(kind(esResponse(403, 'cluster_block_exception', 'index [f] blocked by: [FORBIDDEN/8/index write (api)];'))).toBe('transient');
    expect(kind(esResponse(400, 'index_closed_exception', 'closed'))).toBe('transient');
  });

  it('are for an operator on refused credentials or privileges, and permanent for bad requests', () => {
    expect(kind(esResponse(401, 'security_exception', 'unable to authenticate user'))).toBe('credentials');
    expect(kind(esResponse(403, 'security_exception', 'action [indices:data/write/bulk] is unauthorized'))).toBe('credentials');
    expect(kind(esResponse(400, 'illegal_argument_exception', 'bad'))).toBe('permanent');
  });
});

describe('RetryTracker', () => {
  it('counts a run of failures from its first, with the latest reason, until a success', () => {
    const t = new RetryTracker();
    expect(t.view()).toBeUndefined();
    expect(t.failed(new Error('a'), 1000)).toBe(1);
    expect(t.failed(new Error('b'), 5000)).toBe(2);
    expect(t.view()).toEqual({ reason: 'b', since: 1000, attempts: 2 });
    t.succeeded();
    expect(t.view()).toBeUndefined();
    expect(t.failed(new Error('c'), 9000)).toBe(1);
  });
});

describe("a cluster's error answer in kccr's messages", () => {
  it('is cut and cleaned: a registered URL that is not Elasticsearch cannot be read back through kccr', () => {
    const page = `<html>\n<body>${'secret-data '.repeat(500)}</body></html>`;
    const reason = reasonOf(page);
    expect(reason.length).toBeLessThan(MAX_REASON_CHARS + 40);
    expect(reason).toMatch(/… \(\d+ characters\)$/);
    expect(reason).not.toMatch(/\n/);
    expect(reasonOf({ error: { type: 'index_not_found_exception', reason: 'no such index [x]' } })).toBe('index_not_found_exception: no such index [x]');
  });
});
