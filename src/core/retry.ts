import { isRetriable, describeError } from './errors';

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** 0..1: how much of each delay is randomised, so many clients do not retry in lockstep. */
  jitter?: number;
}

/** Exponential backoff with jitter: the delay before attempt `attempt` (0-based). */
export function backoffDelay(attempt: number, { initialMs = 250, maxMs = 30_000, jitter = 0.3 }: BackoffOptions = {}, random = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (1 - jitter + jitter * 2 * random()));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface RetryOptions extends BackoffOptions {
  /** Give up after this many attempts (default: never, until aborted). */
  attempts?: number;
  signal?: AbortSignal;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Runs `fn` until it succeeds. Only retriable errors are retried (see isRetriable); when the
 * attempts run out the last error is thrown with every attempt's message attached.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const failures: string[] = [];
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      failures.push(describeError(error));
      const exhausted = options.attempts !== undefined && attempt + 1 >= options.attempts;
      if (!isRetriable(error) || exhausted || options.signal?.aborted) {
        if (failures.length > 1 && error && typeof error === 'object') {
          Object.defineProperty(error, 'attempts', { value: failures, enumerable: true });
        }
        throw error;
      }
      const delay = backoffDelay(attempt, options);
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
