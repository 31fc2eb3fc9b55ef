import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FINPIPE_BIN, cliEnv, runCli, startCli, type CliResult } from '../helpers/cli';
import { waitFor } from '../helpers/kafka';

/**
 * finpipe as a user runs it from a shell: the executable itself (its shebang, not `node
 * bin/finpipe`), pipes that close early, a terminal, secrets on the command line.
 */

/** Runs bin/finpipe as an executable; `closeStdout` closes the reading end at once, like `| head -1` does once it has its line. */
function runExecutable(args: string[], env: Record<string, string | undefined> = {}, closeStdout = false): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(FINPIPE_BIN, args, { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    if (closeStdout) child.stdout.destroy();
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const ESC = '\u001b[';
const lines = (text: string) => text.trim().split('\n').filter(Boolean);

test('--env-file reaches finpipe (node 20 took it: "node: /nonexistent: not found", exit 9)', async () => {
  const missing = await runExecutable(['--env-file', '/nonexistent', 'status']);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /^finpipe: invalid configuration:\n {2}env file \/nonexistent: cannot read it \(ENOENT\)/);

  const file = path.join(mkdtempSync(path.join(tmpdir(), 'finpipe-cli-')), 'settings.env');
  writeFileSync(file, 'FINPIPE_LOG_LEVEL=loud\n');
  const used = await runExecutable(['--env-file', file, 'status']);
  assert.equal(used.code, 2, used.stderr);
  assert.ok(
    used.stderr.includes(`log.level: "loud" is not one of`) && used.stderr.includes(`(from ${file}:FINPIPE_LOG_LEVEL)`),
    used.stderr,
  );
});

test('arguments a command does not take are a usage error, not silently dropped', async () => {
  const r = await runCli(['simulate', '--symbols', 'A', 'B', 'C']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /too many arguments for 'simulate'\. Expected 0 arguments but got 2\..*--symbols A,B,C/);
  assert.equal(lines(r.stderr).length, 1, r.stderr);
  const describe = await runCli(['topics', 'describe', 'a', 'b']);
  assert.equal(describe.code, 2, describe.stderr);
  assert.match(describe.stderr, /too many arguments for 'describe'/);
});

test("finpipe help <command> <subcommand> shows the subcommand's help", async () => {
  const r = await runCli(['help', 'topics', 'create']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: finpipe topics create \[options\] \[names\.\.\.\]/);
  assert.match(r.stdout, /--replication-factor/);
  const unknown = await runCli(['help', 'topics', 'nope']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'topics nope'/);
});

test('output into a pipe closed early ends quietly (it crashed with an EPIPE stack trace)', async () => {
  for (const args of [['--help'], ['topics', 'list', '--format', 'json']]) {
    const r = await runExecutable(args, {}, true);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, '', args.join(' '));
  }
});

test('an unreachable broker is one line on stderr, at the default level and at --log-level error', async () => {
  for (const extra of [[], ['--log-level', 'error']]) {
    const r = await runCli([...extra, 'topics', 'list'], { FINPIPE_KAFKA_BROKERS: '127.0.0.1:1' });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(
      r.stderr,
      /^finpipe: cannot reach Kafka at 127\.0\.0\.1:1: .*\(hint: start Kafka \(from a checkout: `npm run services:up`\)/,
    );
  }
});

test('status says the credentials were refused, not "start the services", for a wrong MySQL password', async () => {
  const r = await runCli(['status'], { FINPIPE_MYSQL_URL: 'mysql://finpipe_no_such_user:wrong-pass-4411@127.0.0.1:3306/finpipe' });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /MySQL at 127\.0\.0\.1:3306 refused: .*Access denied/);
  assert.match(r.stderr, /hint: check the user, password and privileges/);
  assert.doesNotMatch(r.stderr, /unreachable|services:up/);
  assert.ok(!(r.stdout + r.stderr).includes('wrong-pass-4411'));
});

test('MySQL URL options: ssl-mode reaches the connection, unknown options are refused', async () => {
  const unknown = await runCli(['status'], { FINPIPE_MYSQL_URL: 'mysql://root@127.0.0.1:3306/finpipe?sslmode=require' });
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /mysql\.url: unknown option "sslmode"; the known options are ssl-mode, ssl-ca/);
  const tls = await runCli(['status'], { FINPIPE_MYSQL_URL: 'mysql://root@127.0.0.1:3306/finpipe?ssl-mode=REQUIRED' });
  // The local MariaDB may or may not have TLS; either way the mode was not ignored, and a
  // server without TLS is a setup problem to fix, not a service to start.
  if (tls.code !== 0) {
    assert.match(tls.stderr, /does not support secure connection.*hint: check ssl-mode and ssl-ca/, tls.stderr);
    assert.doesNotMatch(tls.stderr, /unreachable/);
  }
});

test('a password on the command line is warned about, and never shown', async () => {
  const r = await runCli(['sink', 'some-topic', '--mysql-url', 'mysql://finpipe_no_such_user:cmdline-pass-8812@127.0.0.1:3306/finpipe_x']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /finpipe: warning: mysql\.url was given on the command line with a password.*FINPIPE_MYSQL_PASSWORD_FILE/);
  assert.ok(!(r.stdout + r.stderr).includes('cmdline-pass-8812'), r.stderr);
});

test("the simulator's start-up hint does not print its --token", async (t) => {
  const sim = startCli(t, ['simulate', '--port', '0', '--token', 'sim-token-5309', '--rate', '1']);
  await waitFor('the start-up hint', () => sim.output().stdout.includes('finpipe produce'), 30_000);
  assert.match(sim.output().stdout, /FINNHUB_TOKEN=<one of the --token values> FINNHUB_WS_URL=ws:\/\/127\.0\.0\.1:\d+ finpipe produce/);
  const done = await sim.stop();
  assert.ok(!(done.stdout + done.stderr).includes('sim-token-5309'));
});

test('NO_COLOR: no colour on a terminal, in the output or the pretty log format', (t) => {
  if (spawnSync('script', ['--version']).status !== 0) return t.skip('needs script(1) for a terminal');
  const run = (noColor: string | undefined) =>
    spawnSync('script', ['-qec', `${FINPIPE_BIN} status --log-format pretty --log-level debug --brokers 127.0.0.1:1`, '/dev/null'], {
      env: { ...cliEnv({ CI: undefined, TERM: 'xterm', NO_COLOR: noColor, FORCE_COLOR: undefined }) },
      encoding: 'utf8',
      timeout: 60_000,
    }).stdout;
  const coloured = run(undefined);
  assert.ok(coloured.includes(ESC), 'a terminal gets colour without NO_COLOR (the control)');
  const plain = run('1');
  assert.match(plain, /Kafka unreachable/);
  assert.ok(!plain.includes(ESC), plain);
});
