/**
 * The Finnhub websocket client (wss://ws.finnhub.io?token=...), built for the real
 * service's habits (docs/finnhub-protocol.md): connections drop every few minutes, pings stop
 * after hours, a symbol without trading sends nothing, HTTP 429 when a key is over its
 * limit. So it
 *   - reconnects forever with exponential backoff and jitter (the attempt counter resets
 *     once a connection has delivered a frame), resubscribing every symbol each time;
 *   - runs a watchdog: no frame at all (trade or ping) for `watchdogMs` => reconnect;
 *   - treats HTTP 401/403 on the upgrade as fatal (a bad token does not fix itself) and
 *     logs HTTP 429 with what it means;
 *   - pauses the socket while the sink applies backpressure (TCP then slows the server).
 * The token is sent only in the upgrade URL and never logged: `description` and dead
 * letter origins use the URL without it.
 */
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { FinpipeError } from '../errors';
import type { Logger } from '../log';
import { PRODUCE_DEFAULTS } from '../produce/options';
import { backoffDelay, sleep, type BackoffOptions } from '../retry';
import { redactUrl } from '../redact';
import type { FrameSink, TradeSource } from './types';

export interface FinnhubWsOptions {
  /** ws:// or wss:// URL without the token. */
  url: string;
  token: string;
  symbols: string[];
  logger: Logger;
  /** Reconnect when nothing arrived for this long. */
  watchdogMs?: number;
  /** Reconnect delays. */
  backoff?: BackoffOptions;
  /** Upgrade handshake timeout (default 10 s). */
  connectTimeoutMs?: number;
}

interface Outcome {
  /** Why the connection ended, for the log. */
  reason: string;
  /** The connection delivered at least one frame: the next reconnect starts with a short delay. */
  healthy: boolean;
  fatal?: unknown;
  /** HTTP 429: back off at least this long. */
  minDelayMs?: number;
}

/** How long to wait after HTTP 429 before trying again: long enough for a per-minute limit to reset. */
const TOO_MANY_REQUESTS_DELAY_MS = 15_000;

/** A URL with any `token=` parameter removed (dead-letter origin, logs). */
export function urlWithoutToken(url: string): string {
  try {
    const u = new URL(url);
    u.searchParams.delete('token');
    return u.toString().replace(/\/$/, '').replace(/\/\?$/, '');
  } catch {
    return redactUrl(url);
  }
}

export class FinnhubWebSocketSource implements TradeSource {
  readonly description: string;
  reconnects = 0;
  /** Watchdog reconnects: no frame at all (trade or ping) for the watchdog period. */
  frameGaps = 0;
  /** Trade, ping and error frames received, over all connections. */
  framesReceived = 0;
  private connections = 0;
  private readonly watchdogMs: number;
  private readonly backoff: BackoffOptions;
  private readonly log: Logger;

  constructor(private readonly opts: FinnhubWsOptions) {
    this.description = urlWithoutToken(opts.url);
    this.watchdogMs = opts.watchdogMs ?? PRODUCE_DEFAULTS.watchdogMs;
    this.backoff = { ...PRODUCE_DEFAULTS.reconnectBackoff, ...opts.backoff };
    this.log = opts.logger.child({ module: 'finnhub-ws' });
  }

  // A supervision loop, not retry(): it never gives up, a connection that delivered frames
  // resets the backoff (a drop every few minutes is normal, not an outage), and the outcome
  // can demand a longer wait (HTTP 429). retry() counts attempts from its first call and
  // ends at the first success, so expressing this with it would take more hooks than lines.
  async run(sink: FrameSink, signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      const outcome = await this.connectOnce(sink, signal);
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows the caught value unchanged (unknown narrowed to {} by the check)
      if (outcome.fatal) throw outcome.fatal;
      if (signal.aborted) return;
      if (outcome.healthy) attempt = 0;
      const delay = Math.max(outcome.minDelayMs ?? 0, backoffDelay(attempt++, this.backoff));
      this.log.warn(
        { url: this.description, reason: outcome.reason, retryInMs: delay, attempt },
        `websocket ${outcome.reason}; reconnecting in ${delay} ms`,
      );
      await sleep(delay, signal);
    }
  }

  private connectOnce(sink: FrameSink, signal: AbortSignal): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const target = new URL(this.opts.url);
      target.searchParams.set('token', this.opts.token);
      const ws = new WebSocket(target.toString(), {
        perMessageDeflate: false,
        handshakeTimeout: this.opts.connectTimeoutMs ?? 10_000,
        maxPayload: 64 * 1024 * 1024,
      });
      new Connection(ws, this, sink, signal, resolve);
    });
  }

  /** Called by a Connection once its socket is open: counts the reconnect and subscribes. */
  onOpen(ws: WebSocket): void {
    if (this.connections++ > 0) this.reconnects++;
    for (const symbol of this.opts.symbols) ws.send(JSON.stringify({ type: 'subscribe', symbol }));
    this.log.info(
      { url: this.description, symbols: this.opts.symbols.length, reconnects: this.reconnects },
      `connected; subscribed to ${this.opts.symbols.length} symbols`,
    );
  }

  get logger(): Logger {
    return this.log;
  }

  get silenceLimitMs(): number {
    return this.watchdogMs;
  }
}

