#!/usr/bin/env node
// Local services for finpipe on machines without a Docker engine:
//   - a real Apache Kafka broker (single-node KRaft), assembled from Maven Central
//     jars with `mvn` and run with `java`, detached so it outlives this script;
//   - MariaDB/MySQL, the machine's own database service;
//   - only when named: Apache Cassandra (`up cassandra`, services/cassandra.mjs) and an
//     Apicurio Schema Registry (`up registry`, services/registry.mjs).
// docker/compose.yml is the same stack for people who do have Docker.
//
//   node docker/services.mjs up [kafka] [mysql] [cassandra] [registry] | down | stop cassandra | status [--json] | kafka-classpath
//
// Plain Node 20 ESM on purpose: it runs before `tsc` in `npm test`.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import mysql from 'mysql2/promise';
import { registryDown, registryStatus, registryUp } from './services/registry.mjs';
import { cassandraDown, cassandraStatus, cassandraStatusLine, cassandraUp } from './services/cassandra.mjs';

const { Kafka, logLevel } = kafkajs;

const HERE = path.dirname(fileURLToPath(import.meta.url));
const POM = path.join(HERE, 'kafka-native', 'pom.xml');
const LOG4J = path.join(HERE, 'kafka-native', 'log4j.properties');
// The pom is the single place the Kafka version is pinned.
const KAFKA_VERSION = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(fs.readFileSync(POM, 'utf8'))[1];

// Jars and broker data live outside git, in a per-user cache.
const CACHE_DIR = process.env.FINPIPE_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'finpipe');
const KAFKA_HOME = path.join(CACHE_DIR, `kafka-${KAFKA_VERSION}`);
const LIB_DIR = path.join(KAFKA_HOME, 'lib');
const LIB_MARKER = path.join(KAFKA_HOME, 'lib.complete'); // holds the hash of the pom it was built from
const DATA_DIR = path.join(KAFKA_HOME, 'data');
const PROPS_FILE = path.join(KAFKA_HOME, 'server.properties');
const LOG_FILE = path.join(KAFKA_HOME, 'broker.log');
const PID_FILE = path.join(KAFKA_HOME, 'broker.pid');
const START_LOCK = path.join(KAFKA_HOME, 'start.lock');

const HOST = '127.0.0.1'; // not "localhost": kafkajs may resolve that to ::1
const KAFKA_PORT = 9092; // PLAINTEXT, what finpipe uses by default
const CONTROLLER_PORT = 9093; // KRaft controller, broker-internal
const SASL_PORT = 9094; // SASL_PLAINTEXT + PLAIN, to integration-test authentication
const SASL_USER = 'finpipe';
const SASL_PASSWORD = 'finpipe-secret';

const KAFKA_START_TIMEOUT_MS = 90_000;
const KAFKA_STOP_TIMEOUT_MS = 30_000;
const MYSQL_START_TIMEOUT_MS = 60_000;
const MARIADBD = '/usr/sbin/mariadbd';
const INSTALL_HINT = 'apt-get install openjdk-17-jre-headless maven';

/** An expected failure: printed as one line, exit 1, no stack trace. */
class UserError extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms) => `${(ms / 1000).toFixed(1)}s`;
const note = (msg) => process.stderr.write(`${msg}\n`); // progress goes to stderr, results to stdout

// ---------------------------------------------------------------- Kafka: jars

