/**
 * The only module that imports the schema registry client. Registers the envelope schema under a topic's value
 * subject with BACKWARD compatibility and encodes / decodes with the registry's wire format
 * (magic byte 0, 4-byte schema id, Avro body).
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { KccrError } from '../errors.js';

export interface RegistryConnection {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
}

export class SchemaRegistryAdapter {
  private readonly registry: SchemaRegistry;

  constructor(readonly connection: RegistryConnection) {
    this.registry = new SchemaRegistry({
      host: connection.url,
      ...(connection.username ? { auth: { username: connection.username, password: connection.password ?? '' } } : {}),
      retry: { retries: 3 },
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
    try {
      return await this.registry.encode(schemaId, value);
    } catch (e) {
      throw toRegistryError(e, `encoding with schema ${schemaId}`);
    }
  }

  async decode(buffer: Buffer): Promise<unknown> {
    try {
      return await this.registry.decode(buffer);
    } catch (e) {
      throw toRegistryError(e, 'decoding a record');
    }
  }
}

function toRegistryError(e: unknown, what: string): KccrError {
  const err = e as { name?: string; status?: number; message?: string };
  const message = `schema registry: ${what}: ${err.message ?? String(e)}`;
  if (err.status === 409 || err.name === 'ConfluentSchemaRegistryCompatibilityError') return new KccrError('SCHEMA_INCOMPATIBLE', message, {}, { cause: e });
  if (err.status !== undefined && err.status >= 400 && err.status < 500 && err.status !== 429) return new KccrError('ENVELOPE_INVALID', message, { status: err.status }, { cause: e });
  if (err.name === 'ConfluentSchemaRegistryArgumentError' || err.name === 'ConfluentSchemaRegistryValidationError') {
    return new KccrError('ENVELOPE_INVALID', message, {}, { cause: e });
  }
  return new KccrError('REGISTRY_UNAVAILABLE', message, {}, { cause: e });
}
