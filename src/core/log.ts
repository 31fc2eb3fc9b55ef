import pino, { type Logger, type LevelWithSilent } from 'pino';
import chalk from 'chalk';
import { logLevel as KafkaLogLevel, type logCreator } from 'kafkajs';
import { redactText } from './redact';
import { isInteractive, writeAbove } from './ui/terminal';

export type { Logger };
export { LOG_LEVELS, type LogFormat } from './config/settings';
import type { LogFormat } from './config/settings';

/**
 * The root logger. Logs go to stderr so stdout stays clean for data (`topics list --format
 * json | jq`): JSON lines when stderr is not a terminal (for log shippers), coloured
 * one-line records when it is. Either way every line is redacted.
 * Each command logs as a `component` (`rootLogger.child({ component: 'produce' })`), and a
 * part of it as a `module` below that (`logger.child({ module: 'finnhub-ws' })`): pino
 * cannot replace a binding a parent already has, so a second `component` would repeat the
 * key in the JSON line.
 */
export let rootLogger: Logger = createLogger('info', 'auto');

export function configureLogging(level: LevelWithSilent, format: LogFormat): Logger {
  rootLogger = createLogger(level, format);
  return rootLogger;
}

function createLogger(level: LevelWithSilent, format: LogFormat): Logger {
  const pretty = format === 'pretty' || (format === 'auto' && isInteractive());
  const destination = pretty ? { write: (line: string) => writeAbove(formatPretty(redactText(line))) } : { write: (line: string) => process.stderr.write(redactText(line)) };
  return pino(
    {
      level,
      base: undefined, // no pid/hostname noise
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Object-path redaction for structured fields; redactText() covers free text.
      redact: { paths: ['token', 'password', '*.token', '*.password', '*.sasl', 'sasl', 'config.finnhub.token'], censor: '***' },
    },
    destination,
  );
}

const LEVEL_COLOURS: Record<string, (s: string) => string> = {
  fatal: chalk.bgRed.white, error: chalk.red, warn: chalk.yellow, info: chalk.green, debug: chalk.blue, trace: chalk.gray,
};

function formatPretty(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line);
  } catch {
    return line;
  }
  const { time, level, component, module, msg, err, ...rest } = record as { time?: string; level?: string; component?: string; module?: string; msg?: string; err?: { stack?: string; message?: string } };
  const source = [component, module].filter(Boolean).join('/');
  const clock = typeof time === 'string' ? time.slice(11, 23) : '';
  const colour = LEVEL_COLOURS[level ?? 'info'] ?? ((s: string) => s);
  const fields = Object.entries(rest)
    .map(([k, v]) => `${chalk.dim(k + '=')}${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const stack = err ? `\n${chalk.dim(err.stack ?? err.message ?? '')}` : '';
  return `${chalk.dim(clock)} ${colour((level ?? '').padEnd(5))} ${source ? chalk.cyan(source) + ' ' : ''}${msg ?? ''}${fields ? ' ' + fields : ''}${stack}\n`;
}

/** kafkajs logs through finpipe's logger, as module "kafkajs". */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () => ({ namespace, level, log }) => {
    const { message, timestamp: _t, logger: _l, ...extra } = log as { message: string; timestamp?: string; logger?: string; [k: string]: unknown };
    const child = logger.child({ module: 'kafkajs', namespace });
    // kafkajs logs retriable broker answers as errors although it retries them itself; a
    // transaction started right after a commit routinely gets CONCURRENT_TRANSACTIONS.
    if (level === KafkaLogLevel.ERROR && isRoutineRetry(message, extra)) child.debug(extra, message);
    else if (level === KafkaLogLevel.ERROR) child.error(extra, message);
    else if (level === KafkaLogLevel.WARN) child.warn(extra, message);
    else if (level === KafkaLogLevel.INFO) child.debug(extra, message); // kafkajs INFO is lifecycle chatter
    else child.trace(extra, message);
  };
}

const ROUTINE_RETRY = /another concurrent operation on the same transaction|coordinator is (?:loading|not available)|CONCURRENT_TRANSACTIONS|COORDINATOR_LOAD_IN_PROGRESS/i;

function isRoutineRetry(message: string, extra: Record<string, unknown>): boolean {
  return ROUTINE_RETRY.test(message) || (typeof extra.error === 'string' && ROUTINE_RETRY.test(extra.error));
}

export function kafkaLogLevel(level: string): KafkaLogLevel {
  if (level === 'debug' || level === 'trace') return KafkaLogLevel.DEBUG;
  if (level === 'silent' || level === 'fatal') return KafkaLogLevel.NOTHING;
  if (level === 'error') return KafkaLogLevel.ERROR;
  return KafkaLogLevel.WARN;
}
