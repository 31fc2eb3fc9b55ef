import { randomUUID } from 'node:crypto';
import type { Admin, Producer, Message } from 'kafkajs';
import type mysql from 'mysql2/promise';
import { codecs, RECORD_TYPE_HEADER, type Candle, type Trade } from '../../src/core/serde';
import { testKafka, uniqueName, waitFor } from '../helpers/kafka';

/**
 * Records as `finpipe process` writes them to a per-symbol topic (key = symbol, header
 * finpipe.type, plain Avro value), for the sink's tests and benchmark. Not a test file.
 */
export const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 678);

export function makeTrades(symbol: string, n: number, start = T0): Trade[] {
  return Array.from({ length: n }, (_, i) => ({
    id: randomUUID(),
    symbol,
    price: 100 + (i % 997) / 8 + 0.000123,
    volume: 0.5 + (i % 13) * 1e-6,
    trade_timestamp: start + i * 7,
    ingest_timestamp: start + i * 7 + 35,
    trade_conditions: i % 3 === 0 ? ['1', '12'] : [],
  }));
}

/** `windows` windows of 10 s, each emitted as versions 1..`versions`, the last one final. */
export function makeCandles(symbol: string, windows: number, versions: number, start = T0 - (T0 % 10_000)): Candle[] {
  const out: Candle[] = [];
  for (let w = 0; w < windows; w++) {
    for (let v = 1; v <= versions; v++) {
      out.push({
        symbol,
        window_ms: 10_000,
        window_start: start + w * 10_000,
        window_end: start + (w + 1) * 10_000,
        open: 100 + w,
        high: 101 + w + v,
        low: 99 + w - v / 10,
        close: 100.5 + w + v / 100,
        volume: 10 * v,
        vwap: v % 2 ? 100.25 + w : null,
        trade_count: 5 * v,
        avg_price: 100.1 + w,
        is_final: v === versions,
        version: v,
      });
    }
  }
  return out;
}

export function tradeMessage(t: Trade): Message {
  return { key: t.symbol, value: codecs().trade.encode(t), headers: { [RECORD_TYPE_HEADER]: 'trade' } };
}

export function candleMessage(c: Candle): Message {
  return { key: c.symbol, value: codecs().candle.encode(c), headers: { [RECORD_TYPE_HEADER]: 'candle' } };
}

/** A transactional producer (like process); disconnect it yourself. */
export async function transactionalProducer(): Promise<Producer> {
  const p = testKafka('finpipe-sink-test').producer({
    transactionalId: uniqueName('sink-test-tx'),
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await p.connect();
  return p;
}

/** Sends messages in transactions of `chunk`; `abort` aborts them instead (readers must never see them). */
/**
 * The end offsets of `topic`, once each partition's end is `highs[partition]`. A transaction's
 * commit returns before the broker has written its commit markers (it writes them after
 * logging the commit), so an end offset read at once can miss the marker, or all of it.
 */
export async function settledEnds(a: Admin, topic: string, highs: number[]): Promise<{ partition: number; high: string }[]> {
  let ends: { partition: number; high: string }[] = [];
  await waitFor(
    `the commit markers of ${topic}`,
    async () => {
      ends = await a.fetchTopicOffsets(topic);
      return highs.every((h, partition) => Number(ends.find((e) => e.partition === partition)?.high) === h);
    },
    10_000,
  );
  return ends;
}

export async function sendInTransactions(
  producer: Producer,
  topic: string,
  messages: Message[],
  { chunk = 1_000, abort = false, partition }: { chunk?: number; abort?: boolean; partition?: number } = {},
): Promise<void> {
  for (let i = 0; i < messages.length; i += chunk) {
    const tx = await producer.transaction();
    try {
      await tx.send({ topic, messages: messages.slice(i, i + chunk).map((m) => (partition === undefined ? m : { ...m, partition })) });
      if (abort) await tx.abort();
      else await tx.commit();
    } catch (error) {
      await tx.abort().catch(() => {});
      throw error;
    }
  }
}

export async function countRows(conn: mysql.Connection, db: string, table: 'trades' | 'candles'): Promise<number> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${db}\`.\`${table}\``);
  return Number(rows[0].n);
}

