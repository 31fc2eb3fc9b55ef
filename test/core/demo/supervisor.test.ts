import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Supervisor } from '../../../src/core/demo/supervisor';
import { freePort } from '../../../src/core/net';

/**
 * The supervisor always runs the real `finpipe` executable (bin/finpipe, built into dist), so
 * these tests use subcommands that need no services: `simulate --port 0` runs until signalled
 * and logs a stats line after a second; `simulate --port not-a-port` fails at once (exit 2);
 * `produce` against a closed broker port logs kafkajs connection errors.
 */

interface LogRecord {
  level: string;
  msg: string;
  at: number;
  [k: string]: unknown;
}

function captureLogger() {
  const records: LogRecord[] = [];
  const logger = pino(
    { level: 'debug', base: undefined, formatters: { level: (label) => ({ level: label }) } },
    { write: (l: string) => records.push({ ...(JSON.parse(l) as LogRecord), at: Date.now() }) },
  );
  return { logger, records };
}

/** Stage environment: no .env from the repo, info-level logs (the stats lines). */
const baseEnv: NodeJS.ProcessEnv = { ...process.env, FINPIPE_ENV_FILE: '/dev/null', FINPIPE_LOG_LEVEL: 'info', CI: 'true' };

function setup(t: TestContext) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'finpipe-supervisor-'));
  const { logger, records } = captureLogger();
  const supervisor = new Supervisor(logger, baseEnv);
  const pids = new Set<number>();
  t.after(async () => {
    // Whatever happened in the test: no child outlives it.
    for (const s of supervisor.states()) if (s.pid) pids.add(s.pid);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const track = () => supervisor.states().forEach((s) => s.pid && pids.add(s.pid));
  return { supervisor, records, logFile: (name: string) => path.join(dir, `${name}.log`), track };
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const readLog = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};
const count = (text: string, re: RegExp) => text.match(new RegExp(re.source, 'g'))?.length ?? 0;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const restartWarnings = (records: LogRecord[], stage: string) =>
  records.filter((r) => r.level === 'warn' && r.stage === stage && /exited unexpectedly/.test(r.msg));

describe('Supervisor', { concurrency: true }, () => {
  test('runs a stage, keeps its latest stats line, logs its output to its file, restarts it when killed, stops it gracefully', async (t) => {
    const { supervisor, records, logFile, track } = setup(t);
    const file = logFile('simulate');
    supervisor.start({ name: 'simulate', args: ['simulate', '--port', '0', '--symbols', 'AAPL'], logFile: file });
    const [first] = supervisor.states();
    assert.equal(first.name, 'simulate');
    assert.equal(first.running, true);
    assert.equal(first.restarts, 0);
    assert.ok(first.pid && first.pid > 0);
    track();

    // The simulator logs `{"stats":{...},"msg":"0 connections, 0 trades/s"}` after a second.
    const stats = await waitFor('a stats line', () => supervisor.states()[0].lastStats);
    assert.match(stats, /^0 connections, 0 trades\/s$/);
    assert.equal(records.length, 0, "info lines are not echoed through the supervisor's logger");
    assert.equal(supervisor.states()[0].lastError, undefined);
    supervisor.states()[0].running = false; // a copy: the view cannot change the supervisor
    assert.equal(supervisor.states()[0].running, true);
    const log = await waitFor('the log file', () => {
      const text = readLog(file);
      return /Finnhub simulator listening/.test(text) && /"msg":"0 connections, 0 trades\/s"/.test(text) && text;
    });
    assert.ok(
      log.split('\n').some((l) => l.startsWith('{') && (JSON.parse(l) as { component?: string }).component === 'simulate'),
      'JSON log lines (FINPIPE_LOG_FORMAT=json)',
    );

    // Killed from outside: restarted after a backoff, as a new process.
    process.kill(first.pid, 'SIGKILL');
    const second = await waitFor('the restart', () => {
      const s = supervisor.states()[0];
      return s.running && s.pid !== first.pid && s;
    });
    track();
    assert.equal(second.restarts, 1);
    const [warning] = restartWarnings(records, 'simulate');
    assert.equal(warning.signal, 'SIGKILL');
    assert.equal(warning.code, null);
    assert.equal(warning.log, file);
    assert.match(warning.msg, /^simulate exited unexpectedly \(SIGKILL\); restarting$/);
    assert.ok(
      (warning.restartInMs as number) >= 350 && (warning.restartInMs as number) <= 650,
      `first restart after 500 ms ± 30%: ${String(warning.restartInMs)}`,
    );

    // Let the new simulator get to where it handles SIGTERM (it says so on stdout), then stop it.
    await waitFor('the second simulator', () => count(readLog(file), /Finnhub simulator listening/) === 2);
    await supervisor.stop('simulate');
    const stopped = supervisor.states()[0];
    assert.equal(stopped.running, false);
    assert.equal(stopped.restarts, 1, 'a stop is not a crash: no restart');
    assert.equal(restartWarnings(records, 'simulate').length, 1);
    assert.equal(alive(second.pid!), false);
    // The graceful summary (printed after SIGTERM) is in the file: stop() ends the log after the exit.
    assert.equal(count(readLog(file), /simulator stopped/), 1, 'only the SIGTERMed run, not the SIGKILLed one, printed its summary');
    await supervisor.stop('simulate'); // runDemo stops every stage again in its finally: harmless
    await supervisor.stop('no-such-stage');
  });

  test('a stage that keeps failing is restarted with growing backoff until it is stopped', async (t) => {
    const { supervisor, records, logFile } = setup(t);
    const file = logFile('broken');
    supervisor.start({ name: 'broken', args: ['simulate', '--port', 'not-a-port'], logFile: file });
    await waitFor('two restarts', () => supervisor.states()[0].restarts >= 2);
    const warnings = restartWarnings(records, 'broken');
    assert.equal(warnings.length, 2);
    for (const w of warnings) {
      assert.equal(w.code, 2, 'a usage error');
      assert.equal(w.signal, null);
      assert.match(w.msg, /^broken exited unexpectedly \(code 2\); restarting$/);
    }
    const [d0, d1] = warnings.map((w) => w.restartInMs as number);
    assert.ok(d0 >= 350 && d0 <= 650, `500 ms ± 30%: ${d0}`);
    assert.ok(d1 >= 700 && d1 <= 1300, `then 1000 ms ± 30%: ${d1}`);
    assert.ok(
      warnings[1].at - warnings[0].at >= d0 - 5,
      `the next run starts only after the delay (${warnings[1].at - warnings[0].at} ms >= ${d0} ms)`,
    );

    // Stopped while waiting to restart: resolves without a child, and the pending restart is dropped.
    const stoppedAt = Date.now();
    await supervisor.stop('broken');
    const { pid } = supervisor.states()[0];
    const waitPast = d1 - (Date.now() - warnings[1].at) + 200;
    await new Promise((r) => setTimeout(r, Math.max(0, waitPast))); // past the moment it would have restarted
    const after = supervisor.states()[0];
    assert.equal(after.running, false);
    assert.equal(after.restarts, 2);
    assert.equal(after.pid, pid, 'no new process after stop');
    assert.ok(Date.now() - stoppedAt < d1 + 1_000);
    // Every run's output was appended to the one log file.
    assert.equal(count(readLog(file), /"not-a-port" is not a port/), 2, 'the first run and its restart');
  });

  test("warnings and errors of a stage are echoed with the stage's name; lastError keeps the latest", async (t) => {
    const { supervisor, records, logFile } = setup(t);
    const port = await freePort(); // nothing listens there
    // A stage's JSON warnings pass through with their fields: the sink waits for MySQL.
    supervisor.start({
      name: 'sink',
      args: ['sink', 'some-topic', '--brokers', `127.0.0.1:${port}`, '--mysql-url', `mysql://root@127.0.0.1:${port}/x`],
      logFile: logFile('sink'),
    });
    const warned = await waitFor('an echoed warning', () => records.find((r) => r.stage === 'sink' && r.level === 'warn'));
    assert.match(warned.msg, /waiting for MySQL/);
    assert.equal(warned.source, 'sink', "the child's component");
    assert.equal(typeof warned.attempt, 'number', 'other fields pass through');
    assert.equal('component' in warned, false);
    // A stage's one-line error (`finpipe: ...`, plain text) is echoed as an error: why it stopped.
    supervisor.start({
      name: 'produce',
      args: ['produce', 'AAPL', '--brokers', `127.0.0.1:${port}`, '--url', 'ws://127.0.0.1:1'],
      logFile: logFile('produce'),
    });
    const echoed = await waitFor('an echoed error', () => records.find((r) => r.stage === 'produce' && r.level === 'error'));
    assert.match(echoed.msg, /^cannot reach Kafka at .*ECONNREFUSED/);
    const lastError = supervisor.states()[1].lastError;
    assert.ok(lastError && /ECONNREFUSED/.test(lastError), String(lastError));
    await supervisor.stopAll(['sink', 'produce', 'no-such-stage']);
    assert.equal(supervisor.states()[0].running, false);
    const fromChild = records.filter(
      (r) => r.stage === 'sink' && (r.level === 'warn' || r.level === 'error') && !/exited unexpectedly/.test(r.msg),
    );
    assert.equal(supervisor.states()[0].lastError, fromChild[fromChild.length - 1].msg, 'the latest warning or error');
  });

  test("global arguments (the demo's -X settings) go before every stage's subcommand and are parsed by it", async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'finpipe-supervisor-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const { logger } = captureLogger();
    const supervisor = new Supervisor(logger, baseEnv, ['-X', 'no.such.setting=1']);
    t.after(() => supervisor.stop('simulate'));
    const file = path.join(dir, 'simulate.log');
    supervisor.start({ name: 'simulate', args: ['simulate', '--port', '0', '--symbols', 'AAPL'], logFile: file });
    // The child refuses the unknown -X key (a usage error), so it reached the child's command line.
    await waitFor('the refusal in the log', () => /-X no\.such\.setting: not a supported setting/.test(readLog(file)));
  });

  test('a stage that ignores SIGTERM is killed after the stop timeout', async (t) => {
    const { supervisor, records, logFile, track } = setup(t);
    const file = logFile('frozen');
    supervisor.start({ name: 'frozen', args: ['simulate', '--port', '0', '--symbols', 'AAPL'], logFile: file });
    track();
    const { pid } = supervisor.states()[0];
    // Once it handles SIGTERM (it says so on stdout; before that SIGTERM would simply kill it),
    // freeze it: a stopped process cannot act on SIGTERM, while SIGKILL still works.
    await waitFor('the simulator', () => /Finnhub simulator listening/.test(readLog(file)));
    process.kill(pid!, 'SIGSTOP');
    const begun = Date.now();
    await supervisor.stop('frozen', 300);
    assert.ok(Date.now() - begun >= 290, 'waited for the timeout first');
    assert.equal(supervisor.states()[0].running, false);
    assert.equal(alive(pid!), false);
    const killed = records.filter((r) => r.stage === 'frozen' && r.level === 'warn');
    assert.deepEqual(
      killed.map((r) => r.msg),
      ['frozen did not stop within 0.3 s; killing it'],
      'and no restart',
    );
  });
});
