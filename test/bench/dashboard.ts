import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import puppeteer from 'puppeteer-core';
import WebSocket from 'ws';
import { createTopic, waitFor } from '../helpers/kafka';
import { candleAt, seedDatabase, tradeAt, txProducer } from '../integration/dashboard-fixtures';
import { codecs } from '../../src/core/serde';
import { emitResult, fmt, percentile, startFinpipe } from './lib';

/**
 * `npm run bench:dashboard`: the dashboard in headless Chromium (Debian's /usr/bin/chromium).
 *   1. page ready time with 10,000 1s candles of history;
 *   2. p50/p99 from a candle committed to its per-symbol topic to it drawn in the page
 *      (measured in the page, from the Kafka record's timestamp to the next animation frame),
 *      at ~1,000 trades/s (100 transactions/s of 10 trades and one candle version each);
 *   3. the server's RSS with 50 websocket clients subscribed, one of them stalled (its socket
 *      paused, so it never reads), while the feed runs.
 * Figures are printed, not asserted.
 */
const CANDLES = 10_000;
const FEED_SECONDS = 15;

async function main(): Promise<void> {
  const cleanups: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;
  try {
    const symbol = `BENCH:${randomUUID().slice(0, 8)}`;
    const db = await seedDatabase(t, symbol, CANDLES);
    const topic = await createTopic(t, 'dash-bench', 1);
    const dashboard = startFinpipe(['dashboard', '--port', '0', '--pattern', topic], { FINPIPE_MYSQL_URL: db.url });
    cleanups.push(() => dashboard.stop());
    const url = (await waitFor('the dashboard', () => /listening on (http:\/\/\S+)/.exec(dashboard.output())?.[1], 20_000))!;
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${dashboard.proc.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

    const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 720 });
    const started = Date.now();
    await page.goto(url, { waitUntil: 'load' });
    await waitFor('the chart', async () => (await page.evaluate('window.__finpipe.bars()')) === CANDLES, 60_000, 20);
    const readyMs = Date.now() - started;
    console.log(`page ready with ${fmt(CANDLES)} candles: ${fmt(readyMs)} ms`);

    // 49 reading clients and one stalled one, all subscribed to the symbol.
    const clients: WebSocket[] = [];
    for (let i = 0; i < 50; i++) {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      ws.send(JSON.stringify({ type: 'subscribe', symbol, window: 1000 }));
      clients.push(ws);
    }
    cleanups.push(() => clients.forEach((c) => c.terminate()));
    (clients[0] as unknown as { _socket: { pause(): void } })._socket.pause();
    const rssBefore = rss();

    const producer = await txProducer(t);
    const { candle: cc, trade: tc } = codecs();
    await waitFor('the live feed to subscribe', () => /live feed subscribed/.test(dashboard.output()), 20_000);
    const feedStart = Date.now();
    let version = 0;
    let trades = 0;
    let rssPeak = rssBefore;
    while (Date.now() - feedStart < FEED_SECONDS * 1000) {
      const tickStart = Date.now();
      const start = Math.floor(tickStart / 1000) * 1000;
      const tx = await producer.transaction();
      const messages = Array.from({ length: 10 }, (_, i) => ({
        key: symbol,
        value: tc.encode(tradeAt(symbol, tickStart + i, 100 + i)),
        headers: { 'finpipe.type': 'trade' },
      }));
      messages.push({
        key: symbol,
        value: cc.encode(candleAt(symbol, start, ++version, 100 + (version % 13))),
        headers: { 'finpipe.type': 'candle' },
      });
      await tx.send({ topic, messages });
      await tx.commit();
      trades += 10;
      if (version % 100 === 0) rssPeak = Math.max(rssPeak, rss());
      const wait = 10 - (Date.now() - tickStart);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait)); // pacing the feed at ~100 transactions/s
    }
    const seconds = (Date.now() - feedStart) / 1000;
    const latencies = (await page.evaluate('window.__finpipe.latencies()')) as number[];
    const rssAfter = rss();
    const p50 = percentile(latencies, 0.5);
    const p99 = percentile(latencies, 0.99);
    console.log(`feed: ${fmt(trades / seconds)} trades/s, ${fmt(version / seconds)} candle versions/s for ${fmt(seconds, 1)} s`);
    console.log(
      `candle committed in Kafka -> drawn in the page: p50 ${fmt(p50)} ms, p99 ${fmt(p99)} ms (${fmt(latencies.length)} candles drawn)`,
    );
    console.log(
      `server RSS with 50 websocket clients (1 stalled): ${fmt(rssBefore, 1)} MiB before the feed, ` +
        `peak ${fmt(rssPeak, 1)} MiB, ${fmt(rssAfter, 1)} MiB after ${fmt(seconds)} s`,
    );
    emitResult('dashboard', {
      readyMs,
      candles: CANDLES,
      tradesPerSec: trades / seconds,
      p50Ms: p50,
      p99Ms: p99,
      rssBeforeMiB: rssBefore,
      rssPeakMiB: rssPeak,
      rssAfterMiB: rssAfter,
    });
  } finally {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => {});
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
