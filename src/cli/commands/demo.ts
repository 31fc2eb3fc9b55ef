import { Command } from 'commander';
import { withMetricsOptions } from './metrics-options';
import { globalOptions, nonNegativeNumber, parseDuration, positiveInt } from './options';

export const DEMO_SYMBOLS = ['BINANCE:BTCUSDT', 'BINANCE:ETHUSDT', 'OANDA:EUR_USD', 'AAPL'];

export function demoCommand(): Command {
  return withMetricsOptions(new Command('demo'))
    .description('the whole pipeline at once: simulator -> produce -> process -> sink -> MySQL, with a live view')
    .option(
      '-s, --symbols <list>',
      'comma-separated symbols',
      (v: string) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      DEMO_SYMBOLS,
    )
    .option('-r, --rate <n>', 'simulated trades per second', nonNegativeNumber, 200)
    .option('-d, --duration <duration>', 'how long to run before draining and summarising (Ctrl-C ends it early)', parseDuration, 60_000)
    .option('--seed <n>', 'simulator seed: the same seed gives the same trades', positiveInt, 1)
    .option('-w, --windows <sizes>', 'candle window sizes for process', '1s,10s')
    .option('--store <name>', 'where the sink writes and the live view reads: mysql or cassandra (env FINPIPE_STORE)')
    .option('--group-prefix <prefix>', 'consumer groups are <prefix>-process and <prefix>-sink', 'finpipe')
    .option('--no-dashboard', 'do not start `finpipe dashboard` alongside the pipeline')
    .option('--dashboard-port <n>', 'dashboard port (when taken: any free port; the URL printed is the real one)', positiveInt, 8080)
    .option('--log-dir <path>', 'where each stage writes its JSON log (default: a new folder under the system temp dir)')
    .addHelpText(
      'after',
      `
Needs Kafka and MySQL/MariaDB running (from a checkout, \`npm run services:up\` starts both and
\`npm run demo\` does it for you); FINPIPE_KAFKA_BROKERS and FINPIPE_MYSQL_URL say where they are.

Examples:
  $ finpipe demo
  $ finpipe demo --symbols BINANCE:BTCUSDT,AAPL --rate 1000 --duration 2m`,
    )
    .action(
      async (
        opts: {
          symbols: string[];
          rate: number;
          duration: number;
          seed: number;
          windows: string;
          groupPrefix: string;
          store?: string;
          logDir?: string;
          dashboard: boolean;
          dashboardPort: number;
        },
        command: Command,
      ) => {
        const { runDemoCommand } = await import('../actions/demo');
        await runDemoCommand(globalOptions(command), opts);
      },
    );
}