function requireJava() {
  const r = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (r.error) throw new UserError(`java not found; Kafka needs Java 11+: ${INSTALL_HINT}`);
  const major = Number(/version "(\d+)/.exec(r.stderr)?.[1]);
  if (major && major < 11) throw new UserError(`Java ${major} is too old for Kafka ${KAFKA_VERSION} (needs 11+): ${INSTALL_HINT}`);
}

const pomHash = () => crypto.createHash('sha256').update(fs.readFileSync(POM)).digest('hex');

function libIsComplete() {
  try {
    return fs.readFileSync(LIB_MARKER, 'utf8').trim() === pomHash();
  } catch {
    return false;
  }
}

/** Fetches the broker jars into LIB_DIR unless a previous run completed. Returns true if it downloaded. */
function assembleKafka() {
  if (libIsComplete()) return false;
  if (spawnSync('mvn', ['-v'], { stdio: 'ignore' }).error) {
    throw new UserError(`mvn not found; it is needed once to fetch the Kafka jars from Maven Central: ${INSTALL_HINT}`);
  }
  // Start from an empty dir so a changed pom never leaves stale jars on the classpath.
  fs.rmSync(LIB_DIR, { recursive: true, force: true });
  fs.mkdirSync(LIB_DIR, { recursive: true });
  note(`kafka  fetching Apache Kafka ${KAFKA_VERSION} jars from Maven Central into ${LIB_DIR} (one time)...`);
  const started = Date.now();
  const r = spawnSync(
    'mvn',
    [
      '-B',
      '-q',
      '-Dstyle.color=never',
      '-f',
      POM,
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${LIB_DIR}`,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const jars = fs.readdirSync(LIB_DIR).filter((f) => f.endsWith('.jar'));
  const needed = [`kafka_2.13-${KAFKA_VERSION}.jar`, `kafka-tools-${KAFKA_VERSION}.jar`, 'reload4j-1.2.25.jar'];
  if (r.status !== 0 || !needed.every((j) => jars.includes(j))) {
    const output = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-15).join('\n');
    if (output) note(output);
    throw new UserError(
      `mvn could not fetch the Kafka ${KAFKA_VERSION} jars (exit ${r.status}); check access to Maven Central ` +
        `(or mirrors in ~/.m2/settings.xml) and rerun`,
    );
  }
  fs.writeFileSync(LIB_MARKER, `${pomHash()}\n`);
  note(`kafka  fetched ${jars.length} jars in ${seconds(Date.now() - started)}`);
  return true;
}

// ---------------------------------------------------------------- Kafka: broker process

function serverProperties() {
  // Rewritten on every start so edits here take effect; the data dir is what persists.
  const jaas =
    'org.apache.kafka.common.security.plain.PlainLoginModule required ' +
    `username="${SASL_USER}" password="${SASL_PASSWORD}" user_${SASL_USER}="${SASL_PASSWORD}";`;
  return `# Generated by docker/services.mjs on every start; edit that script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${HOST}:${CONTROLLER_PORT}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://${HOST}:${KAFKA_PORT},CONTROLLER://${HOST}:${CONTROLLER_PORT},SASL_PLAINTEXT://${HOST}:${SASL_PORT}
advertised.listeners=PLAINTEXT://${HOST}:${KAFKA_PORT},SASL_PLAINTEXT://${HOST}:${SASL_PORT}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
# Broker-internal traffic stays PLAINTEXT; only clients on ${SASL_PORT} authenticate.
inter.broker.listener.name=PLAINTEXT
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=${jaas}
log.dirs=${DATA_DIR}
num.partitions=1
# A single node: internal topics cannot have more than one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# Consumers in tests should not wait 3 s for a group to settle.
group.initial.rebalance.delay.ms=0
# The cleaner's default 128 MB buffer is wasted on a dev broker with a small heap.
log.cleaner.dedupe.buffer.size=1048577
`;
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); in containers nobody may reap the detached broker.
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** The pid from the pid file if that process is still our broker (guards against pid reuse), else null. */
function brokerPid() {
  let pid;
  try {
    pid = Number(fs.readFileSync(PID_FILE, 'utf8').trim());
  } catch {
    return null;
  }
  if (!pid || !isAlive(pid)) return null;
  try {
    if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka.Kafka')) return null;
  } catch {
    // no /proc (e.g. macOS): trust the live pid
  }
  return pid;
}

function removeStalePidFile() {
  if (fs.existsSync(PID_FILE) && !brokerPid()) {
    fs.rmSync(PID_FILE, { force: true });
    note(`kafka  removed stale pid file ${PID_FILE}`);
  }
}

/** Only one concurrent `up` may start a JVM (two would fight over ports and the pid file). */
function takeStartLock() {
  try {
    fs.writeFileSync(START_LOCK, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
  }
  const holder = Number(fs.readFileSync(START_LOCK, 'utf8').trim());
  if (holder && isAlive(holder)) return false;
  fs.rmSync(START_LOCK, { force: true }); // left behind by an `up` that was killed
  return takeStartLock();
}

const javaLogArgs = () => [`-Dlog4j.configuration=file:${LOG4J}`, `-Dkafka.logs.dir=${KAFKA_HOME}`];

/** Formats the KRaft storage once; a formatted data dir (meta.properties) is reused as is. */
function formatStorageIfNeeded() {
  if (fs.existsSync(path.join(DATA_DIR, 'meta.properties'))) return false;
  // Unformatted leftovers (e.g. an interrupted format) hold nothing worth keeping.
  fs.rmSync(DATA_DIR, { recursive: true, force: true });
  fs.mkdirSync(DATA_DIR, { recursive: true });
  // Same shape as Kafka's Uuid.randomUuid(): 16 random bytes, base64url; never starting with '-'.
  let clusterId;
  do clusterId = crypto.randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-'));
  const r = spawnSync(
    'java',
    [...javaLogArgs(), '-cp', `${LIB_DIR}/*`, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', PROPS_FILE],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) {
    throw new UserError(`formatting Kafka storage in ${DATA_DIR} failed: ${`${r.stdout}${r.stderr}`.trim()}`);
  }
  return true;
}

const portIsFree = (port) =>
  new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });

async function startBroker() {
  // A clear message beats a bind exception at the end of the broker log.
  for (const port of [KAFKA_PORT, CONTROLLER_PORT, SASL_PORT]) {
    if (!(await portIsFree(port))) {
      throw new UserError(
        `port ${HOST}:${port} is taken by a process that is not a Kafka broker answering on ${KAFKA_PORT}; ` +
          `free it (ss -ltnp | grep :${port}) and rerun`,
      );
    }
  }
  fs.writeFileSync(PROPS_FILE, serverProperties());
  const formatted = formatStorageIfNeeded();
  const out = fs.openSync(LOG_FILE, 'w'); // one start per log file keeps the tail relevant
  const child = spawn(
    'java',
    [
      '-Xms256m',
      '-Xmx768m',
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:InitiatingHeapOccupancyPercent=35', // as kafka-server-start.sh
      '-Djava.awt.headless=true',
      ...javaLogArgs(),
      '-cp',
      `${LIB_DIR}/*`,
      'kafka.Kafka',
      PROPS_FILE,
    ],
    // Detached with its own session and no pipes to us, so it outlives this script.
    { detached: true, stdio: ['ignore', out, out], cwd: KAFKA_HOME },
  );
  fs.closeSync(out);
  child.unref();
  fs.writeFileSync(PID_FILE, `${child.pid}\n`);
  const state = { pid: child.pid, formatted, exited: null };
  child.on('exit', (code, signal) => (state.exited = signal ?? `code ${code}`));
  return state;
}

function logTail(lines = 30) {
  try {
    return fs.readFileSync(LOG_FILE, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log file)';
  }
}

/** Asks a broker for its cluster metadata; {ok: true, clusterId} or {ok: false, error}. */
async function probeKafka(port = KAFKA_PORT, { sasl = false } = {}) {
  const kafka = new Kafka({
    clientId: 'finpipe-services',
    brokers: [`${HOST}:${port}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 3000,
    retry: { retries: 0 },
    ...(sasl && { sasl: { mechanism: 'plain', username: SASL_USER, password: SASL_PASSWORD } }),
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    await admin.listTopics(); // metadata served, not just a socket accepted
    return { ok: true, clusterId: cluster.clusterId };
  } catch (err) {
    return { ok: false, error: err.message };
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function waitForKafka(state) {
  const started = Date.now();
  let last;
  while (Date.now() - started < KAFKA_START_TIMEOUT_MS) {
    last = await probeKafka();
    if (last.ok) return last;
    if (state?.exited) break; // the JVM died: no point waiting out the deadline
    await sleep(500);
  }
  note(`----- last 30 lines of ${LOG_FILE} -----\n${logTail()}\n-----`);
  const why = state?.exited
    ? `the broker process exited (${state.exited})`
    : `it did not answer within ${KAFKA_START_TIMEOUT_MS / 1000}s (${last?.error})`;
  throw new UserError(`Kafka on ${HOST}:${KAFKA_PORT} did not come up: ${why}; see ${LOG_FILE}`);
}

async function kafkaUp() {
  requireJava();
  assembleKafka();
  fs.mkdirSync(KAFKA_HOME, { recursive: true });

  const running = await probeKafka();
  let pid = brokerPid();
  if (running.ok) {
    const who = pid ? `Apache Kafka ${KAFKA_VERSION}, pid ${pid}` : 'not started by finpipe';
    const sasl = await probeKafka(SASL_PORT, { sasl: true });
    const saslNote = sasl.ok ? '' : `; WARNING: SASL on ${HOST}:${SASL_PORT} unavailable: ${sasl.error}`;
    return `kafka  ready  ${HOST}:${KAFKA_PORT} (${who}, already running - reused${saslNote})`;
  }

  const started = Date.now();
  if (!pid && takeStartLock()) {
    try {
      // Re-check under the lock: another `up` may have finished meanwhile.
      if (!(await probeKafka()).ok) {
        removeStalePidFile();
        const state = await startBroker();
        if (state.formatted) note(`kafka  formatted new KRaft storage in ${DATA_DIR}`);
        await waitForKafka(state);
      }
    } finally {
      fs.rmSync(START_LOCK, { force: true });
    }
  } else {
    note(
      pid
        ? `kafka  broker pid ${pid} is running but not answering yet; waiting`
        : 'kafka  another `services.mjs up` is starting the broker; waiting',
    );
    await waitForKafka(null);
  }
  pid = brokerPid();
  const sasl = await probeKafka(SASL_PORT, { sasl: true });
  if (!sasl.ok) {
    throw new UserError(
      `Kafka is up on ${HOST}:${KAFKA_PORT} but SASL/PLAIN on ${HOST}:${SASL_PORT} fails (${sasl.error}); see ${LOG_FILE}`,
    );
  }
  return (
    `kafka  ready  ${HOST}:${KAFKA_PORT} (Apache Kafka ${KAFKA_VERSION}, pid ${pid}, ` +
    `started in ${seconds(Date.now() - started)}; SASL/PLAIN on ${HOST}:${SASL_PORT})`
  );
}

async function kafkaDown() {
  const pid = brokerPid();
  if (!pid) {
    removeStalePidFile();
    const running = await probeKafka();
    return running.ok
      ? `kafka  left running: the broker on ${HOST}:${KAFKA_PORT} was not started by finpipe (no live pid in ${PID_FILE})`
      : 'kafka  already stopped';
  }
  const started = Date.now();
  process.kill(pid, 'SIGTERM'); // Kafka shuts down cleanly on SIGTERM
  while (isAlive(pid) && Date.now() - started < KAFKA_STOP_TIMEOUT_MS) await sleep(200);
  let how = 'cleanly';
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    how = `killed after ${KAFKA_STOP_TIMEOUT_MS / 1000}s without exiting`;
  }
  fs.rmSync(PID_FILE, { force: true });
  return `kafka  stopped (pid ${pid}, ${how}, ${seconds(Date.now() - started)})`;
}

async function kafkaStatus() {
  const [plain, sasl] = await Promise.all([probeKafka(), probeKafka(SASL_PORT, { sasl: true })]);
  const pid = brokerPid();
  return {
    up: plain.ok,
    host: HOST,
    port: KAFKA_PORT,
    saslPort: SASL_PORT,
    saslUp: sasl.ok,
    pid,
    // The version is only known for the broker this script started.
    version: pid ? KAFKA_VERSION : null,
    clusterId: plain.ok ? plain.clusterId : null,
    error: plain.ok ? null : plain.error,
    log: LOG_FILE,
  };
}

// ---------------------------------------------------------------- MySQL / MariaDB

function mysqlTarget() {
  const url = new URL(process.env.FINPIPE_MYSQL_URL || 'mysql://root@127.0.0.1:3306/finpipe');
  return {
    host: url.hostname.replace(/^\[|\]$/g, '') || HOST,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password), // never printed
    database: decodeURIComponent(url.pathname.slice(1)) || 'finpipe',
  };
}

/** {ok: true, version} | {ok: false, answered, error}; `answered` means a server replied (e.g. wrong password). */
async function probeMysql(t, fn) {
  let conn;
  try {
    conn = await mysql.createConnection({ host: t.host, port: t.port, user: t.user, password: t.password, connectTimeout: 2000 });
    const [[row]] = await conn.query('SELECT VERSION() AS v');
    return { ok: true, version: row.v, ...(fn && (await fn(conn))) };
  } catch (err) {
    return { ok: false, answered: Boolean(err.sqlState), error: err.message || err.code };
  } finally {
    await conn?.end().catch(() => {});
  }
}

// "10.11.19-MariaDB-0+deb12u1" -> "MariaDB 10.11.19"; "8.0.39" -> "MySQL 8.0.39"
const productVersion = (v) => `${/mariadb/i.test(v) ? 'MariaDB' : 'MySQL'} ${v.split('-')[0]}`;

async function startMariadb(t) {
  if (!['127.0.0.1', 'localhost', '::1'].includes(t.host) || !fs.existsSync(MARIADBD)) {
    throw new UserError(`MySQL does not answer on ${t.host}:${t.port}; start it, or point FINPIPE_MYSQL_URL at a running server`);
  }
  const cmd = `start-stop-daemon --start --oknodo --background --exec ${MARIADBD}`;
  if (process.getuid?.() !== 0) {
    throw new UserError(`MariaDB does not answer on ${t.host}:${t.port}; start it as root: sudo ${cmd}`);
  }
  note(`mysql  not answering on ${t.host}:${t.port}; starting ${MARIADBD}`);
  // The socket/pid dir lives on tmpfs and is normally created by the init system.
  if (!fs.existsSync('/run/mysqld')) {
    fs.mkdirSync('/run/mysqld');
    spawnSync('chown', ['mysql:mysql', '/run/mysqld']);
  }
  const r = spawnSync('start-stop-daemon', cmd.split(' ').slice(1), { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new UserError(`could not start MariaDB (${r.error?.message || r.stderr.trim()}); try: ${cmd}`);
  }
  if (/already running/.test(r.stdout)) {
    // --oknodo: a mariadbd exists but not where FINPIPE_MYSQL_URL points; waiting will not help.
    throw new UserError(`mariadbd is running but does not answer on ${t.host}:${t.port}; check the port in FINPIPE_MYSQL_URL`);
  }
  const started = Date.now();
  while (Date.now() - started < MYSQL_START_TIMEOUT_MS) {
    await sleep(500);
    const p = await probeMysql(t);
    if (p.ok || p.answered) return Date.now() - started;
  }
  throw new UserError(
    `MariaDB did not answer on ${t.host}:${t.port} within ${MYSQL_START_TIMEOUT_MS / 1000}s; run ${MARIADBD} in a terminal to see why`,
  );
}

async function mysqlUp() {
  const t = mysqlTarget();
  let p = await probeMysql(t);
  let startedIn = null;
  if (!p.ok && !p.answered) {
    startedIn = await startMariadb(t);
    p = await probeMysql(t);
  }
  if (!p.ok) throw new UserError(`MySQL on ${t.host}:${t.port} refused user ${t.user}: ${p.error} (check FINPIPE_MYSQL_URL)`);
  const created = await probeMysql(t, (conn) => conn.query(`CREATE DATABASE IF NOT EXISTS \`${t.database.replace(/`/g, '``')}\``));
  if (!created.ok) throw new UserError(`could not create database ${t.database} on ${t.host}:${t.port}: ${created.error}`);
  const how = startedIn === null ? '' : `, started in ${seconds(startedIn)}`;
  return `mysql  ready  ${t.host}:${t.port} (${productVersion(p.version)}, database ${t.database}${how})`;
}

async function mysqlStatus() {
  const t = mysqlTarget();
  const p = await probeMysql(t, async (conn) => {
    const [rows] = await conn.query('SHOW DATABASES LIKE ?', [t.database]);
    return { databaseExists: rows.length > 0 };
  });
  return {
    up: p.ok,
    host: t.host,
    port: t.port,
    user: t.user,
    database: t.database,
    databaseExists: p.ok ? p.databaseExists : null,
    version: p.ok ? productVersion(p.version) : null,
    error: p.ok ? null : p.error,
  };
}

// ---------------------------------------------------------------- commands

const STARTERS = { kafka: kafkaUp, mysql: mysqlUp, cassandra: cassandraUp, registry: () => registryUp(CACHE_DIR, UserError) };
const DEFAULT_SERVICES = ['kafka', 'mysql']; // the light set; the others only when named

async function up(names) {
  const unknown = names.filter((n) => !STARTERS[n]);
  if (unknown.length > 0) throw new UserError(`unknown service ${unknown.join(', ')}; one of: ${Object.keys(STARTERS).join(', ')}`);
  const wanted = names.length > 0 ? [...new Set(names)] : DEFAULT_SERVICES;
  // All at once: a cold Kafka start dominates, MariaDB is usually already running.
  const results = await Promise.allSettled(wanted.map((n) => STARTERS[n]()));
  let failed = false;
  for (const [name, r] of wanted.map((n, i) => [n, results[i]])) {
    if (r.status === 'fulfilled') {
      console.log(r.value);
    } else {
      failed = true;
      const msg = r.reason instanceof UserError || r.reason?.expected ? r.reason.message : r.reason?.stack || String(r.reason);
      console.error(`${name}  FAILED ${msg}`);
    }
  }
  return failed ? 1 : 0;
}

async function down() {
  console.log(await kafkaDown());
  console.log(await cassandraDown());
  console.log(await registryDown(CACHE_DIR));
  console.log("mysql  left running: MariaDB/MySQL is the machine's own service, not started per project");
  return 0;
}

async function status(json) {
  const [kafka, db, cassandra, registry] = await Promise.all([kafkaStatus(), mysqlStatus(), cassandraStatus(), registryStatus(CACHE_DIR)]);
  if (json) {
    console.log(JSON.stringify({ kafka, mysql: db, cassandra, registry }, null, 2));
  } else {
    if (kafka.up) {
      const who = kafka.pid ? `Apache Kafka ${kafka.version}, pid ${kafka.pid}` : 'not started by finpipe';
      const sasl = kafka.saslUp ? `SASL/PLAIN ${HOST}:${SASL_PORT} ok` : `SASL/PLAIN ${HOST}:${SASL_PORT} DOWN`;
      console.log(`kafka  up    ${HOST}:${KAFKA_PORT} (${who}; ${sasl}; cluster ${kafka.clusterId})`);
    } else {
      const pid = kafka.pid ? `pid ${kafka.pid} alive but not answering, see ${LOG_FILE}` : 'not running';
      console.log(`kafka  down  ${HOST}:${KAFKA_PORT} (${pid}; start with: npm run services:up)`);
    }
    if (db.up) {
      const dbNote = db.databaseExists ? `database ${db.database}` : `database ${db.database} MISSING, run services:up`;
      console.log(`mysql  up    ${db.host}:${db.port} (${db.version}, ${dbNote})`);
    } else {
      console.log(`mysql  down  ${db.host}:${db.port} (${db.error})`);
    }
    console.log(cassandraStatusLine(cassandra));
    const pid = registry.pid ? `Apicurio Registry ${registry.version}, pid ${registry.pid}` : 'not started by finpipe';
    console.log(
      registry.up
        ? `registry  up    ${registry.url} (${pid})`
        : `registry  down  ${registry.url} (${registry.error}; optional, start with: npm run services:up registry)`,
    );
  }
  return kafka.up && db.up ? 0 : 1;
}

function kafkaClasspath() {
  requireJava();
  assembleKafka();
  console.log(`${LIB_DIR}/*`);
  return 0;
}

const USAGE = `usage: node docker/services.mjs <command>
  up [names...]    start the named services if needed and wait until ready: kafka (${HOST}:${KAFKA_PORT},
                   SASL ${HOST}:${SASL_PORT}), mysql, cassandra (${HOST}:9042), registry (Apicurio, Schema Registry
                   API); default: kafka mysql (the others only when named)
  down             stop Kafka, Cassandra and the registry started by up (MySQL is left running)
  stop cassandra   stop only Cassandra
  status [--json]  show whether each service answers; exit 1 unless Kafka and MySQL do (the others are optional)
  kafka-classpath  print the Kafka jar classpath (java -cp '<it>' ...), fetching jars if needed`;

async function main(argv) {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up':
      return up(rest);
    case 'down':
      return down();
    case 'stop': // one optional service, leaving the shared ones running (Cassandra's outage test)
      if (rest[0] !== 'cassandra') throw new UserError('only `stop cassandra` is supported; `down` stops everything');
      console.log(await cassandraDown());
      return 0;
    case 'status':
      return status(rest.includes('--json'));
    case 'kafka-classpath':
      return kafkaClasspath();
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command ? 0 : 1;
    default:
      console.error(`unknown command "${command}"\n${USAGE}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof UserError ? `services: ${err.message}` : err);
    process.exit(1);
  },
);
