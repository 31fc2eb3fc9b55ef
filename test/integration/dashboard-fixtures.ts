import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import type { Producer } from 'kafkajs';
import { startCli, type RunningCli } from '../helpers/cli';
import { testKafka, waitFor } from '../helpers/kafka';
import { createDatabase } from '../helpers/mysql';
import { migrate } from '../../src/core/stores/mysql/schema';
import { codecs, type Candle, type Trade } from '../../src/core/serde';

const INSERT_CANDLES =
  'INSERT INTO candles (symbol, window_ms, window_start, window_end, open, high, low, close, volume, vwap, trade_count, avg_price, is_final, version) ' +
  'VALUES ?';

export const utc = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

/** A migrated database holding `count` 1s candles and one 1m candle of one symbol, plus 30 trades. */
export async function seedDatabase(t: TestContext, symbol: string, count: number, endMs = Date.now()) {
  const db = await createDatabase(t, 'fp_dashapi');
  await db.connection.query(`USE \`${db.name}\``);
  await db.connection.query("SET time_zone = '+00:00'");
  await migrate(db.connection, db.name);
  const last = Math.floor(endMs / 1000) * 1000;
  for (let from = 0; from < count; from += 2000) {
    const rows: unknown[][] = [];
    for (let i = from; i < Math.min(count, from + 2000); i++) {
      const start = last - (count - 1 - i) * 1000;
      const open = 100 + Math.sin(i / 50) * 10;
      const close = open + Math.cos(i / 7);
      rows.push([
        symbol,
        1000,
        utc(start),
        utc(start + 1000),
        open,
        Math.max(open, close) + 0.5,
        Math.min(open, close) - 0.5,
        close,
        1 + (i % 5),
        (open + close) / 2,
        3,
        (open + close) / 2,
        1,
        4,
      ]);
    }
    await db.connection.query(INSERT_CANDLES, [rows]);
  }
  await db.connection.query(INSERT_CANDLES, [
    [
      [
        symbol,
        60000,
        utc(Math.floor(last / 60000) * 60000),
        utc(Math.floor(last / 60000) * 60000 + 60000),
        1,
        2,
        0.5,
        1.5,
        9,
        null,
        9,
        1.2,
        0,
        9,
      ],
    ],
  ]);
  const trades = Array.from({ length: 30 }, (_, i) => [
    randomUUID(),
    symbol,
    100 + i,
    0.5,
    utc(last - 30_000 + i * 1000),
    utc(last - 30_000 + i * 1000 + 5),
    '[]',
  ]);
  await db.connection.query(
    'INSERT INTO trades (id, symbol, price, volume, trade_timestamp, ingest_timestamp, trade_conditions) VALUES ?',
    [trades],
  );
  return db;
}

export interface RunningDashboard {
  cli: RunningCli;
  url: string;
}

/** Starts `finpipe dashboard` on a free port and waits until it listens. */
export async function startDashboard(
  t: TestContext,
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<RunningDashboard> {
  const cli = startCli(t, ['dashboard', '--port', '0', '--status-interval', '1s', ...args], env);
  const url: string = await waitFor(
    'the dashboard to listen',
    () => {
      if (cli.child.exitCode !== null) throw new Error(`dashboard exited: ${cli.output().stderr}`);
      return /listening on (http:\/\/\S+?)(?:\/\?token|\s)/.exec(cli.output().stdout)?.[1] ?? '';
    },
    20_000,
  );
  return { cli, url };
}

/** A transactional producer (as `finpipe process` writes), disconnected after the test. */
export async function txProducer(t: TestContext): Promise<Producer> {
  const p = testKafka().producer({ transactionalId: `dash-test-${randomUUID()}`, idempotent: true, maxInFlightRequests: 1 });
  await p.connect();
  t.after(() => p.disconnect());
  return p;
}

/** Writes a candle and a trade to a per-symbol topic in one committed Kafka transaction. */
export async function writeCommitted(p: Producer, topic: string, candle: Candle, trade?: Trade): Promise<void> {
  const tx = await p.transaction();
  const { candle: cc, trade: tc } = codecs();
  const messages = [{ key: candle.symbol, value: cc.encode(candle), headers: { 'finpipe.type': 'candle' } }];
  if (trade) messages.push({ key: trade.symbol, value: tc.encode(trade), headers: { 'finpipe.type': 'trade' } });
  await tx.send({ topic, messages });
  await tx.commit();
}

export function candleAt(symbol: string, windowStart: number, version: number, close = 100 + version): Candle {
  return {
    symbol,
    window_ms: 1000,
    window_start: windowStart,
    window_end: windowStart + 1000,
    open: 100,
    high: Math.max(100, close) + 1,
    low: Math.min(100, close) - 1,
    close,
    volume: version,
    vwap: 100.5,
    trade_count: version,
    avg_price: 100.5,
    is_final: false,
    version,
  };
}

export function tradeAt(symbol: string, ms: number, price: number): Trade {
  return { id: randomUUID(), symbol, price, volume: 1, trade_timestamp: ms, ingest_timestamp: ms + 1, trade_conditions: [] };
}
