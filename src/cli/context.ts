import { loadConfig, type Config } from '../core/config';
import { configureLogging, type Logger } from '../core/log';
import { parseClientSettings } from '../core/kafka/client-settings';

/** Options every command accepts (defined on the root program). */
export interface GlobalOptions {
  brokers?: string;
  /** `-X key=value`, repeatable: Kafka client settings (core/kafka/client-settings.ts). */
  kafkaSetting?: string[];
  envFile?: string;
  logLevel?: string;
  logFormat?: string;
  schemaRegistry?: string;
  /** --metrics-port / --metrics-host of the stage commands (optsWithGlobals includes the command's own options). */
  metricsPort?: string;
  metricsHost?: string;
}

export interface CommandContext {
  config: Config;
  logger: Logger;
}

/**
 * Loads and validates the configuration (flags > env > .env > defaults) and sets up logging.
 * `flags` maps setting paths (`topics.raw`) to a command's own flag values.
 */
export function createContext(global: GlobalOptions, component: string, flags: Record<string, string | undefined> = {}): CommandContext {
  // -X first: a bad key is a usage error even when the rest of the configuration is fine.
  const clientSettings = parseClientSettings(global.kafkaSetting ?? []);
  const config = loadConfig({
    envFile: global.envFile,
    flags: {
      'kafka.brokers': global.brokers,
      'log.level': global.logLevel,
      'log.format': global.logFormat,
      'schemaRegistry.url': global.schemaRegistry,
      'metrics.port': global.metricsPort,
      'metrics.host': global.metricsHost,
      ...flags,
    },
  });
  config.kafka.clientSettings = clientSettings;
  const logger = configureLogging(config.log.level, config.log.format).child({ component });
  return { config, logger };
}