/**
 * One websocket's life, from the upgrade to the outcome that ends it (closed, refused,
 * silent, stopped, or the sink failed). It forwards frames to the sink, pauses the socket
 * while the sink asks it to wait, and runs the silence watchdog.
 */
class Connection {
  private frames = 0;
  private opened = false;
  /** Sink promises outstanding: the socket stays paused while > 0. */
  private waits = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private lastError: Error | undefined;
  private done = false;
  private readonly onAbort = (): void => this.finish({ reason: 'stopped', healthy: true });

  constructor(
    private readonly ws: WebSocket,
    private readonly source: FinnhubWebSocketSource,
    private readonly sink: FrameSink,
    private readonly signal: AbortSignal,
    private readonly resolve: (outcome: Outcome) => void,
  ) {
    signal.addEventListener('abort', this.onAbort, { once: true });
    ws.on('unexpected-response', (_req, res) => this.refused(res));
    ws.on('open', () => {
      this.opened = true;
      source.onOpen(ws);
      this.armWatchdog();
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('error', (error) => (this.lastError = error));
    ws.on('close', (code, reason) => {
      const why = reason.length > 0 ? `: ${reason.toString('utf8')}` : '';
      const cause = this.lastError ? ` (${this.lastError.message})` : '';
      const ended = !this.opened ? `could not connect${cause}` : `closed with code ${code}${why}${cause}`;
      this.finish({ reason: ended, healthy: this.frames > 0 });
    });
  }

  private finish(outcome: Outcome): void {
    if (this.done) return;
    this.done = true;
    const { ws } = this;
    clearTimeout(this.watchdog);
    this.signal.removeEventListener('abort', this.onAbort);
    ws.removeAllListeners();
    ws.on('error', () => {}); // late errors of a socket we no longer use
    // A paused socket would never read the server's close frame (nor notice EOF), and
    // ws would hold it open for its 30 s close timeout. Frames still arriving are
    // ignored: the message listener is gone.
    if (ws.isPaused) ws.resume();
    if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'finpipe stopping');
    else if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    this.resolve(outcome);
  }

  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    if (this.done || this.waits > 0) return; // paused by us: silence is our own doing
    const limit = this.source.silenceLimitMs;
    this.watchdog = setTimeout(() => {
      this.source.frameGaps++;
      this.source.logger.warn({ url: this.source.description, silentMs: limit }, `no frame (trade or ping) for ${limit} ms; reconnecting`);
      this.finish({ reason: `silent for ${limit} ms (watchdog)`, healthy: this.frames > 0 });
    }, limit);
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.done) return;
    this.frames++;
    this.source.framesReceived++;
    let wait: void | Promise<void>;
    try {
      wait = this.sink.frame(data, isBinary, this.source.description);
    } catch (error) {
      this.finish({ reason: 'sink failed', healthy: false, fatal: error });
      return;
    }
    if (wait) {
      if (this.waits++ === 0) this.ws.pause();
      wait.then(
        () => {
          if (--this.waits === 0 && !this.done) this.ws.resume();
          if (!this.done) this.armWatchdog();
        },
        (error) => this.finish({ reason: 'sink failed', healthy: false, fatal: error }),
      );
    }
    this.armWatchdog();
  }

  /** The upgrade was answered with an HTTP error: read (a little of) its body, then decide. */
  private refused(res: IncomingMessage): void {
    const status = res.statusCode ?? 0;
    let body = '';
    res.setEncoding('utf8');
    const report = (): void => {
      clearTimeout(timer);
      this.finish(this.refusal(status, body.trim() ? `: ${body.trim()}` : ''));
    };
    res.on('data', (chunk: string) => (body = (body + chunk).slice(0, 500)));
    res.on('end', report);
    res.on('error', report);
    const timer = setTimeout(report, 1000);
  }

  private refusal(status: number, detail: string): Outcome {
    const url = this.source.description;
    if (status === 401 || status === 403) {
      return {
        reason: `HTTP ${status}`,
        healthy: false,
        fatal: new FinpipeError('SOURCE_ERROR', `Finnhub refused the websocket at ${url}: HTTP ${status}${detail}`, {
          hint: 'check FINNHUB_TOKEN (get a free key at https://finnhub.io/register), or run against `finpipe simulate`',
        }),
      };
    }
    if (status === 429) {
      this.source.logger.error(
        { url, status },
        `Finnhub answered HTTP 429 Too Many Requests${detail}: this API key is over its limit ` +
          '(the free tier allows one websocket per key; a second connection drops both). ' +
          `Waiting at least ${TOO_MANY_REQUESTS_DELAY_MS / 1000} s`,
      );
      return { reason: 'refused with HTTP 429', healthy: false, minDelayMs: TOO_MANY_REQUESTS_DELAY_MS };
    }
    return { reason: `refused with HTTP ${status}${detail}`, healthy: false };
  }
}
