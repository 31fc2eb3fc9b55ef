// Apicurio Registry (Confluent-compatible API at /apis/ccompat/v7, in-memory storage) for
// machines without Docker, used by docker/services.mjs (`up registry`, `down`, `status`).
// Built once with `mvn package` from docker/registry-native/pom.xml into the per-user cache,
// then run with `java`, detached, with a pid file. In-memory: a restart forgets every
// schema and ids start again at 1 (tests use unique topic names for that reason).
//
// Plain Node 20 ESM on purpose, like services.mjs: it runs before `tsc` in `npm test`.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const POM = path.join(HERE, '..', 'registry-native', 'pom.xml');
const VERSION = /<apicurio\.version>([^<]+)<\/apicurio\.version>/.exec(fs.readFileSync(POM, 'utf8'))[1];

export const REGISTRY_HOST = '127.0.0.1';
export const REGISTRY_PORT = 8081; // Confluent Schema Registry's usual port (Apicurio's own default, 8080, is often taken)
export const REGISTRY_URL = `http://${REGISTRY_HOST}:${REGISTRY_PORT}/apis/ccompat/v7`;
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms) => `${(ms / 1000).toFixed(1)}s`;
const note = (msg) => process.stderr.write(`${msg}\n`);

/** Paths under the per-user cache dir (`cacheDir` from services.mjs). */
function paths(cacheDir) {
  const home = path.join(cacheDir, `apicurio-registry-${VERSION}`);
  return {
    home,
    pom: path.join(home, 'pom.xml'),
    jar: path.join(home, 'target', 'registry-1-runner.jar'),
    marker: path.join(home, 'build.complete'), // holds the hash of the pom it was built from
    log: path.join(home, 'registry.log'),
    pidFile: path.join(home, 'registry.pid'),
    lock: path.join(home, 'start.lock'),
  };
}

const pomHash = () => crypto.createHash('sha256').update(fs.readFileSync(POM)).digest('hex');

function built(p) {
  try {
    return fs.readFileSync(p.marker, 'utf8').trim() === pomHash() && fs.existsSync(p.jar);
  } catch {
    return false;
  }
}

/** `mvn package` in the cache dir unless a previous build of this pom completed. */
function assemble(p, UserError) {
  if (built(p)) return;
  if (spawnSync('mvn', ['-v'], { stdio: 'ignore' }).error)
    throw new UserError('mvn not found; it is needed once to build Apicurio Registry from Maven Central: apt-get install maven');
  fs.rmSync(path.join(p.home, 'target'), { recursive: true, force: true });
  fs.mkdirSync(p.home, { recursive: true });
  fs.copyFileSync(POM, p.pom);
  note(`registry  building Apicurio Registry ${VERSION} from Maven Central jars in ${p.home} (one time, 1-3 minutes)...`);
  const started = Date.now();
  const r = spawnSync('mvn', ['-B', '-q', '-Dstyle.color=never', '-f', p.pom, 'package'], { encoding: 'utf8', cwd: p.home });
  if (r.status !== 0 || !fs.existsSync(p.jar)) {
    const output = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-15).join('\n');
    if (output) note(output);
    throw new UserError(`mvn could not build Apicurio Registry ${VERSION} (exit ${r.status}); check access to Maven Central and rerun`);
  }
  fs.writeFileSync(p.marker, `${pomHash()}\n`);
  note(`registry  built in ${seconds(Date.now() - started)}`);
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** The pid in the pid file if it is still our registry JVM, else null. */
function registryPid(p) {
  let pid;
  try {
    pid = Number(fs.readFileSync(p.pidFile, 'utf8').trim());
  } catch {
    return null;
  }
  if (!pid || !isAlive(pid)) return null;
  try {
    if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('registry-1-runner.jar')) return null;
  } catch {
    // no /proc: trust the live pid
  }
  return pid;
}

