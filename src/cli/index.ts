import { Command, CommanderError, Option } from 'commander';
import { SETTINGS } from '../core/config/settings';
import { FinpipeError } from '../core/errors';
import { redactText } from '../core/redact';
import { applyColourPreference, endQuietlyOnClosedPipes } from '../core/ui/terminal';
import { registerCommands } from './commands';
import { collect } from './commands/options';
import { CLIENT_SETTINGS } from '../core/kafka/client-settings';
import type { GlobalOptions } from './context';

/**
 * The entry point: parse, run the matched command, and map every error to one message and
 * an exit code (2: usage or configuration, 1: runtime failure). Commands throw; they never
 * call process.exit. Command modules load their core code lazily so `--help` stays fast.
 */
export function buildProgram(): Command {
  const program = new Command('finpipe')
    .description('Real-time market data: Finnhub websocket -> Kafka (Avro) -> per-symbol trades and candles, exactly once -> MySQL.')
    .version((require('../../../package.json') as { version: string }).version, '-V, --version')
    .addOption(new Option('-b, --brokers <list>', 'Kafka bootstrap servers (env FINPIPE_KAFKA_BROKERS)'))
    .addOption(
      new Option('-X, --kafka-setting <key=value>', 'Kafka client setting, repeatable (e.g. -X request.timeout.ms=10000); list below')
        .argParser(collect)
        .default([]),
    )
    .addOption(new Option('--env-file <path>', 'read settings from this file instead of ./.env'))
    .addOption(new Option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env FINPIPE_LOG_LEVEL)'))
    .addOption(new Option('--log-format <format>', 'auto|json|pretty (env FINPIPE_LOG_FORMAT)'))
    .addOption(
      new Option('--schema-registry <url>', 'frame Avro values for a Schema Registry at this URL (env FINPIPE_SCHEMA_REGISTRY_URL)'),
    )
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: () => {} }); // the error boundary prints errors, once
  program.addHelpText(
    'after',
    `
Start-up order (each in its own terminal, or all at once with the demo):
  $ finpipe topics create
  $ finpipe sink BINANCE_BTCUSDT
  $ finpipe process
  $ finpipe produce BINANCE:BTCUSDT BINANCE:ETHUSDT

${settingsHelp()}

${clientSettingsHelp()}`,
  );
  registerCommands(program);
  addHelpCommand(program);
  // Subcommands added with addCommand() do not inherit these settings; usage errors at any
  // depth must reach the one error boundary below. Commander 12 silently drops arguments a
  // command does not declare (`simulate --symbols A B C` ran with A alone): refuse them.
  const inherit = (command: Command) => {
    command
      .exitOverride()
      .configureOutput({ outputError: () => {} })
      .showSuggestionAfterError(true)
      .allowExcessArguments(false);
    command.commands.forEach(inherit);
  };
  program.allowExcessArguments(false);
  program.commands.forEach(inherit);
  return program;
}

/** Every setting's variable and default, in the help: .env.example is not in the npm package. */
function settingsHelp(): string {
  return `Settings come from flags, then the environment, then ./.env (--env-file or FINPIPE_ENV_FILE
names another file), then defaults. Every variable with its default (README, Configuration:
what each means):
${SETTINGS.map((s) => `  ${s.env}=${s.default ?? ''}`).join('\n')}`;
}

/** The closed list of -X keys (README: Kafka client settings). */
function clientSettingsHelp(): string {
  return `Kafka client settings for -X key=value (any command that connects to Kafka):
${Object.entries(CLIENT_SETTINGS)
  .map(([key, spec]) => `  ${key}  ${spec.doc}`)
  .join('\n')}`;
}

/**
 * `finpipe help topics create` shows the help of `topics create`: commander's own help
 * command looks at its first argument only and showed `topics`' help.
 */
function addHelpCommand(program: Command): void {
  program
    .command('help')
    .description('display help for a command (e.g. finpipe help topics create)')
    .argument('[command...]', 'the command, and its subcommand')
    .action((names: string[]) => {
      let command = program;
      for (const [i, name] of names.entries()) {
        const sub = command.commands.find((c) => c.name() === name || c.aliases().includes(name));
        if (!sub) throw new CommanderError(1, 'commander.unknownCommand', `unknown command '${names.slice(0, i + 1).join(' ')}'`);
        command = sub;
      }
      command.help();
    });
}

export async function main(argv = process.argv): Promise<number> {
  // `finpipe ... | head -1`: the reader may close early; end quietly, never with a stack trace.
  endQuietlyOnClosedPipes();
  applyColourPreference();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    return reportError(error, program.opts<GlobalOptions>().logLevel ?? process.env.FINPIPE_LOG_LEVEL);
  }
}

function usageHint(error: CommanderError): string {
  const help = 'see `finpipe --help` or `finpipe <command> --help`';
  if (error.code !== 'commander.excessArguments') return help;
  return `give a list option one comma-separated value (--symbols A,B,C) and quote values with spaces; ${help}`;
}

function reportError(error: unknown, logLevel: string | undefined): number {
  if (error instanceof CommanderError) {
    // --help and --version end through here with exit code 0.
    if (error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
    process.stderr.write(`finpipe: ${error.message.replace(/^error: /, '').trim()} (hint: ${usageHint(error)})\n`);
    return 2;
  }
  const debug = logLevel === 'debug' || logLevel === 'trace';
  if (error instanceof FinpipeError) {
    // One line: what was wrong, then what to do (config errors list every problem below it).
    let text = `finpipe: ${error.message}${error.hint ? ` (hint: ${error.hint})` : ''}\n`;
    if (debug && error.stack) text += `${error.stack}\n${error.cause instanceof Error ? `caused by: ${error.cause.stack}\n` : ''}`;
    process.stderr.write(redactText(text));
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  let text = `finpipe: unexpected error: ${message} (hint: this is a bug; rerun with --log-level debug for the stack trace and report it)\n`;
  if (debug && error instanceof Error && error.stack) text += `${error.stack}\n`;
  process.stderr.write(redactText(text));
  return 1;
}
