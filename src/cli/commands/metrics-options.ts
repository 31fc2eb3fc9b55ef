import type { Command } from 'commander';

/** `--metrics-port` / `--metrics-host`, the same on every long-running stage (read by createContext as settings). */
export function withMetricsOptions(command: Command): Command {
  return command
    .option(
      '--metrics-port <port>',
      'serve Prometheus /metrics, /healthz and /readyz on this port (env FINPIPE_METRICS_PORT; 0 = any free port; default: off)',
    )
    .option(
      '--metrics-host <host>',
      'interface of the metrics server (env FINPIPE_METRICS_HOST; default 127.0.0.1; 0.0.0.0 in a container)',
    );
}
