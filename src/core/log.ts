import pino, { type Logger, type LevelWithSilent } from 'pino';
import chalk from 'chalk';
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
  const destination = pretty
    ? { write: (line: string) => writeAbove(formatPretty(redactText(line))) }
    : { write: (line: string) => process.stderr.write(redactText(line)) };
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
  fatal: chalk.bgRed.white,
  error: chalk.red,
  warn: chalk.yellow,
  info: chalk.green,
  debug: chalk.blue,
  trace: chalk.gray,
};

function formatPretty(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { time, level, component, module, msg, err, ...rest } = record as {
    time?: string;
    level?: string;
    component?: string;
    module?: string;
    msg?: string;
    err?: { stack?: string; message?: string };
  };
  const source = [component, module].filter(Boolean).join('/');
  const clock = typeof time === 'string' ? time.slice(11, 23) : '';
  const colour = LEVEL_COLOURS[level ?? 'info'] ?? ((s: string) => s);
  const fields = Object.entries(rest)
    .map(([k, v]) => `${chalk.dim(k + '=')}${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const stack = err ? `\n${chalk.dim(err.stack ?? err.message ?? '')}` : '';
  return `${chalk.dim(clock)} ${colour((level ?? '').padEnd(5))} ${source ? chalk.cyan(source) + ' ' : ''}${msg ?? ''}${fields ? ' ' + fields : ''}${stack}\n`;
}
