import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger } from '../log';
import { backoffDelay } from '../retry';
import { finpipeBin } from '../paths';

/**
 * Runs pipeline stages as supervised child processes (`finpipe produce`, `process`, ...),
 * like a tiny process manager: each child gets JSON logs written to its own file, its
 * warnings and errors are echoed through the demo's logger, its latest stats line is kept
 * for the live view, and a child that dies unexpectedly is restarted with backoff (a stage
 * is built to resume where it left off: Kafka offsets and transactions make that safe).
 *
 * Separate processes on purpose: each stage gets its own event loop (and core), and a crash
 * in one cannot take the others down.
 */
export interface StageSpec {
  name: string;
  args: string[];
  env?: Record<string, string>;
  logFile: string;
}

export interface StageState {
  name: string;
  pid?: number;
  running: boolean;
  restarts: number;
  /** The `msg` of the stage's most recent stats log line. */
  lastStats?: string;
  lastError?: string;
}

export class Supervisor {
  private readonly stages = new Map<
    string,
    { spec: StageSpec; child?: ChildProcess; state: StageState; stopping: boolean; log: WriteStream; exited?: Promise<void> }
  >();

  constructor(
    private readonly logger: Logger,
    private readonly baseEnv: NodeJS.ProcessEnv,
    /** Global options put before every child's subcommand (the demo's -X settings). */
    private readonly globalArgs: string[] = [],
  ) {}

  start(spec: StageSpec): void {
    const entry = {
      spec,
      state: { name: spec.name, running: false, restarts: 0 },
      stopping: false,
      log: createWriteStream(spec.logFile, { flags: 'a' }),
    };
    this.stages.set(spec.name, entry);
    this.spawn(spec.name);
  }

  states(): StageState[] {
    return [...this.stages.values()].map((s) => ({ ...s.state }));
  }

  private spawn(name: string): void {
    const entry = this.stages.get(name)!;
    const child = spawn(process.execPath, [finpipeBin(), ...this.globalArgs, ...entry.spec.args], {
      env: { ...this.baseEnv, ...entry.spec.env, FINPIPE_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    entry.child = child;
    entry.state.pid = child.pid;
    entry.state.running = true;
    const onLine = (line: string) => this.onLine(name, line);
    lines(child.stdout, (l) => {
      entry.log.write(`${l}\n`);
      onLine(l);
    });
    lines(child.stderr, (l) => {
      entry.log.write(`${l}\n`);
      onLine(l);
    });
    entry.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        entry.state.running = false;
        resolve();
        if (entry.stopping) return;
        const delay = backoffDelay(Math.min(entry.state.restarts, 5), { initialMs: 500, maxMs: 10_000 });
        entry.state.restarts++;
        this.logger.warn(
          { stage: name, code, signal, restartInMs: delay, log: entry.spec.logFile },
          `${name} exited unexpectedly (${signal ?? `code ${code}`}); restarting`,
        );
        setTimeout(() => {
          if (!entry.stopping) this.spawn(name);
        }, delay).unref();
      });
    });
  }

  private onLine(name: string, line: string): void {
    const entry = this.stages.get(name)!;
    if (!line.startsWith('{')) {
      // Plain output (a stage's final summary on stdout) goes to the log file only, except
      // the child's one-line error or warning (`finpipe: ...`): why it stopped. kafkajs' own
      // connection errors are no longer logged, so nothing else says it.
      const final = /^finpipe: (warning: )?(.+)$/.exec(line);
      if (final) this.echo(name, { level: final[1] ? 'warn' : 'error', msg: final[2] });
      return;
    }
    let record: { level?: string; msg?: string; stats?: unknown };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      return;
    }
    if (record.stats !== undefined && record.msg) entry.state.lastStats = record.msg;
    this.echo(name, record);
  }

  /** A child's warnings and errors: echoed with the stage's name, the latest kept as lastError. */
  private echo(name: string, record: { level?: string; msg?: string }): void {
    if (record.level !== 'warn' && record.level !== 'error' && record.level !== 'fatal') return;
    this.stages.get(name)!.state.lastError = record.msg;
    // The child's own component (e.g. sink) stays visible as `source`.
    const { level, msg, time: _time, component, ...rest } = record as Record<string, unknown>;
    const log = level === 'warn' ? this.logger.warn.bind(this.logger) : this.logger.error.bind(this.logger);
    log({ stage: name, source: component, ...rest }, String(msg));
  }

  /** Stops a stage gracefully (SIGTERM: it flushes and commits), SIGKILL after `timeoutMs`. */
  async stop(name: string, timeoutMs = 30_000): Promise<void> {
    const entry = this.stages.get(name);
    if (!entry) return;
    entry.stopping = true;
    const child = entry.child;
    if (child && entry.state.running) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => {
        this.logger.warn({ stage: name }, `${name} did not stop within ${timeoutMs / 1000} s; killing it`);
        child.kill('SIGKILL');
      }, timeoutMs);
      await entry.exited;
      clearTimeout(killer);
    }
    await new Promise<void>((resolve) => entry.log.end(resolve));
  }

  async stopAll(order: string[]): Promise<void> {
    for (const name of order) await this.stop(name);
  }
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  });
  stream.on('end', () => {
    if (buffer) onLine(buffer);
  });
}
