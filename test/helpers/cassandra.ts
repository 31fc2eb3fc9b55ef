import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { Socket } from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import cassandra from 'cassandra-driver';
import type { Candle, Trade } from '../../src/core/serde';
import { closeReplacedHosts, shutdownClient } from '../../src/core/stores/cassandra/client';

/**
 * Integration-test helpers against the real local Cassandra (`node docker/services.mjs up
 * cassandra`, which `npm test` runs). Every keyspace a test creates is dropped after it.
 */
export const CASSANDRA_CONTACT_POINTS = process.env.FINPIPE_CASSANDRA_CONTACT_POINTS ?? '127.0.0.1:9042';

export function testClient(): cassandra.Client {
  const client = new cassandra.Client({
    contactPoints: CASSANDRA_CONTACT_POINTS.split(','),
    localDataCenter: process.env.FINPIPE_CASSANDRA_LOCAL_DATACENTER ?? 'datacenter1',
    socketOptions: { readTimeout: 30_000 },
    policies: { reconnection: new cassandra.policies.reconnection.ConstantReconnectionPolicy(500) },
  });
  // The outage test restarts the node under this client: without this, the driver keeps a
  // socket of the Host it replaced open and the test process never exits.
  closeReplacedHosts(client);
  return client;
}

export interface TestKeyspace {
  name: string;
  client: cassandra.Client;
  /** The environment that points a finpipe process at this keyspace. */
  env: Record<string, string>;
}

/** A unique keyspace name (created by whoever uses it first: the sink), dropped after the test. */
export async function createKeyspace(t: TestContext, prefix = 'fp_test'): Promise<TestKeyspace> {
  const name = `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const client = testClient();
  await client.connect();
  t.after(async () => {
    await shutdownClient(client);
    // A fresh client for the drop: the test may have shut its own client down already (the
    // outage test does, to check that it leaves no socket open).
    const dropper = testClient();
    await dropper
      .connect()
      .then(() => dropper.execute(`DROP KEYSPACE IF EXISTS ${name}`))
      .catch(() => {});
    await shutdownClient(dropper);
  });
  return {
    name,
    client,
    env: { FINPIPE_STORE: 'cassandra', FINPIPE_CASSANDRA_CONTACT_POINTS: CASSANDRA_CONTACT_POINTS, FINPIPE_CASSANDRA_KEYSPACE: name },
  };
}

async function all(client: cassandra.Client, cql: string): Promise<cassandra.types.Row[]> {
  const rows: cassandra.types.Row[] = [];
  let pageState: string | undefined;
  do {
    const rs = await client.execute(cql, [], { fetchSize: 5_000, pageState });
    rows.push(...rs.rows);
    pageState = rs.pageState ?? undefined;
  } while (pageState);
  return rows;
}

/** Every stored trade, as the Avro Trade it came from, sorted by id. */
export async function readCassandraTrades(ks: TestKeyspace): Promise<Trade[]> {
  const rows = await all(ks.client, `SELECT * FROM ${ks.name}.trades`);
  return rows
    .map((r) => ({
      id: String(r.id),
      symbol: String(r.symbol),
      price: r.price as number,
      volume: r.volume as number,
      trade_timestamp: (r.trade_timestamp as Date).getTime(),
      ingest_timestamp: (r.ingest_timestamp as Date).getTime(),
      trade_conditions: (r.trade_conditions as string[] | null) ?? [],
    }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Every stored candle, sorted like sink-fixtures' finalCandles. */
export async function readCassandraCandles(ks: TestKeyspace): Promise<Candle[]> {
  const rows = await all(ks.client, `SELECT * FROM ${ks.name}.candles`);
  return rows
    .map((r) => ({
      symbol: String(r.symbol),
      window_ms: Number(String(r.window_ms)),
      window_start: (r.window_start as Date).getTime(),
      window_end: (r.window_end as Date).getTime(),
      open: r.open as number,
      high: r.high as number,
      low: r.low as number,
      close: r.close as number,
      volume: r.volume as number,
      vwap: r.vwap as number | null,
      trade_count: Number(String(r.trade_count)),
      avg_price: r.avg_price as number,
      is_final: Boolean(r.is_final),
      version: Number(String(r.version)),
    }))
    .sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.window_ms - b.window_ms || a.window_start - b.window_start));
}

/** Rows of a table, 0 before the sink created it. */
export async function countCassandraRows(ks: TestKeyspace, table: 'trades' | 'candles'): Promise<number> {
  try {
    const [row] = await all(ks.client, `SELECT COUNT(*) AS n FROM ${ks.name}.${table}`);
    return Number(String(row.n));
  } catch {
    return 0;
  }
}

/**
 * Sockets of this process still open to the Cassandra native port. Node has no public API
 * listing sockets; process._getActiveHandles() is what `why-is-node-running` uses too.
 */
export function openCassandraSockets(): number {
  const port = Number(CASSANDRA_CONTACT_POINTS.split(',')[0].split(':')[1] ?? 9042);
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((h) => h instanceof Socket && h.remotePort === port && !h.destroyed).length;
}

const SERVICES = path.resolve(__dirname, '../../../docker/services.mjs');

/**
 * Stops or starts the local Cassandra through the project's own services script (the
 * outage test; nothing else uses this node, see the README). Throws with its output on failure.
 *
 * Synchronous on purpose: the test's event loop stands still while the node restarts, so
 * both reconnection timers of its driver client are overdue when it resumes and fire in the
 * same tick. That reproduces, every time, the driver race closeReplacedHosts() guards
 * against (the sink child, with its own event loop, meets it only now and then).
 */
export function cassandraService(command: 'stop' | 'start'): string {
  const args = command === 'stop' ? [SERVICES, 'stop', 'cassandra'] : [SERVICES, 'up', 'cassandra'];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) throw new Error(`services.mjs ${args.slice(1).join(' ')} failed (exit ${r.status}): ${r.stdout}${r.stderr}`);
  return r.stdout;
}
