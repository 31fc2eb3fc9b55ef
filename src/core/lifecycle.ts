import type { Logger } from './log';

/**
 * Graceful shutdown for long-running stages. The first SIGINT/SIGTERM aborts the returned
 * signal: the stage stops reading, flushes what it has, commits and returns normally (exit 0).
 * A second signal exits at once with 130, for when a flush hangs.
 */
export function shutdownSignal(logger: Logger): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      logger.warn({ signal: name }, 'second signal: exiting without finishing the flush');
      process.exit(130);
    }
    logger.info({ signal: name }, 'shutting down: finishing in-flight work (press Ctrl-C again to force)');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Resolves when the signal aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}