export async function tableExists(conn: mysql.Connection, db: string, table: string): Promise<boolean> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?',
    [db, table],
  );
  return rows.length > 0;
}

const ms = (d: Date) => d.getTime();

/** Rows as mysql2 returns them: DATETIMEs as Dates, JSON as text or parsed, BOOLEAN as 0/1. */
type TradeRow = mysql.RowDataPacket &
  Omit<Trade, 'trade_timestamp' | 'ingest_timestamp' | 'trade_conditions'> & {
    trade_timestamp: Date;
    ingest_timestamp: Date;
    trade_conditions: string | string[];
  };
type CandleRow = mysql.RowDataPacket &
  Omit<Candle, 'window_start' | 'window_end' | 'is_final'> & { window_start: Date; window_end: Date; is_final: number };

/** Every trade row, as the Avro Trade it came from (DATETIMEs read back as UTC). */
export async function readTrades(conn: mysql.Connection, db: string): Promise<Trade[]> {
  const [rows] = await conn.query<TradeRow[]>({ sql: `SELECT * FROM \`${db}\`.trades ORDER BY id`, timezone: 'Z' } as mysql.QueryOptions);
  return rows.map((r) => ({
    id: r.id,
    symbol: r.symbol,
    price: r.price,
    volume: r.volume,
    trade_timestamp: ms(r.trade_timestamp),
    ingest_timestamp: ms(r.ingest_timestamp),
    trade_conditions: typeof r.trade_conditions === 'string' ? (JSON.parse(r.trade_conditions) as string[]) : r.trade_conditions,
  }));
}

export async function readCandles(conn: mysql.Connection, db: string): Promise<Candle[]> {
  const [rows] = await conn.query<CandleRow[]>({
    sql: `SELECT * FROM \`${db}\`.candles ORDER BY symbol, window_ms, window_start`,
    timezone: 'Z',
  } as mysql.QueryOptions);
  return rows.map((r) => ({
    symbol: r.symbol,
    window_ms: r.window_ms,
    window_start: ms(r.window_start),
    window_end: ms(r.window_end),
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    volume: r.volume,
    vwap: r.vwap,
    trade_count: r.trade_count,
    avg_price: r.avg_price,
    is_final: Boolean(r.is_final),
    version: r.version,
  }));
}

/** The newest version of every candle, sorted like readCandles. */
export function finalCandles(candles: Candle[]): Candle[] {
  const byKey = new Map<string, Candle>();
  for (const c of candles) {
    const k = `${c.symbol}|${c.window_ms}|${c.window_start}`;
    if (!byKey.has(k) || byKey.get(k)!.version <= c.version) byKey.set(k, c);
  }
  return [...byKey.values()].sort((a, b) =>
    a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.window_ms - b.window_ms || a.window_start - b.window_start,
  );
}

export function sortTrades(trades: Trade[]): Trade[] {
  return [...trades].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

// ---------------------------------------------------------------- MariaDB outages

import net from 'node:net';
import { MYSQL } from '../helpers/mysql';

/**
 * A TCP relay between a sink and the real MariaDB, for outages: `cut()` closes every
 * connection and refuses new ones (what a sink sees when the server goes down: broken
 * connections, then ECONNREFUSED), `restore()` accepts them again on the same port.
 * Unlike stopping MariaDB, this needs no root and leaves the shared server running for
 * every other test, so the outage tests run wherever the suite runs.
 */
export class MysqlOutage {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  static async start(): Promise<MysqlOutage> {
    const outage = new MysqlOutage();
    await outage.restore();
    return outage;
  }

  /** The sink's FINPIPE_MYSQL_URL for database `db` through the relay. */
  url(db: string): string {
    return `mysql://${MYSQL.user}@127.0.0.1:${this.port}/${db}`;
  }

  async restore(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => {
      const upstream = net.connect(MYSQL.port, MYSQL.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
