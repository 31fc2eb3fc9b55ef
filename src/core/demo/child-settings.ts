import type { Config } from '../config';
import { schemaRegistryEnv } from '../config/schema-registry';

/**
 * What `finpipe demo` hands each child stage so that it talks to the same services as the
 * demo itself, also when the demo got them as flags rather than from the environment: the
 * brokers (`-b` / `--brokers`), the Kafka client settings (`-X key=value`), the Schema
 * Registry (`--schema-registry`, with its credentials) and the env file (`--env-file`).
 *
 * Brokers, registry and env file go through the environment (flag > env > .env in every
 * child, so the demo's effective value wins over a .env the child would read; the registry
 * password stays out of the process list). `-X` has no environment form: it goes as global
 * options in front of the child's subcommand, already validated by the demo.
 */
export interface ChildSettings {
  env: Record<string, string>;
  /** Global options to put before the subcommand: `-X key=value` pairs. */
  args: string[];
}

export function demoChildSettings(config: Config, global: { kafkaSettings?: string[]; envFile?: string }): ChildSettings {
  return {
    env: {
      FINPIPE_KAFKA_BROKERS: config.kafka.brokers.join(','),
      ...(global.envFile !== undefined && { FINPIPE_ENV_FILE: global.envFile }),
      ...schemaRegistryEnv(config.schemaRegistry),
    },
    args: (global.kafkaSettings ?? []).flatMap((setting) => ['-X', setting]),
  };
}
