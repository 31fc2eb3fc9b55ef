import { SchemaRegistry, COMPATIBILITY } from '@kafkajs/confluent-schema-registry';
import createApiClient, { type SchemaRegistryAPIClient } from '@kafkajs/confluent-schema-registry/dist/api';
import type avro from 'avsc';
import type { SchemaRegistryConfig } from '../../config';
import { FinpipeError } from '../../errors';
import { retry, type RetryOptions } from '../../retry';

/**
 * finpipe's use of a Schema Registry (Confluent REST API; Confluent Schema Registry, or
 * Apicurio Registry's /apis/ccompat/v7), through @kafkajs/confluent-schema-registry: its
 * HTTP client (basic auth, retries) for registration and its cached, de-duplicated
 * schema-by-id lookups. Framing and decoding stay in finpipe (../framing.ts, ./index.ts):
 * they must be synchronous on the hot paths, and the library's encode/decode are async.
 */

/** What an HTTP failure of the library looks like (its ResponseError). */
interface ResponseError {
  status?: number;
  message?: string;
}

/** Network failures reach us as "status 400: connect ECONNREFUSED ..." from mappersmith. */
const NETWORK = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|socket hang up|[Tt]imeout/;

export class RegistryClient {
  private readonly registry: SchemaRegistry;
  private readonly api: SchemaRegistryAPIClient;

  constructor(
    private readonly config: SchemaRegistryConfig,
    private readonly retryOptions: RetryOptions = { attempts: 8, maxMs: 5_000 },
  ) {
    const args = { host: config.url, clientId: 'finpipe', auth: config.auth, retry: { retries: 0 } };
    this.registry = new SchemaRegistry(args);
    this.api = createApiClient(args);
  }

  get url(): string {
    return this.config.url;
  }

  /** The registration requests asked for so far, sent one after another (see register). */
  private registrations: Promise<unknown> = Promise.resolve();

  /**
   * Registers `schema` under `subject` and returns its id. First asks the registry whether
   * it is compatible with the subject's latest version, so an incompatible change is refused
   * before anything is written; a new subject gets compatibility BACKWARD (Confluent's
   * default; Apicurio's default is NONE, which would accept anything).
   *
   * The registration requests themselves go one at a time, in the order asked (checks and
   * configurations stay concurrent). Apicurio answers some concurrent creations of
   * *different* new subjects with 409 "already exists": 40 new subjects at once met 5-9 such
   * refusals, each a retry after a backoff (once 57 s in all); with the registrations one
   * after another, none, 5-15 % less CPU and about as fast. Confluent's registry writes
   * registrations one at a time anyway (its leader appends them to one Kafka topic).
   */
  async register(subject: string, schema: avro.Schema): Promise<number> {
    const text = JSON.stringify(schema);
    const exists = await this.call(`check ${subject}`, async () => {
      try {
        const response = await this.api.Subject.compatible({ subject, version: 'latest', body: { schema: text } });
        const result = response.data<{ is_compatible: boolean; messages?: string[]; reason?: string | null }>();
        if (!result.is_compatible)
          throw incompatible(subject, this.config.url, [...(result.messages ?? []), result.reason ?? ''].join(' '));
        return true;
      } catch (error) {
        if ((error as ResponseError).status === 404) return false;
        throw error;
      }
    });
    const id = await this.oneAtATime(() =>
      this.call(`register ${subject}`, async () => {
        try {
          const response = await this.api.Subject.register({ subject, body: { schema: text } });
          return response.data<{ id: number }>().id;
        } catch (error) {
          if ((error as ResponseError).status !== 409) throw error;
          // 409 is also what a registration racing another writer's gets (Apicurio: "already
          // exists"); if the schema is registered now, that is success.
          const existing = await this.registeredId(subject, text);
          if (existing !== null) return existing;
          const message = (error as Error).message;
          // Apicurio answers "already exists" while another request creating the subject has
          // not finished (or an earlier attempt of ours timed out but went through): try again.
          if (/already exists/i.test(message))
            throw new FinpipeError('REGISTRY_UNAVAILABLE', `registering ${subject} raced another registration: ${message}`);
          throw incompatible(subject, this.config.url, message);
        }
      }),
    );
    if (!exists)
      await this.call(`configure ${subject}`, () =>
        this.api.Subject.updateConfig({ subject, body: { compatibility: COMPATIBILITY.BACKWARD } }),
      );
    return id;
  }

  /** Runs `request` after the ones queued before it have finished. */
  private oneAtATime<T>(request: () => Promise<T>): Promise<T> {
    const run = this.registrations.then(request);
    this.registrations = run.catch(() => undefined);
    return run;
  }

  /** The id of `schema` under `subject` if it is registered there, else null. */
  private async registeredId(subject: string, text: string): Promise<number | null> {
    try {
      return (await this.api.Subject.registered({ subject, body: { schema: text } })).data<{ id: number }>().id;
    } catch (error) {
      if ((error as ResponseError).status === 404) return null;
      throw error;
    }
  }

  /** The Avro schema with registry id `id`, parsed; null when the registry has no such id. */
  async schema(id: number): Promise<avro.Type | null> {
    return this.call(`schema id ${id}`, async () => {
      try {
        return (await this.registry.getSchema(id)) as unknown as avro.Type;
      } catch (error) {
        if ((error as ResponseError).status === 404) return null;
        throw error;
      }
    });
  }

  /** Runs a registry request, waiting out an unreachable registry with backoff; errors become FinpipeErrors. */
  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retry(async () => {
      try {
        return await fn();
      } catch (error) {
        throw this.translate(what, error);
      }
    }, this.retryOptions);
  }

  private translate(what: string, error: unknown): unknown {
    if (error instanceof FinpipeError) return error;
    const { status, message = String(error) } = error as ResponseError;
    const context = { registry: this.config.url };
    if (status === 401 || status === 403)
      return new FinpipeError('REGISTRY_ERROR', `Schema Registry ${this.config.url} refused the credentials (${what}: HTTP ${status})`, {
        hint: 'check FINPIPE_SCHEMA_REGISTRY_USERNAME / FINPIPE_SCHEMA_REGISTRY_PASSWORD',
        context,
      });
    if ((status !== undefined && status >= 500) || NETWORK.test(message))
      return new FinpipeError('REGISTRY_UNAVAILABLE', `Schema Registry ${this.config.url} is unreachable (${what}): ${message}`, {
        hint: 'start it (npm run services:up registry) or point --schema-registry / FINPIPE_SCHEMA_REGISTRY_URL at a running one',
        context,
        cause: error,
      });
    return new FinpipeError('REGISTRY_ERROR', `Schema Registry ${this.config.url} failed (${what}): ${message}`, {
      hint: 'is the URL the Confluent-compatible API? Apicurio: http://host:8080/apis/ccompat/v7; Confluent: http://host:8081',
      context,
      cause: error,
    });
  }
}

function incompatible(subject: string, url: string, detail: string): FinpipeError {
  return new FinpipeError(
    'SCHEMA_INCOMPATIBLE',
    `the schema finpipe writes is not compatible with the latest version of subject ${subject} in ${url}${detail.trim() ? `: ${detail.trim()}` : ''}`,
    {
      hint:
        'nothing was written. Only compatible changes are allowed (e.g. add a field with a default); ' +
        'write to a new topic, or change the subject (its compatibility setting or versions) in the registry if the change is intended',
      context: { subject },
    },
  );
}
