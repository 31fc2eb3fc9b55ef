import type { WebSocket } from 'ws';
import type { Candle, Trade } from '../serde';
import { DASHBOARD_LIMITS } from './options';

/** A candle as pushed to the page: the record's fields but avg_price, plus `ts`, when it was committed to Kafka. */
export type LiveCandle = Omit<Candle, 'avg_price'> & { ts: number };

export interface LiveTrade {
  id: string;
  symbol: string;
  price: number;
  volume: number;
  trade_timestamp: number;
}

interface Client {
  socket: WebSocket;
  symbol: string | null;
  windowMs: number | null;
  /** The newest version per window start, waiting to be sent. */
  candles: Map<number, LiveCandle>;
  trades: LiveTrade[];
}

export interface HubStats {
  clients: number;
  updatesSent: number;
  updatesDropped: number;
}

/**
 * The browsers and what each still has to receive. A client subscribes to one symbol and
 * window size; updates for it are coalesced: per window start only the newest candle is
 * kept, trades in a bounded list. They are sent every flush interval, and only while the
 * socket has little buffered, so a slow or stalled browser costs at most its bounded
 * pending updates: anything replaced or pushed out is counted as dropped, never queued.
 */
export class ClientHub {
  private readonly clients = new Set<Client>();
  private sent = 0;
  private dropped = 0;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => this.flush(), DASHBOARD_LIMITS.flushIntervalMs);
    this.timer.unref();
  }

  stats(): HubStats {
    return { clients: this.clients.size, updatesSent: this.sent, updatesDropped: this.dropped };
  }

  add(socket: WebSocket): void {
    const client: Client = { socket, symbol: null, windowMs: null, candles: new Map(), trades: [] };
    this.clients.add(client);
    socket.on('message', (data: Buffer) => this.onMessage(client, data));
    socket.on('close', () => this.clients.delete(client));
    socket.on('error', () => this.clients.delete(client));
    socket.send(JSON.stringify({ type: 'hello' }));
  }

  private onMessage(client: Client, data: Buffer): void {
    let message: { type?: unknown; symbol?: unknown; window?: unknown };
    try {
      message = JSON.parse(data.toString('utf8')) as typeof message;
    } catch {
      return;
    }
    if (message.type !== 'subscribe' || typeof message.symbol !== 'string') return;
    client.symbol = message.symbol;
    client.windowMs = typeof message.window === 'number' ? message.window : null;
    this.dropped += client.candles.size + client.trades.length;
    client.candles.clear();
    client.trades = [];
  }

  candle(candle: LiveCandle): void {
    for (const client of this.clients) {
      if (client.symbol !== candle.symbol || client.windowMs !== candle.window_ms) continue;
      if (client.candles.delete(candle.window_start)) this.dropped++; // a stale version, never sent
      client.candles.set(candle.window_start, candle);
      if (client.candles.size > DASHBOARD_LIMITS.pendingCandles) {
        const oldest = client.candles.keys().next().value as number;
        client.candles.delete(oldest);
        this.dropped++;
      }
    }
  }

  trade(trade: LiveTrade): void {
    for (const client of this.clients) {
      if (client.symbol !== trade.symbol) continue;
      client.trades.push(trade);
      if (client.trades.length > DASHBOARD_LIMITS.pendingTrades) {
        client.trades.shift();
        this.dropped++;
      }
    }
  }

  /** Sends each client its pending updates in one message, if its socket is not backed up. */
  flush(): void {
    for (const client of this.clients) {
      if (client.candles.size === 0 && client.trades.length === 0) continue;
      if (client.socket.readyState !== 1 || client.socket.bufferedAmount >= DASHBOARD_LIMITS.maxBufferedBytes) continue;
      const candles = [...client.candles.values()];
      const trades = client.trades;
      client.candles.clear();
      client.trades = [];
      client.socket.send(JSON.stringify({ type: 'update', candles, trades }));
      this.sent += candles.length + trades.length;
    }
  }

  close(): void {
    clearInterval(this.timer);
    for (const client of this.clients) client.socket.close(1001, 'dashboard stopping');
    this.clients.clear();
  }
}

export function liveCandle(candle: Candle, ts: number): LiveCandle {
  const { avg_price: _avg, ...shown } = candle;
  return { ...shown, ts };
}

export function liveTrade({ id, symbol, price, volume, trade_timestamp }: Trade): LiveTrade {
  return { id, symbol, price, volume, trade_timestamp };
}