/** Whether a registry answers with the Confluent API: true, or the reason it does not. */
export async function probeRegistry() {
  try {
    const response = await fetch(`${REGISTRY_URL}/subjects`, { signal: AbortSignal.timeout(2000) });
    return response.ok ? true : `HTTP ${response.status} from ${REGISTRY_URL}/subjects`;
  } catch (err) {
    return err.cause?.code || err.message;
  }
}

function takeLock(p) {
  try {
    fs.writeFileSync(p.lock, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
  }
  const holder = Number(fs.readFileSync(p.lock, 'utf8').trim());
  if (holder && isAlive(holder)) return false;
  fs.rmSync(p.lock, { force: true });
  return takeLock(p);
}

function start(p) {
  const out = fs.openSync(p.log, 'w');
  const child = spawn('java', ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-jar', p.jar], {
    detached: true,
    stdio: ['ignore', out, out],
    cwd: p.home,
    env: { ...process.env, HTTP_PORT: String(REGISTRY_PORT), QUARKUS_HTTP_HOST: REGISTRY_HOST },
  });
  fs.closeSync(out);
  child.unref();
  fs.writeFileSync(p.pidFile, `${child.pid}\n`);
  const state = { exited: null };
  child.on('exit', (code, signal) => (state.exited = signal ?? `code ${code}`));
  return state;
}

async function waitReady(p, state, UserError) {
  const started = Date.now();
  let last;
  while (Date.now() - started < START_TIMEOUT_MS) {
    last = await probeRegistry();
    if (last === true) return;
    if (state?.exited) break;
    await sleep(500);
  }
  const tail = fs.existsSync(p.log) ? fs.readFileSync(p.log, 'utf8').trimEnd().split('\n').slice(-20).join('\n') : '(no log)';
  note(`----- last 20 lines of ${p.log} -----\n${tail}\n-----`);
  const why = state?.exited ? `the JVM exited (${state.exited})` : `it did not answer within ${START_TIMEOUT_MS / 1000}s (${last})`;
  throw new UserError(`Schema Registry on ${REGISTRY_HOST}:${REGISTRY_PORT} did not come up: ${why}; see ${p.log}`);
}

export async function registryUp(cacheDir, UserError) {
  const p = paths(cacheDir);
  if ((await probeRegistry()) === true) {
    const pid = registryPid(p);
    return `registry  ready  ${REGISTRY_URL} (${pid ? `Apicurio Registry ${VERSION}, pid ${pid}` : 'not started by finpipe'}, already running - reused)`;
  }
  assemble(p, UserError);
  const started = Date.now();
  if (!registryPid(p) && takeLock(p)) {
    try {
      if ((await probeRegistry()) !== true) await waitReady(p, start(p), UserError);
    } finally {
      fs.rmSync(p.lock, { force: true });
    }
  } else {
    note('registry  another start is under way; waiting');
    await waitReady(p, null, UserError);
  }
  return `registry  ready  ${REGISTRY_URL} (Apicurio Registry ${VERSION}, pid ${registryPid(p)}, in-memory, started in ${seconds(Date.now() - started)})`;
}

export async function registryDown(cacheDir) {
  const p = paths(cacheDir);
  const pid = registryPid(p);
  if (!pid) {
    fs.rmSync(p.pidFile, { force: true });
    return (await probeRegistry()) === true
      ? `registry  left running: the registry on ${REGISTRY_HOST}:${REGISTRY_PORT} was not started by finpipe`
      : 'registry  already stopped';
  }
  const started = Date.now();
  process.kill(pid, 'SIGTERM');
  while (isAlive(pid) && Date.now() - started < STOP_TIMEOUT_MS) await sleep(200);
  let how = 'cleanly';
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    how = `killed after ${STOP_TIMEOUT_MS / 1000}s`;
  }
  fs.rmSync(p.pidFile, { force: true });
  return `registry  stopped (pid ${pid}, ${how}, ${seconds(Date.now() - started)})`;
}

export async function registryStatus(cacheDir) {
  const p = paths(cacheDir);
  const probe = await probeRegistry();
  return { up: probe === true, url: REGISTRY_URL, pid: registryPid(p), version: VERSION, error: probe === true ? null : probe, log: p.log };
}
