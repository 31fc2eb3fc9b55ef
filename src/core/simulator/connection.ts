/**
 * One client connection: its subscriptions, its trade stream and the pacing of that stream.
 *
 * Client → server (text frames):
 *   {"type":"subscribe","symbol":"BINANCE:BTCUSDT"} / {"type":"unsubscribe","symbol":"..."}
 * Server → client:
 *   {"type":"trade","data":[{"s":..,"p":..,"t":..,"v":..,"c":[..]}, ...]}  one or more trades, mixed symbols
 *   {"type":"ping"}                                                       heartbeat (sent by the server loop)
 *   {"type":"error","msg":"..."}                                          bad client frame / symbol limit
 *
 * Pacing: a token bucket per connection (rate > 0) or as fast as the socket drains
 * (rate 0). Frames carry a random burst of 1..N trades so arrivals are bursty. Every send
 * is gated on ws.bufferedAmount: above HIGH_WATER the pump stops and resumes from a send
 * callback once the buffer is back under LOW_WATER, so a slow client costs bounded memory.
 * The pump yields to the event loop (setImmediate) every few frames so pings, other
 * clients and REST calls are served between bursts.
 */
import type { Logger } from 'pino';
import { WebSocket, type RawData } from 'ws';
import { TradeEngine } from './generator';
import { buildMalformed } from './malformed';
import { deriveSeed, mulberry32 } from './prng';
import type { SimulatorStats } from './types';

const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 << 10;
const MAX_FRAMES_PER_TURN = 8;
const MAX_TURN_MS = 4;
/** Upper bound of trades in one frame. */
export const MAX_TRADES_PER_FRAME = 500;

const PING_FRAME = '{"type":"ping"}';
export const TOO_MANY_SYMBOLS = 'Subscribing to too many symbols';

export interface ConnectionConfig {
  seed: number;
  rate: number;
  symbolLimit: number;
  maxTrades: number; // Infinity when unlimited
  malformedFraction: number;
  simulated: ReadonlySet<string>;
}

export class ClientConnection {
  readonly subscriptions = new Set<string>();
  private readonly engine: TradeEngine;
  /** Pacing and fault decisions; seeded so runs are repeatable, but not part of the trade sequence. */
  private readonly rand: () => number;
  private readonly maxBurst: number;
  private pendingBurst: number;
  private tokens = 0;
  private lastRefill = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private waitingDrain = false;
  private disposed = false;
  private validTrades = 0;

  constructor(
    readonly id: number,
    private readonly ws: WebSocket,
    private readonly cfg: ConnectionConfig,
    private readonly stats: SimulatorStats,
    private readonly log: Logger,
  ) {
    this.engine = new TradeEngine(cfg.seed, Date.now(), 'wall');
    this.rand = mulberry32(deriveSeed(cfg.seed, `\u0000pacing`));
    this.maxBurst = cfg.rate > 0 ? Math.min(MAX_TRADES_PER_FRAME, Math.max(4, Math.ceil(cfg.rate / 50))) : MAX_TRADES_PER_FRAME;
    this.pendingBurst = this.drawBurst();
  }

  /** Frames of 1..maxBurst trades, skewed small for paced streams (mostly small frames, occasional bursts). */
  private drawBurst(): number {
    const u = this.rand();
    return this.cfg.rate > 0 ? 1 + Math.floor(u * u * this.maxBurst) : 1 + Math.floor(u * this.maxBurst);
  }

  handleMessage(raw: RawData, isBinary: boolean): void {
    if (this.disposed) return;
    if (isBinary) {
      this.sendError('Binary frames are not supported');
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(rawToString(raw));
    } catch {
      this.sendError('Malformed message: invalid JSON');
      return;
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      this.sendError('Malformed message: expected an object');
      return;
    }
    const { type, symbol } = msg as { type?: unknown; symbol?: unknown };
    switch (type) {
      case 'subscribe':
      case 'unsubscribe':
        if (typeof symbol !== 'string' || symbol.length === 0) {
          this.sendError(`Malformed message: ${type} needs a non-empty "symbol" string`);
          return;
        }
        if (type === 'subscribe') this.subscribe(symbol);
        else this.unsubscribe(symbol);
        return;
      case 'ping':
      case 'pong':
        return; // some clients echo heartbeats; Finnhub ignores them
      default:
        this.sendError('Unknown message type');
    }
  }

