import chalk from 'chalk';
import cliProgress from 'cli-progress';

/**
 * Human output on a terminal: one live status area (cli-progress) with log lines written
 * above it, so neither corrupts the other. Off a TTY there is no live area and callers log
 * periodic JSON stats instead.
 */
let multibar: cliProgress.MultiBar | null = null;
let liveCount = 0;

/**
 * https://no-color.org: NO_COLOR set to anything but '' turns colour off, everywhere chalk
 * is used (tables, summaries, the pretty log format). chalk 4 does not read it itself.
 * FORCE_COLOR still wins, as it does for Node itself.
 */
export function applyColourPreference(env: NodeJS.ProcessEnv = process.env): void {
  if (env.NO_COLOR && !env.FORCE_COLOR) chalk.level = 0;
}

let pipesGuarded = false;

/**
 * `finpipe topics list | head -1`: once the reader has gone, writes fail with EPIPE. Like
 * kcat and rpk, finpipe then ends quietly instead of crashing with a stack trace: output
 * to a closed pipe is dropped and the command finishes with its own exit code.
 */
export function endQuietlyOnClosedPipes(): void {
  if (pipesGuarded) return;
  pipesGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
  }
}

export function isInteractive(): boolean {
  return Boolean(process.stderr.isTTY) && process.env.CI !== 'true';
}

/** Writes a finished line (ending in \n) to stderr, above any live status line. */
export function writeAbove(line: string): void {
  if (multibar && liveCount > 0) multibar.log(line.endsWith('\n') ? line : `${line}\n`);
  else process.stderr.write(line);
}

export interface StatusLine {
  update(fields: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A live status line, e.g. `produce  12,345 trades/s  msgs 1,024  reconnects 0`.
 * `format` uses cli-progress tokens: `{name}` and any field passed to update().
 * Returns a no-op line when not on a TTY.
 */
export function startStatusLine(format: string, initial: Record<string, string | number>): StatusLine {
  if (!isInteractive()) return { update() {}, stop() {} };
  multibar ??= new cliProgress.MultiBar(
    {
      format,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      fps: 5,
      stream: process.stderr,
      barsize: 0,
      emptyOnZero: true,
      forceRedraw: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = multibar.create(0, 0, initial, { format });
  liveCount++;
  let stopped = false;
  return {
    update(fields) {
      if (!stopped) bar.update(0, fields);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      liveCount--;
      if (liveCount === 0 && multibar) {
        multibar.stop();
        multibar = null;
      }
    },
  };
}
