import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FINPIPE_BIN } from '../helpers/cli';

export { freePort } from '../../src/core/net';

/**
 * Shared pieces of the benchmark scripts. A benchmark prints human-readable figures and,
 * as its last line, `BENCH_RESULT <json>` so `npm run bench` can collect every stage's
 * figures into one file.
 */
export const RESULT_PREFIX = 'BENCH_RESULT ';
export const RESULTS_DIR = path.resolve(__dirname, '../../../.bench');

export function emitResult(name: string, result: Record<string, unknown>): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(path.join(RESULTS_DIR, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify({ name, ...result })}\n`);
}

export function percentile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** The largest value (Math.max(...values) overflows the stack with a few hundred thousand). */
export function maximum(values: number[]): number {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  return values.length === 0 ? NaN : max;
}

/** The middle value; with an even count, the mean of the two middle ones (not the upper one,
 * which would favour whichever side of a comparison has more high values). */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface Child {
  proc: ChildProcess;
  output(): string;
  /** Resolves with the exit code when the process ends by itself. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Node options for every finpipe command a benchmark starts, e.g.
 * BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (node refuses --cpu-prof in NODE_OPTIONS).
 */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);

/**
 * Starts `finpipe ...args` with JSON logs; its output is kept for error reports. `cpus`
 * ("0", "0,1"; BENCH_CPUS overrides it): the command runs on those CPUs only (taskset -c,
 * which executes node under the same pid).
 */
export function startFinpipe(args: string[], env: Record<string, string>, cpus?: string): Child {
  const command = [process.execPath, ...NODE_ARGS, FINPIPE_BIN, ...args];
  const pinned = process.env.BENCH_CPUS ?? cpus;
  if (pinned) command.unshift('taskset', '-c', pinned);
  const proc = spawn(command[0], command.slice(1), {
    env: { ...process.env, FINPIPE_LOG_FORMAT: 'json', FINPIPE_ENV_FILE: '/dev/null', CI: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  // BENCH_CHILD_LOG=FILE keeps the commands' logs (the in-memory copy is cut at 200 kB).
  const log = process.env.BENCH_CHILD_LOG;
  if (log) {
    // The spawn time first, so the log shows how long the command took to get going.
    appendFileSync(log, JSON.stringify({ time: new Date().toISOString(), msg: `bench: started finpipe ${args.join(' ')}` }) + '\n');
    proc.stderr.on('data', (d: Buffer) => appendFileSync(log, d));
    proc.stdout.on('data', (d: Buffer) => appendFileSync(log, d)); // node's own traces (--trace-gc) go there
  }
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  return {
    proc,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
