import { Command, InvalidArgumentError } from 'commander';
import { withMetricsOptions } from './metrics-options';
import { globalOptions, parseDuration } from './options';
import type { DashboardFlags } from '../actions/dashboard';
import { DASHBOARD_DEFAULTS } from '../../core/dashboard/options';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${value}" is not a port (0-65535; 0 = any free port).`);
  return n;
}

/** `finpipe dashboard`: live candlestick charts in the browser. */
export function dashboardCommand(): Command {
  return withMetricsOptions(new Command('dashboard'))
    .description('serve a web page with live candlestick charts, the trade tape and pipeline health (history from MySQL, live from Kafka)')
    .option('-p, --port <n>', 'port (0 = any free port)', port, DASHBOARD_DEFAULTS.port)
    .option('--host <host>', 'address to listen on; anything but loopback requires --auth-token', DASHBOARD_DEFAULTS.host)
    .option('--auth-token <token>', 'token the API and websocket require (env FINPIPE_DASHBOARD_TOKEN); open the page with ?token=')
    .option('--mysql-url <url>', 'MySQL/MariaDB to read history from (env FINPIPE_MYSQL_URL)')
    .option('--pattern <regex>', 'per-symbol topics to read live (whole-name regex)', DASHBOARD_DEFAULTS.pattern)
    .option('--status-interval <duration>', 'how often pipeline health is collected', parseDuration, DASHBOARD_DEFAULTS.statusIntervalMs)
    .addHelpText(
      'after',
      `
Examples:
  $ finpipe dashboard                                   # then open http://127.0.0.1:8080
  $ finpipe dashboard --port 9000 --mysql-url mysql://finpipe:secret@db:3306/finpipe
  $ FINPIPE_DASHBOARD_TOKEN=... finpipe dashboard --host 0.0.0.0   # open http://<host>:8080/?token=...`,
    )
    .action(async (flags: DashboardFlags, command: Command) => {
      const { runDashboardCommand } = await import('../actions/dashboard');
      await runDashboardCommand(globalOptions(command), flags);
    });
}
