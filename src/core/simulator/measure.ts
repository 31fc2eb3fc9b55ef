/**
 * Throughput measurement: a websocket client that subscribes, counts what arrives for a
 * while, and reports rates. Point it at a simulator in another process for a clean number
 * (client and server then get a core each), or use measureSimulatorThroughput for a quick
 * same-process figure.
 */
import pino, { type Logger } from 'pino';
import { WebSocket } from 'ws';
import { DEFAULT_SIMULATED_SYMBOLS } from './catalog';
import { startSimulator } from './server';

export interface ThroughputOptions {
  /** ws://host:port of a running simulator (or anything Finnhub-compatible). */
  url: string;
  token?: string;
  symbols: string[];
  /** Measurement window after the first trade frame arrives. */
  durationMs: number;
  /** JSON.parse every frame (what a real consumer pays); default true. Off: count by scanning. */
  parse?: boolean;
}

export interface ThroughputResult {
  trades: number;
  frames: number;
  bytes: number;
  elapsedMs: number;
  tradesPerSec: number;
  framesPerSec: number;
  megabytesPerSec: number;
}

export function measureThroughput(opts: ThroughputOptions): Promise<ThroughputResult> {
  const parse = opts.parse ?? true;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${opts.url}?token=${encodeURIComponent(opts.token ?? 'measure')}`, { perMessageDeflate: false });
    let trades = 0;
    let frames = 0;
    let bytes = 0;
    let start = 0;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      const elapsedMs = performance.now() - start;
      ws.terminate();
      resolve({
        trades,
        frames,
        bytes,
        elapsedMs,
        tradesPerSec: (trades * 1000) / elapsedMs,
        framesPerSec: (frames * 1000) / elapsedMs,
        megabytesPerSec: (bytes * 1000) / elapsedMs / 1e6,
      });
    };
    ws.on('open', () => {
      for (const symbol of opts.symbols) ws.send(JSON.stringify({ type: 'subscribe', symbol }));
    });
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) return;
      const text = data.toString('utf8');
      let n = 0;
      if (parse) {
        try {
          const msg = JSON.parse(text) as { type?: string; data?: unknown[] };
          if (msg.type === 'trade' && Array.isArray(msg.data)) n = msg.data.length;
        } catch {
          return;
        }
      } else if (text.startsWith('{"type":"trade"')) {
        for (let i = text.indexOf('{"s":'); i >= 0; i = text.indexOf('{"s":', i + 5)) n++;
      }
      if (n === 0) return;
      if (start === 0) {
        // The clock starts at the first trade frame, which is not counted.
        start = performance.now();
        timer = setTimeout(finish, opts.durationMs);
        return;
      }
      trades += n;
      frames++;
      bytes += data.length;
    });
    ws.on('error', (err) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      reject(err);
    });
    // A server that closes early (maxTrades is not it: that keeps the socket open) ends the
    // measurement with what arrived so far.
    ws.on('close', (code) => {
      if (settled) return;
      if (start > 0 && frames > 0) return finish();
      settled = true;
      if (timer) clearTimeout(timer);
      reject(new Error(`connection closed (code ${code}) before trades arrived`));
    });
  });
}

/** Starts a rate-0 simulator in this process, measures one client for durationMs, closes it. */
export async function measureSimulatorThroughput(opts: {
  durationMs: number;
  symbols?: string[];
  parse?: boolean;
  logger?: Logger;
}): Promise<ThroughputResult> {
  const symbols = opts.symbols ?? DEFAULT_SIMULATED_SYMBOLS.slice(0, 10);
  const sim = await startSimulator({ port: 0, symbols, rate: 0, seed: 1, logger: opts.logger ?? pino({ level: 'silent' }) });
  try {
    return await measureThroughput({ url: sim.url, symbols, durationMs: opts.durationMs, parse: opts.parse });
  } finally {
    await sim.close();
  }
}
