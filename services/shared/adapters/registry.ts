/**
 * The only module that imports the schema registry client. Registers the envelope schema under a topic's value
 * subject with BACKWARD compatibility and encodes / decodes with the registry's wire format
 * (magic byte 0, 4-byte schema id, Avro body).
 */
import type { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { KccrError } from '../errors.js';

export interface RegistryConnection {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** PEM of the CA that signed the registry's certificate (an https:// URL); the system's CAs otherwise. */
  readonly ca?: string;
  /** Every request to the registry ends within this many milliseconds (a hung registry behaves like a down one). */
  readonly timeoutMs?: number;
}

export const REGISTRY_TIMEOUT_MS = 10_000;

/** A mappersmith middleware that gives every request a timeout (the client's default waits forever). */
type Middleware = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>[number];
function timeoutMiddleware(ms: number): Middleware {
  return () => ({
    prepareRequest: (next) => next().then((request) => request.enhance({ timeout: ms })),
  });
}

/** What kccr uses of an avsc type (the registry client hands out avsc types for Avro schemas). */
interface AvroType {
  encode(value: unknown, buf: Buffer, pos?: number): number;
  fromBuffer(buf: Buffer): unknown;
  isValid(value: unknown, opts?: { errorHook?: (path: string[]) => void }): boolean;
}

/** Magic byte 0, the schema id (4 bytes, big-endian), the Avro body; one buffer, written once. */
export function frame(type: AvroType, schemaId: number, value: unknown): Buffer {
  const source = (value as { source?: unknown } | null)?.source;
  let size = 512 + (Buffer.isBuffer(source) ? source.length : 0);
  for (;;) {
    const buf = Buffer.allocUnsafe(size);
    buf[0] = 0;
    buf.writeInt32BE(schemaId, 1);
    const end = type.encode(value, buf, 5);
    // avsc returns the end of what it wrote, or minus the bytes it lacked.
    if (end >= 0) return buf.subarray(0, end);
    size = buf.length - end;
  }
}

export class SchemaRegistryAdapter {
  private readonly registry: SchemaRegistry;
  private readonly types = new Map<number, AvroType>();

  constructor(readonly connection: RegistryConnection) {
    this.registry = new SchemaRegistry({
      host: connection.url,
      ...(connection.username ? { auth: { username: connection.username, password: connection.password ?? '' } } : {}),
      // The client takes an http.Agent; an https one is what it hands to the https requests of an https:// URL.
      ...(connection.ca ? { agent: new HttpsAgent({ ca: connection.ca, keepAlive: true }) as unknown as HttpAgent } : {}),
      // kccr's callers retry (forever, with backoff, saying so in status); the client tries each call once more.
      retry: { retries: 1 },
      middlewares: [timeoutMiddleware(connection.timeoutMs ?? REGISTRY_TIMEOUT_MS)],
    });
  }

  /** Registers `schema` (Avro JSON) under `subject` with BACKWARD compatibility; returns its id. Idempotent. */
  async register(subject: string, schema: object): Promise<number> {
    try {
      const { id } = await this.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject, compatibility: 'BACKWARD' } as never);
      return id;
    } catch (e) {
      throw toRegistryError(e, `registering the schema under ${subject}`);
    }
  }

  async latestId(subject: string): Promise<number> {
    try {
      return await this.registry.getLatestSchemaId(subject);
    } catch (e) {
      throw toRegistryError(e, `reading the latest schema of ${subject}`);
    }
  }

  async encode(schemaId: number, value: unknown): Promise<Buffer> {
    return (await this.encodeMany(schemaId, [value]))[0]!;
  }

  /**
   * Encodes in the registry's wire format, each value written once into its own buffer (the client's encode
   * writes the Avro body, then copies it behind the header). Values that do not fit the schema are refused with
   * the paths that do not fit.
   */
  async encodeMany(schemaId: number, values: readonly unknown[]): Promise<Buffer[]> {
    const type = await this.avroType(schemaId);
    return values.map((value) => {
      try {
        return frame(type, schemaId, value);
      } catch (e) {
        const paths: string[] = [];
        type.isValid(value, { errorHook: (path) => paths.push(path.join('.')) });
        throw new KccrError(
          'ENVELOPE_INVALID',
          `schema registry: encoding with schema ${schemaId}: ${e instanceof Error ? e.message : String(e)}${paths.length ? ` (fields not fitting the schema: ${paths.join(', ')})` : ''}`,
          { paths },
          { cause: e },
        );
      }
    });
  }

  async decode(buffer: Buffer): Promise<unknown> {
    // Anything not in the wire format goes to the client, which says what is wrong with it.
    if (buffer.length <= 5 || buffer[0] !== 0) {
      try {
        return await this.registry.decode(buffer);
      } catch (e) {
        throw toRegistryError(e, 'decoding a record');
      }
    }
    const type = await this.avroType(buffer.readInt32BE(1));
    try {
      return type.fromBuffer(buffer.subarray(5));
    } catch (e) {
      throw toRegistryError(e, 'decoding a record');
    }
  }

  /** The Avro type of a registered schema id, fetched once. */
  private async avroType(schemaId: number): Promise<AvroType> {
    const known = this.types.get(schemaId);
    if (known) return known;
    try {
      const schema = (await this.registry.getSchema(schemaId)) as unknown as AvroType;
      if (typeof schema.encode !== 'function' || typeof schema.fromBuffer !== 'function') throw new Error(`schema ${schemaId} is not an Avro schema`);
      this.types.set(schemaId, schema);
      return schema;
    } catch (e) {
      throw toRegistryError(e, `reading schema ${schemaId}`);
    }
  }
}

/**
 * The decision for every registry failure: a schema id or subject the registry does not know (yet: a registry
 * restarted empty, a replica behind) is transient, like the registry being down, slow or overloaded; refused
 * credentials are an operator's; an incompatible or invalid schema, or a record not in the wire format, is permanent.
 */
export function toRegistryError(e: unknown, what: string): KccrError {
  const err = e as { name?: string; status?: number; message?: string };
  const message = `schema registry: ${what}: ${err.message ?? String(e)}`;
  if (err.status === 409 || err.name === 'ConfluentSchemaRegistryCompatibilityError') return new KccrError('SCHEMA_INCOMPATIBLE', message, {}, { cause: e });
  if (err.status === 404) return new KccrError('SCHEMA_UNKNOWN', message, { status: 404 }, { cause: e });
  if (err.status === 401 || err.status === 403) return new KccrError('REGISTRY_UNAUTHORIZED', message, { status: err.status }, { cause: e });
  if (err.status !== undefined && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429)
    return new KccrError('ENVELOPE_INVALID', message, { status: err.status }, { cause: e });
  if (err.name === 'ConfluentSchemaRegistryArgumentError' || err.name === 'ConfluentSchemaRegistryValidationError') {
    return new KccrError('ENVELOPE_INVALID', message, {}, { cause: e });
  }
  return new KccrError('REGISTRY_UNAVAILABLE', message, {}, { cause: e });
}
