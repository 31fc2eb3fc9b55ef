import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import puppeteer, { type Page } from 'puppeteer-core';
import { createTopic, waitFor } from '../helpers/kafka';
import { freePort } from '../../src/core/net';
import { migrate } from '../../src/core/stores/mysql/schema';
import { createDatabase } from '../helpers/mysql';
import { candleAt, seedDatabase, startDashboard, tradeAt, txProducer, utc, writeCommitted } from './dashboard-fixtures';

const CHROMIUM = '/usr/bin/chromium';
const onCi = process.env.CI === 'true';
const missing = !existsSync(CHROMIUM);
if (missing && !onCi) {
  process.stderr.write(
    `\n!!! SKIPPING the dashboard browser test: ${CHROMIUM} is missing. Install it with ` +
      '`apt-get update && apt-get install -y chromium` (on CI this test fails instead). !!!\n\n',
  );
}
/** Set FINPIPE_UPDATE_SCREENSHOT=1 to rewrite docs/dashboard.png (the README's picture). */
const SCREENSHOT = process.env.FINPIPE_UPDATE_SCREENSHOT
  ? path.resolve(__dirname, '../../../docs/dashboard.png')
  : path.join(os.tmpdir(), 'finpipe-dashboard.png');

interface PageCandle {
  window_start: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

const pageCall = <T>(page: Page, fn: string): Promise<T> =>
  page.evaluate(`window.__finpipe ? window.__finpipe.${fn}() : null`) as Promise<T>;

test(
  'the page draws MySQL history, takes live trades and candles over the websocket and survives a server restart',
  { skip: missing && !onCi },
  async (t) => {
    assert.ok(!missing, `${CHROMIUM} is missing on CI: .ci/run installs it (apt-get install -y chromium)`);
    const symbol = `DASHB:${randomUUID().slice(0, 8)}`;
    const db = await seedDatabase(t, symbol, 600);
    const topic = await createTopic(t, 'dash-browser', 1);
    const port = await freePort();
    const env = { FINPIPE_MYSQL_URL: db.url };
    let dashboard = await startDashboard(t, ['--pattern', topic, '--port', String(port)], env);

    // Data flows the whole time: a candle and a trade per tick, committed to Kafka and (as the sink would) upserted in MySQL.
    const producer = await txProducer(t);
    let running = true;
    let version = 0;
    const written: string[] = [];
    const flowing = (async () => {
      while (running) {
        const start = Math.floor(Date.now() / 1000) * 1000;
        const candle = candleAt(symbol, start, ++version, 100 + (version % 7));
        const trade = tradeAt(symbol, Date.now(), 100 + (version % 7));
        await writeCommitted(producer, topic, candle, trade);
        await db.connection.query(
          `INSERT INTO candles (symbol, window_ms, window_start, window_end, open, high, low, close, volume, vwap, trade_count, avg_price, is_final, version)
         VALUES (?, 1000, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?) ON DUPLICATE KEY UPDATE open = VALUES(open), high = VALUES(high), low = VALUES(low),
         close = VALUES(close), volume = VALUES(volume), version = VALUES(version)`,
          [
            symbol,
            utc(start),
            utc(start + 1000),
            candle.open,
            candle.high,
            candle.low,
            candle.close,
            candle.volume,
            candle.vwap,
            candle.trade_count,
            candle.avg_price,
            version,
          ],
        );
        written.push(trade.id);
        await new Promise((r) => setTimeout(r, 200)); // pacing the feed, not waiting for a result
      }
    })();
    const stopFlowing = async () => {
      running = false;
      await flowing;
    };
    // Also stopped at the end of the test: the database connection is closed by an earlier
    // cleanup hook, and a feed still writing then fails the test.
    t.after(() => stopFlowing().catch(() => {}));

    const browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] });
    t.after(() => browser.close());
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 720 });
    await page.goto(dashboard.url, { waitUntil: 'load' });
    await waitFor(
      'the chart',
      async () => (await pageCall<boolean>(page, 'ready')) && (await pageCall<number>(page, 'bars')) > 500,
      20_000,
    );
    assert.equal(await pageCall<string>(page, 'symbol'), symbol);

    // The last candle drawn equals MySQL's newest row (both move while data flows: wait until they agree).
    await waitFor('the last candle on the page to equal MySQL', async () => {
      const shown = await pageCall<PageCandle>(page, 'lastCandle');
      const [[row]] = await db.connection.query<RowDataPacket[]>(
        `SELECT UNIX_TIMESTAMP(window_start) * 1000 AS ws, open, high, low, close, volume FROM candles
       WHERE symbol = ? AND window_ms = 1000 ORDER BY window_start DESC LIMIT 1`,
        [symbol],
      );
      return (
        shown &&
        shown.window_start === Number(row.ws) &&
        shown.open === row.open &&
        shown.high === row.high &&
        shown.low === row.low &&
        shown.close === row.close &&
        shown.volume === row.volume
      );
    });

    // A trade written after the page loaded reaches its tape without a reload.
    const after = written.length;
    await waitFor('a new trade on the page', async () => {
      const ids = new Set((await pageCall<{ id: string }[]>(page, 'trades')).map((x) => x.id));
      return written.slice(after).some((id) => ids.has(id));
    });
    await page.screenshot({ path: SCREENSHOT });

    // Restart the server on the same port: the page reconnects and takes live trades again.
    await dashboard.cli.stop();
    await waitFor('the page to notice the restart', async () => !(await pageCall<boolean>(page, 'live')));
    dashboard = await startDashboard(t, ['--pattern', topic, '--port', String(port)], env);
    await waitFor('the page to reconnect', async () => pageCall<boolean>(page, 'live'), 20_000);
    const mark = written.length;
    await waitFor(
      'a trade after the restart on the page',
      async () => {
        const ids = new Set((await pageCall<{ id: string }[]>(page, 'trades')).map((x) => x.id));
        return written.slice(mark).some((id) => ids.has(id));
      },
      30_000,
    );
    const errors = (await page.evaluate("document.getElementById('banner').hidden")) as boolean;
    assert.equal(errors, true, 'no error banner once everything is back');
    await stopFlowing();
  },
);

