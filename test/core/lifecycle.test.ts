import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import { aborted, shutdownSignal } from '../../src/core/lifecycle';

function captureLogger() {
  const lines: { level: string; msg: string; signal?: string }[] = [];
  const logger = pino(
    { level: 'debug', base: undefined, formatters: { level: (label) => ({ level: label }) } },
    { write: (l: string) => lines.push(JSON.parse(l) as (typeof lines)[number]) },
  );
  return { logger, lines };
}

const listeners = () => ({ SIGINT: process.listenerCount('SIGINT'), SIGTERM: process.listenerCount('SIGTERM') });

/** Whether `p` settles by the next turn of the event loop. */
async function settledNow(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  return settled;
}

describe('shutdownSignal', () => {
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    test(`the first ${name} aborts the signal (graceful: the process keeps running) and is logged`, (t) => {
      const { logger, lines } = captureLogger();
      const shutdown = shutdownSignal(logger);
      t.after(() => shutdown.dispose());
      assert.equal(shutdown.signal.aborted, false);
      process.emit(name, name);
      assert.equal(shutdown.signal.aborted, true);
      assert.deepEqual(
        lines.map((l) => [l.level, l.signal]),
        [['info', name]],
      );
      assert.match(lines[0].msg, /shutting down/);
    });
  }

  test('listens while in use; dispose removes its listeners so a later signal no longer reaches it', () => {
    const before = listeners();
    const first = shutdownSignal(pino({ level: 'silent' }));
    assert.deepEqual(listeners(), { SIGINT: before.SIGINT + 1, SIGTERM: before.SIGTERM + 1 });
    first.dispose();
    assert.deepEqual(listeners(), before);
    const second = shutdownSignal(pino({ level: 'silent' }));
    try {
      process.emit('SIGINT', 'SIGINT');
      assert.equal(second.signal.aborted, true);
      assert.equal(first.signal.aborted, false, 'a disposed shutdownSignal ignores signals');
    } finally {
      second.dispose();
    }
    assert.deepEqual(listeners(), before);
  });

  test('a second signal exits at once with code 130 (in a child process)', async () => {
    const lifecycle = path.resolve(__dirname, '../../src/core/lifecycle.js');
    // The child reports on stdout: ready, then aborted on the first signal, and the warning of
    // the second; it would otherwise run forever (the interval keeps it alive).
    const script = `
      const { shutdownSignal } = require(${JSON.stringify(lifecycle)});
      const say = (level) => (fields, msg) => console.log(JSON.stringify({ level, ...fields, msg }));
      const s = shutdownSignal({ info: say('info'), warn: say('warn') });
      s.signal.addEventListener('abort', () => console.log('aborted'));
      setInterval(() => {}, 1000);
      console.log('ready');
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    const waiters: { re: RegExp; resolve(): void }[] = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      for (const w of [...waiters]) if (w.re.test(stdout)) w.resolve();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal })),
    );
    const output = (re: RegExp) => new Promise<void>((resolve) => (re.test(stdout) ? resolve() : waiters.push({ re, resolve })));
    const timeout = setTimeout(() => child.kill('SIGKILL'), 10_000);
    try {
      await Promise.race([output(/^ready$/m), exited]);
      child.kill('SIGTERM');
      await Promise.race([output(/^aborted$/m), exited]);
      assert.equal(child.exitCode, null, 'the first signal does not exit');
      assert.equal(await settledNow(exited), false);
      child.kill('SIGINT');
      const { code, signal } = await exited;
      assert.deepEqual({ code, signal }, { code: 130, signal: null }, stdout);
      const records = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: string; msg: string; signal?: string });
      assert.deepEqual(
        records.map((r) => [r.level, r.signal]),
        [
          ['info', 'SIGTERM'],
          ['warn', 'SIGINT'],
        ],
      );
      assert.match(records[1].msg, /second signal/);
    } finally {
      clearTimeout(timeout);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

describe('aborted', () => {
  test('resolves when the signal aborts, not before', async () => {
    const controller = new AbortController();
    const p = aborted(controller.signal);
    assert.equal(await settledNow(p), false);
    controller.abort();
    await p;
  });

  test('resolves at once for a signal that has already aborted', async () => {
    assert.equal(await settledNow(aborted(AbortSignal.abort())), true);
  });
});
