import chalk from 'chalk';
import { createContext, type GlobalOptions } from '../context';
import { dashboardMetrics } from '../../core/metrics';
import { runStage } from '../run-stage';
import { FinpipeError } from '../../core/errors';
import { registerSecret } from '../../core/redact';
import { DASHBOARD_DEFAULTS, DashboardStage, isLoopback, type DashboardStats } from '../../core/dashboard';
import type { StageView } from '../../core/stage';

export interface DashboardFlags {
  port: number;
  host: string;
  authToken?: string;
  mysqlUrl?: string;
  pattern: string;
  statusInterval: number;
}

const STATS_LOG_INTERVAL_MS = 30_000;

export async function runDashboardCommand(global: GlobalOptions, flags: DashboardFlags): Promise<void> {
  const { config, logger } = createContext(global, 'dashboard', { 'mysql.url': flags.mysqlUrl });
  const authToken = flags.authToken ?? process.env.FINPIPE_DASHBOARD_TOKEN ?? undefined;
  registerSecret(authToken);
  if (flags.authToken)
    process.stderr.write(
      chalk.yellow(
        'warning: --auth-token on the command line is visible to every user of this machine (ps); prefer FINPIPE_DASHBOARD_TOKEN\n',
      ),
    );
  if (!isLoopback(flags.host)) {
    process.stderr.write(
      chalk.yellow(
        `warning: the dashboard listens on ${flags.host}, reachable from other machines; every API and websocket request needs the token\n`,
      ),
    );
    if (!authToken)
      throw new FinpipeError('USAGE', `--host ${flags.host} is not loopback: an --auth-token (or FINPIPE_DASHBOARD_TOKEN) is required`, {
        hint: `set FINPIPE_DASHBOARD_TOKEN to a long random value, or listen on ${DASHBOARD_DEFAULTS.host}`,
      });
  }
  const stage = new DashboardStage({
    config,
    logger,
    host: flags.host,
    port: flags.port,
    authToken,
    pattern: flags.pattern,
    statusIntervalMs: flags.statusInterval,
    topicPollMs: DASHBOARD_DEFAULTS.topicPollMs,
    // Never the token itself: this line is printed and logged.
    onListening: (url) => process.stdout.write(`dashboard listening on ${url}${authToken ? '/?token=<your token>' : ''}\n`),
  });
  await runStage(stage, dashboardView, {
    logger,
    logIntervalMs: STATS_LOG_INTERVAL_MS,
    firstLogAfterMs: 1_000,
    metrics: { adapter: dashboardMetrics, config },
  });
}

const dashboardView: StageView<DashboardStats> = {
  lines(now) {
    const text =
      `dashboard ${now.clients} clients | updates sent ${now.updatesSent} | dropped ${now.updatesDropped} | ` +
      `topics ${now.live.topics} | records ${now.live.records}${now.live.error ? ` | ${now.live.error}` : ''}`;
    return [{ key: 'dashboard', text }];
  },
  log(now) {
    return { fields: { stats: now }, message: `${now.clients} clients, ${now.updatesSent} updates sent, ${now.updatesDropped} dropped` };
  },
  summary(final) {
    return {
      fields: { ...final },
      stdout: `${chalk.bold('dashboard stopped')}: ${final.updatesSent} updates sent, ${final.updatesDropped} dropped, ${final.apiRequests} API requests`,
    };
  },
};
