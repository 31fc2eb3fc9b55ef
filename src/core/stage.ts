/**
 * The contract every long-running stage implements: `produce`, `process`, `sink` (and the
 * simulator behind `simulate`). The CLI runs any stage the same way (src/cli/run-stage.ts):
 * one shutdown signal, one live progress renderer, one stats logger, one summary.
 *
 *   run(signal)  Called once. Connects (waiting out an unreachable broker or store with
 *                backoff where the stage can), then works until `signal` aborts or its input
 *                ends. On abort it stops taking input, finishes and commits what it already
 *                took, disconnects, and resolves with the final stats: a clean stop. It
 *                rejects only when it cannot go on: a FinpipeError whose message says what
 *                was wrong and whose hint says what to do (a non-retriable error, or
 *                retries given up while stopping). Whatever it took but did not commit is
 *                read again by the next run; a stage never loses input by failing.
 *   snapshot()   A copy of the counters now. Cheap (progress views call it every second)
 *                and valid before, during and after run(); never throws.
 *
 * A new stage is a folder under src/core with a class implementing Stage, plus a command
 * file and an action file in src/cli that register it (see the README).
 */
export interface Stage<S, Final extends S = S> {
  /** The stage's name: the log component and the label of its progress line. */
  readonly name: string;
  /** `Final`: the stats plus what is only known once it stopped (why it stopped, say). */
  run(signal: AbortSignal): Promise<Final>;
  snapshot(): S;
}

/**
 * How a stage's stats are shown to a person (live lines on a terminal) and to a log shipper
 * (a periodic JSON stats line, then a summary). Rates are computed from two snapshots.
 */
export interface StageView<S, Final extends S = S> {
  /** Live terminal lines, each with a stable key (the sink shows one line per topic). */
  lines(now: S, previous: S, seconds: number): { key: string; text: string }[];
  /** The periodic stats log line off a terminal. */
  log(now: S, previous: S, seconds: number): { fields: Record<string, unknown>; message: string };
  /** When the stage has stopped: fields for the summary log line and the text for stdout. */
  summary(final: Final, interactive: boolean): { fields: Record<string, unknown>; stdout: string };
}
