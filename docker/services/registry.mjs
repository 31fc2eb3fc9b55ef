// Apicurio Registry (Confluent-compatible API at /apis/ccompat/v7, in-memory storage) for
// machines without Docker, used by docker/services.mjs (`up registry`, `down`, `status`).
// Built once with `mvn package` from docker/registry-native/pom.xml into the per-user cache,
// then run with `java`, detached, with a pid file. In-memory: a restart forgets every
// schema and ids start again at 1 (tests use unique topic names for that reason).
//
// Plain Node 20 ESM on purpose, like services.mjs: it runs before `tsc` in `npm test`.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ServiceError,
  builtFrom,
  logTail,
  markBuilt,
  note,
  pidFromFile,
  pollReady,
  requireMaven,
  runMaven,
  seconds,
  spawnDaemon,
  stopPid,
  takeLock,
} from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const POM = path.join(HERE, '..', 'registry-native', 'pom.xml');
const VERSION = /<apicurio\.version>([^<]+)<\/apicurio\.version>/.exec(fs.readFileSync(POM, 'utf8'))[1];

export const REGISTRY_HOST = '127.0.0.1';
export const REGISTRY_PORT = 8081; // Confluent Schema Registry's usual port (Apicurio's own default, 8080, is often taken)
export const REGISTRY_URL = `http://${REGISTRY_HOST}:${REGISTRY_PORT}/apis/ccompat/v7`;
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;

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

const built = (p) => builtFrom(p.marker, POM) && fs.existsSync(p.jar);

/** `mvn package` in the cache dir unless a previous build of this pom completed. */
function assemble(p) {
  if (built(p)) return;
  requireMaven('mvn not found; it is needed once to build Apicurio Registry from Maven Central: apt-get install maven');
  fs.rmSync(path.join(p.home, 'target'), { recursive: true, force: true });
  fs.mkdirSync(p.home, { recursive: true });
  fs.copyFileSync(POM, p.pom);
  note(`registry  building Apicurio Registry ${VERSION} from Maven Central jars in ${p.home} (one time, 1-3 minutes)...`);
  const started = Date.now();
  runMaven(['-f', p.pom, 'package'], {
    cwd: p.home,
    succeeded: () => fs.existsSync(p.jar),
    failure: (r) => `mvn could not build Apicurio Registry ${VERSION} (exit ${r.status}); check access to Maven Central and rerun`,
  });
  markBuilt(p.marker, POM);
  note(`registry  built in ${seconds(Date.now() - started)}`);
}

/** The pid in the pid file if it is still our registry JVM, else null. */
const registryPid = (p) => pidFromFile(p.pidFile, 'registry-1-runner.jar');

/** Whether a registry answers with the Confluent API: true, or the reason it does not. */
export async function probeRegistry() {
  try {
    const response = await fetch(`${REGISTRY_URL}/subjects`, { signal: AbortSignal.timeout(2000) });
    return response.ok ? true : `HTTP ${response.status} from ${REGISTRY_URL}/subjects`;
  } catch (err) {
    return err.cause?.code || err.message;
  }
}

function start(p) {
  return spawnDaemon('java', ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-jar', p.jar], {
    logFile: p.log,
    pidFile: p.pidFile,
    cwd: p.home,
    env: { ...process.env, HTTP_PORT: String(REGISTRY_PORT), QUARKUS_HTTP_HOST: REGISTRY_HOST },
  });
}

async function waitReady(p, state) {
  const { ready, last } = await pollReady(probeRegistry, (r) => r === true, state, START_TIMEOUT_MS);
  if (ready) return;
  note(`----- last 20 lines of ${p.log} -----\n${logTail(p.log, 20)}\n-----`);
  const why = state?.exited ? `the JVM exited (${state.exited})` : `it did not answer within ${START_TIMEOUT_MS / 1000}s (${last})`;
  throw new ServiceError(`Schema Registry on ${REGISTRY_HOST}:${REGISTRY_PORT} did not come up: ${why}; see ${p.log}`);
}

export async function registryUp(cacheDir) {
  const p = paths(cacheDir);
  if ((await probeRegistry()) === true) {
    const pid = registryPid(p);
    return `registry  ready  ${REGISTRY_URL} (${pid ? `Apicurio Registry ${VERSION}, pid ${pid}` : 'not started by finpipe'}, already running - reused)`;
  }
  assemble(p);
  const started = Date.now();
  if (!registryPid(p) && takeLock(p.lock)) {
    try {
      if ((await probeRegistry()) !== true) await waitReady(p, start(p));
    } finally {
      fs.rmSync(p.lock, { force: true });
    }
  } else {
    note('registry  another start is under way; waiting');
    await waitReady(p, null);
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
  const how = (await stopPid(pid, p.pidFile, STOP_TIMEOUT_MS)) ? `killed after ${STOP_TIMEOUT_MS / 1000}s` : 'cleanly';
  return `registry  stopped (pid ${pid}, ${how}, ${seconds(Date.now() - started)})`;
}

export async function registryStatus(cacheDir) {
  const p = paths(cacheDir);
  const probe = await probeRegistry();
  return { up: probe === true, url: REGISTRY_URL, pid: registryPid(p), version: VERSION, error: probe === true ? null : probe, log: p.log };
}
