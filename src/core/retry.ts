import { isRetriable, describeError } from './errors';

/**
 * The one retry loop of finpipe. Every "try again with backoff" in the code base goes
 * through `retry()`; what differs between callers is passed in as hooks:
 *
 *   retriable       which errors are worth another attempt (default: isRetriable(), which
 *                   reads the FinpipeError's flag; programming errors never are).
 *   giveUp          a condition outside the error that ends the retries (the stage is
 *                   stopping and its grace period is over, the caller has enough attempts).
 *   onFirstFailure  called once per outage, before the first retry (pause consumption, log a
 *                   warning); `onRecovered` is its counterpart after a success that followed
 *                   failures (resume, log how long it was down).
 *   onRetry         called before every retry's sleep (log the attempt and the delay).
 *   delayMs         how long to sleep when the failure itself says (a rate limit's reset
 *                   time); the exponential backoff otherwise.
 *
 * When retrying ends, the last error is thrown with every attempt's message attached as
 * `attempts` (what `giveUp` returns, if an error, is thrown instead, with the same list).
 */

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** 0..1: how much of each delay is randomised, so many clients do not retry in lockstep. */
  jitter?: number;
}

/** Exponential backoff with jitter: the delay before attempt `attempt` (0-based). */
export function backoffDelay(
  attempt: number,
  { initialMs = 250, maxMs = 30_000, jitter = 0.3 }: BackoffOptions = {},
  random = Math.random,
): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (1 - jitter + jitter * 2 * random()));
}

/** Resolves after `ms`, or at once when `signal` aborts. */
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
  /** Give up after this many attempts (default: never, until aborted or `giveUp`). */
  attempts?: number;
  /** Aborting ends the current sleep and the retries: the last error is thrown. */
  signal?: AbortSignal;
  /** Whether an error is worth another attempt (default: isRetriable). */
  retriable?: (error: unknown) => boolean;
  /**
   * Asked after each retriable failure: return true to stop and throw the error, or an
   * error to throw instead of it (for example one that says the stage stopped mid-outage).
   */
  giveUp?: (error: unknown, attempt: number) => boolean | Error;
  /** Once, after the first failure that will be retried. */
  onFirstFailure?: (error: unknown) => void;
  /** Before each retry's sleep; `attempt` is the 0-based attempt that failed. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** The sleep before the retry after this failure; undefined: the backoff's delay. */
  delayMs?: (error: unknown, attempt: number) => number | undefined;
  /** After a success that followed at least one failure. */
  onRecovered?: (info: { attempts: number; downForMs: number }) => void;
}

/** Runs `fn` until it succeeds or the options say to stop (see the module comment). */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const failures: string[] = [];
  const retriable = options.retriable ?? isRetriable;
  let firstFailureAt = 0;
  for (let attempt = 0; ; attempt++) {
    let result: T;
    try {
      result = await fn(attempt);
    } catch (error) {
      failures.push(describeError(error));
      const stop = stopReason(error, attempt, options, retriable);
      if (stop !== false) throw withAttempts(stop === true ? error : stop, failures);
      if (!firstFailureAt) {
        firstFailureAt = Date.now();
        options.onFirstFailure?.(error);
      }
      const delay = options.delayMs?.(error, attempt) ?? backoffDelay(attempt, options);
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, options.signal);
      continue;
    }
    if (firstFailureAt) options.onRecovered?.({ attempts: attempt + 1, downForMs: Date.now() - firstFailureAt });
    return result;
  }
}

/** false: retry; true: throw the error; an Error: throw that instead. */
function stopReason(error: unknown, attempt: number, options: RetryOptions, retriable: (error: unknown) => boolean): boolean | Error {
  if (!retriable(error)) return true;
  if (options.attempts !== undefined && attempt + 1 >= options.attempts) return true;
  if (options.signal?.aborted) return true;
  return options.giveUp?.(error, attempt) ?? false;
}

function withAttempts(error: unknown, failures: string[]): unknown {
  if (failures.length > 1 && error && typeof error === 'object' && !Object.prototype.hasOwnProperty.call(error, 'attempts')) {
    Object.defineProperty(error, 'attempts', { value: [...failures], enumerable: true });
  }
  return error;
}

/**
 * `giveUp` for a stage that keeps retrying while it runs, but once it is stopping gives the
 * outage `graceMs` more before it ends with `stoppedError` (built from the last error).
 */
export function giveUpAfterStop(stopping: () => boolean, graceMs: number, stoppedError: (last: unknown) => Error): RetryOptions['giveUp'] {
  let deadline = 0;
  return (error) => {
    if (!stopping()) return false;
    deadline ||= Date.now() + graceMs;
    return Date.now() > deadline ? stoppedError(error) : false;
  };
}
