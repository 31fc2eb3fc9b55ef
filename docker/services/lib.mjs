// What the native services (services.mjs: Kafka and MySQL; cassandra.mjs; registry.mjs) do
// alike: the per-user cache dir, Maven runs whose result is kept until the pom changes, a
// detached JVM with a pid file, a start lock between concurrent `up`s, and waiting for a
// process to answer or to exit. One copy, so a fix to, say, the pid-reuse guard reaches all.
//
// Plain Node 20 ESM, like services.mjs: it runs before `tsc` in `npm test`.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Jars, builds and service data live outside git, in a per-user cache. */
export const CACHE_DIR =
  process.env.FINPIPE_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'finpipe');

/** An expected failure: services.mjs prints it as one line, exit 1, no stack trace. */
export class ServiceError extends Error {
  expected = true;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const seconds = (ms) => `${(ms / 1000).toFixed(1)}s`;
export const note = (msg) => process.stderr.write(`${msg}\n`); // progress goes to stderr, results to stdout

// ---------------------------------------------------------------- Maven

const fileHash = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Whether `marker` says a Maven run from this very pom completed. */
export function builtFrom(marker, pom) {
  try {
    return fs.readFileSync(marker, 'utf8').trim() === fileHash(pom);
  } catch {
    return false;
  }
}

/** Records that a Maven run from `pom` completed (see builtFrom). */
export function markBuilt(marker, pom) {
  fs.writeFileSync(marker, `${fileHash(pom)}\n`);
}

/** Throws `missing` (the message) unless `mvn` is on the PATH. */
export function requireMaven(missing) {
  if (spawnSync('mvn', ['-v'], { stdio: 'ignore' }).error) throw new ServiceError(missing);
}

/** Runs `mvn -B -q` with `args`; when `succeeded(r)` is false, prints Maven's last lines and throws `failure(r)`. */
export function runMaven(args, { cwd, succeeded, failure }) {
  const r = spawnSync('mvn', ['-B', '-q', '-Dstyle.color=never', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd });
  if (r.status !== 0 || !succeeded(r)) {
    const output = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-15).join('\n');
    if (output) note(output);
    throw new ServiceError(failure(r));
  }
  return r;
}

/**
 * Copies a pom's runtime dependencies into `libDir` unless a previous run from the same pom
 * completed; `needed` jars must be among them. Returns true if it downloaded.
 */
export function copyJars({ label, product, pom, libDir, marker, needed, missing, failure }) {
  if (builtFrom(marker, pom)) return false;
  requireMaven(missing);
  // Start from an empty dir so a changed pom never leaves stale jars on the classpath.
  fs.rmSync(libDir, { recursive: true, force: true });
  fs.mkdirSync(libDir, { recursive: true });
  note(`${label}  fetching ${product} jars from Maven Central into ${libDir} (one time)...`);
  const started = Date.now();
  const jars = () => fs.readdirSync(libDir).filter((f) => f.endsWith('.jar'));
  runMaven(['-f', pom, 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${libDir}`], {
    succeeded: () => needed.every((j) => jars().includes(j)),
    failure,
  });
  markBuilt(marker, pom);
  note(`${label}  fetched ${jars().length} jars in ${seconds(Date.now() - started)}`);
  return true;
}

// ---------------------------------------------------------------- processes

export function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); in containers nobody may reap a detached JVM.
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** The pid in `pidFile` if that process is alive and its command line has `marker` (guards against pid reuse), else null. */
export function pidFromFile(pidFile, marker) {
  let pid;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return null;
  }
  if (!pid || !isAlive(pid)) return null;
  try {
    if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) return null;
  } catch {
    // no /proc (e.g. macOS): trust the live pid
  }
  return pid;
}

/** Only one concurrent `up` may start a JVM (two would fight over ports and the pid file). */
export function takeLock(lockFile) {
  try {
    fs.writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
  }
  const holder = Number(fs.readFileSync(lockFile, 'utf8').trim());
  if (holder && isAlive(holder)) return false;
  fs.rmSync(lockFile, { force: true }); // left behind by an `up` that was killed
  return takeLock(lockFile);
}

export const portIsFree = (host, port) =>
  new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });

/**
 * Starts `command` detached with its own session, output to `logFile` (one start per log file
 * keeps the tail relevant) and its pid in `pidFile`, so it outlives this script. Returns a
 * state whose `exited` is set should it exit while this script still runs.
 */
export function spawnDaemon(command, args, { logFile, pidFile, cwd, env }) {
  const out = fs.openSync(logFile, 'w');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', out, out], cwd, ...(env && { env }) });
  fs.closeSync(out);
  child.unref();
  fs.writeFileSync(pidFile, `${child.pid}\n`);
  const state = { pid: child.pid, exited: null };
  child.on('exit', (code, signal) => (state.exited = signal ?? `code ${code}`));
  return state;
}

/**
 * Probes every 500 ms until `isReady(result)`, the daemon in `state` exits, or `timeoutMs`
 * passes: {ready: true, last} or {ready: false, last} with the last probe result.
 */
export async function pollReady(probe, isReady, state, timeoutMs) {
  const started = Date.now();
  let last;
  while (Date.now() - started < timeoutMs) {
    last = await probe();
    if (isReady(last)) return { ready: true, last };
    if (state?.exited) break; // the process died: no point waiting out the deadline
    await sleep(500);
  }
  return { ready: false, last };
}

/** SIGTERM, then SIGKILL after `timeoutMs`; removes the pid file. Returns whether it had to kill. */
export async function stopPid(pid, pidFile, timeoutMs) {
  const started = Date.now();
  process.kill(pid, 'SIGTERM');
  while (isAlive(pid) && Date.now() - started < timeoutMs) await sleep(200);
  const killed = isAlive(pid);
  if (killed) process.kill(pid, 'SIGKILL');
  fs.rmSync(pidFile, { force: true });
  return killed;
}

export function logTail(logFile, lines = 30) {
  try {
    return fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log file)';
  }
}