test(
  'the page says what is wrong while there is no data, and recovers by itself when data arrives',
  { skip: missing && !onCi },
  async (t) => {
    assert.ok(!missing, `${CHROMIUM} is missing on CI: .ci/run installs it (apt-get install -y chromium)`);
    const db = await createDatabase(t, 'fp_dashempty');
    const dashboard = await startDashboard(t, ['--pattern', 'no-such-topic'], { FINPIPE_MYSQL_URL: db.url });
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] });
    t.after(() => browser.close());
    const page = await browser.newPage();
    await page.goto(dashboard.url, { waitUntil: 'load' });
    const banner = () =>
      page.evaluate("document.getElementById('banner').hidden ? '' : document.getElementById('banner').textContent") as Promise<string>;
    await waitFor('the "no data yet" banner', async () => /no data yet/.test(await banner()));

    // The sink creates its tables and writes: the page picks it up without a reload.
    const symbol = `DASHE:${randomUUID().slice(0, 8)}`;
    await db.connection.query(`USE \`${db.name}\``);
    await migrate(db.connection, db.name);
    await db.connection.query(
      `INSERT INTO candles (symbol, window_ms, window_start, window_end, open, high, low, close, volume, vwap, trade_count, avg_price, is_final, version)
     VALUES (?, 10000, '2026-01-02 03:04:00', '2026-01-02 03:04:10', 1, 2, 0.5, 1.5, 3, NULL, 3, 1.2, 1, 4)`,
      [symbol],
    );
    await waitFor('the page to draw the new data', async () => (await pageCall<boolean>(page, 'ready')) && (await banner()) === '', 20_000);
    assert.deepEqual(
      await pageCall<PageCandle>(page, 'lastCandle').then((c) => [c.window_start, c.open, c.high, c.low, c.close, c.volume]),
      [Date.UTC(2026, 0, 2, 3, 4, 0), 1, 2, 0.5, 1.5, 3],
    );
  },
);

test('panning to the left edge loads older history', { skip: missing && !onCi }, async (t) => {
  assert.ok(!missing, `${CHROMIUM} is missing on CI: .ci/run installs it (apt-get install -y chromium)`);
  const symbol = `DASHO:${randomUUID().slice(0, 8)}`;
  const db = await seedDatabase(t, symbol, 10_500);
  const dashboard = await startDashboard(t, ['--pattern', 'no-such-topic'], { FINPIPE_MYSQL_URL: db.url });
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(dashboard.url, { waitUntil: 'load' });
  await waitFor('the first 10,000 candles', async () => (await pageCall<number>(page, 'bars')) === 10_000, 20_000);
  await pageCall(page, 'scrollToOldest');
  await waitFor('the older 500 candles', async () => (await pageCall<number>(page, 'bars')) === 10_500, 20_000);
});

test('with MySQL unreachable the page says so in its banner and health strip', { skip: missing && !onCi }, async (t) => {
  assert.ok(!missing, `${CHROMIUM} is missing on CI: .ci/run installs it (apt-get install -y chromium)`);
  const dashboard = await startDashboard(t, ['--pattern', 'no-such-topic'], {
    FINPIPE_MYSQL_URL: 'mysql://root:pw-never-shown@127.0.0.1:1/finpipe',
  });
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(dashboard.url, { waitUntil: 'load' });
  await waitFor('the banner and the health strip', async () => {
    const text = (await page.evaluate(
      "document.getElementById('banner').textContent + ' | ' + document.getElementById('health').textContent",
    )) as string;
    return /the store cannot be read/.test(text) && /mysql DOWN/.test(text);
  });
  const html = await page.content();
  assert.doesNotMatch(html, /pw-never-shown/);
});