  private subscribe(symbol: string): void {
    if (this.subscriptions.has(symbol)) return;
    // Unknown symbols count toward the limit: the real server cannot know a symbol will stay silent.
    if (this.subscriptions.size >= this.cfg.symbolLimit) {
      this.sendError(TOO_MANY_SYMBOLS);
      return;
    }
    this.subscriptions.add(symbol);
    if (!this.cfg.simulated.has(symbol)) {
      this.log.debug({ conn: this.id, symbol }, 'subscription to a symbol that is not simulated: it stays silent');
      return;
    }
    this.engine.add(symbol);
    this.kick();
  }

  private unsubscribe(symbol: string): void {
    if (!this.subscriptions.delete(symbol)) return;
    this.engine.remove(symbol);
  }

  sendPing(): void {
    this.sendFrame(PING_FRAME, false);
  }

  private sendError(msg: string): void {
    this.sendFrame(JSON.stringify({ type: 'error', msg }), false);
  }

  private sendFrame(data: string | Buffer, binary: boolean): void {
    if (this.disposed || this.ws.readyState !== WebSocket.OPEN) return;
    this.stats.framesSent++;
    this.ws.send(data, { binary }, this.onSent);
  }

  private readonly onSent = (): void => {
    if (this.waitingDrain && !this.disposed && this.ws.bufferedAmount <= LOW_WATER) {
      this.waitingDrain = false;
      this.schedule(0);
    }
  };

  /** Starts the pump if it is idle (first subscription, or resubscribe after idling). */
  private kick(): void {
    if (this.timer || this.immediate || this.waitingDrain) return;
    this.tokens = 0;
    this.lastRefill = performance.now();
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.disposed || this.timer || this.immediate) return;
    if (delayMs <= 0) this.immediate = setImmediate(this.pump);
    else this.timer = setTimeout(this.pump, delayMs);
  }

  private readonly pump = (): void => {
    this.immediate = undefined;
    this.timer = undefined;
    if (this.disposed || this.ws.readyState !== WebSocket.OPEN) return;
    if (this.engine.activeCount === 0 || this.validTrades >= this.cfg.maxTrades) return; // idle until kicked
    if (this.ws.bufferedAmount > HIGH_WATER) {
      this.waitingDrain = true;
      return;
    }
    const rate = this.cfg.rate;
    const start = performance.now();
    if (rate > 0) {
      // The cap lets late timers catch up (up to 50 ms of trades) without a flood after a stall.
      this.tokens = Math.min(
        this.pendingBurst + Math.max(this.maxBurst, rate * 0.05),
        this.tokens + ((start - this.lastRefill) * rate) / 1000,
      );
      this.lastRefill = start;
    }
    this.engine.setNow(Date.now());
    for (let frames = 0; ;) {
      if (rate > 0 && this.tokens < this.pendingBurst) {
        this.schedule(Math.max(1, Math.ceil(((this.pendingBurst - this.tokens) * 1000) / rate)));
        return;
      }
      const n = Math.min(this.pendingBurst, this.cfg.maxTrades - this.validTrades);
      if (n <= 0) return; // maxTrades reached: only pings from now on
      this.sendTrades(n);
      this.tokens -= this.pendingBurst;
      this.pendingBurst = this.drawBurst();
      if (this.disposed || this.engine.activeCount === 0) return;
      if (this.ws.bufferedAmount > HIGH_WATER) {
        this.waitingDrain = true;
        return;
      }
      if (++frames >= MAX_FRAMES_PER_TURN || performance.now() - start >= MAX_TURN_MS) {
        this.schedule(0);
        return;
      }
    }
  };

  private sendTrades(n: number): void {
    const f = this.cfg.malformedFraction;
    if (f > 0 && this.rand() < f) {
      const bad = buildMalformed(this.engine.next(), this.rand());
      this.stats.malformedSent++;
      this.sendFrame(bad.data, bad.binary);
      return;
    }
    const frame = '{"type":"trade","data":[' + this.engine.nextJson(n) + ']}';
    this.validTrades += n;
    this.stats.tradesSent += n;
    this.sendFrame(frame, false);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** The dropEverySec fault: an abrupt close, no close frame (the client sees 1006). */
  terminate(): void {
    this.dispose();
    this.ws.terminate();
  }

  /** Stops the pump; idempotent. */
  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }
}

function rawToString(raw: RawData): string {
  if (typeof raw === 'string') return raw;
  if (Buffer.isBuffer(raw)) return raw.toString('utf8');
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  return Buffer.from(raw).toString('utf8');
}
