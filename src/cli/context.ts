import { loadConfig, type Config } from '../core/config';
import { configureLogging, type Logger } from '../core/log';

/** Options every command accepts (defined on the root program). */
export interface GlobalOptions {
  brokers?: string;
  envFile?: string;
  logLevel?: string;
  logFormat?: string;
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
  const config = loadConfig({
    envFile: global.envFile,
    flags: {
      'kafka.brokers': global.brokers,
      'log.level': global.logLevel,
      'log.format': global.logFormat,
      'metrics.port': global.metricsPort,
      'metrics.host': global.metricsHost,
      ...flags,
    },
  });
  const logger = configureLogging(config.log.level, config.log.format).child({ component });
  return { config, logger };
}
