import type { Config } from '../core/config';
import type { Logger } from '../core/log';
import { shutdownSignal } from '../core/lifecycle';
import { startMetricsServer, type StageMetrics } from '../core/metrics';
import type { Stage, StageView } from '../core/stage';
import { isInteractive, startStatusLine, type StatusLine } from '../core/ui/terminal';

export interface RunStageOptions<S = unknown> {
  logger: Logger;
  /** Off a terminal: how often to log a stats line (on a terminal the lines update every second). */
  logIntervalMs: number;
  /** Off a terminal: when to log the first stats line (default: after one interval). */
  firstLogAfterMs?: number;
  /** Where the summary goes (stdout; a test passes its own stream). */
  out?: NodeJS.WritableStream;
  /** The metrics server (/metrics, /healthz, /readyz) when config.metrics.port is set: what the stage reports, and the config. */
  metrics?: { adapter: StageMetrics<S>; config: Pick<Config, 'metrics' | 'kafka'> };
}

/**
 * Runs any stage the same way: the first SIGINT/SIGTERM stops it cleanly (a second one
 * exits at once), its progress is shown live on a terminal or logged as JSON stats off
 * one, and its summary is logged and printed on stdout when it stops.
 */
export async function runStage<S, Final extends S = S>(
  stage: Stage<S, Final>,
  view: StageView<S, Final>,
  { logger, logIntervalMs, firstLogAfterMs, out = process.stdout, metrics }: RunStageOptions<S>,
): Promise<Final> {
  const interactive = isInteractive();
  const { port, host } = metrics?.config.metrics ?? { port: null, host: '' };
  const server =
    metrics && port !== null
      ? await startMetricsServer({
          port,
          host,
          adapter: metrics.adapter,
          snapshot: () => stage.snapshot(),
          kafka: metrics.config.kafka,
          logger,
        })
      : undefined;
  const shutdown = shutdownSignal(logger);
  shutdown.signal.addEventListener('abort', () => server?.setPhase('stopping'), { once: true });
  const timing = interactive ? { everyMs: 1_000 } : { everyMs: logIntervalMs, firstAfterMs: firstLogAfterMs };
  const progress = startProgress(stage, view, logger, interactive, timing);
  let final: Final;
  try {
    const running = stage.run(shutdown.signal);
    server?.setPhase('running');
    final = await running;
  } finally {
    progress.stop();
    shutdown.dispose();
    await server?.close();
  }
  const { fields, stdout } = view.summary(final, interactive);
  logger.info({ summary: fields }, 'summary');
  out.write(stdout.endsWith('\n') ? stdout : `${stdout}\n`);
  return final;
}

/** The one progress renderer: live lines on a terminal, a stats log line every interval otherwise. */
function startProgress<S>(
  stage: Stage<S>,
  view: StageView<S>,
  logger: Logger,
  interactive: boolean,
  timing: { everyMs: number; firstAfterMs?: number },
): { stop(): void } {
  const lines = new Map<string, StatusLine>();
  let previous = stage.snapshot();
  let previousAt = Date.now();
  const tick = (): void => {
    const now = stage.snapshot();
    const at = Date.now();
    const seconds = Math.max(0.001, (at - previousAt) / 1000);
    if (interactive) {
      for (const { key, text } of view.lines(now, previous, seconds)) {
        let line = lines.get(key);
        if (!line) lines.set(key, (line = startStatusLine('{text}', { text: '' })));
        line.update({ text });
      }
    } else {
      const { fields, message } = view.log(now, previous, seconds);
      logger.info(fields, message);
    }
    previous = now;
    previousAt = at;
  };
  let timer = setTimeout(function next() {
    tick();
    timer = setTimeout(next, timing.everyMs).unref();
  }, timing.firstAfterMs ?? timing.everyMs).unref();
  return {
    stop() {
      clearTimeout(timer);
      for (const line of lines.values()) line.stop();
    },
  };
}
