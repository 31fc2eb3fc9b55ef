/**
 * HTTP ingestion (a REST layer in front of Kafka, for senders that push trades): `POST /trades` with a JSON
 * array of Finnhub trades, validated like websocket frames.
 *
 *   202 {"accepted": N}                         every trade is queued for Kafka
 *   400 {"error": "...", "reasons": [...]}      nothing from this request is written; every
 *                                               reason is listed (the body is also kept on the
 *                                               dead-letter topic, source "http")
 *   413 body over the limit, 404/405 other paths/methods, 503 while shutting down
 *   GET /health -> 200 {"status":"ok"}
 *
 * A request is all-or-nothing, unlike a websocket frame: the client is told, so it can fix
 * the request and send it again without duplicating the trades that were fine.
 * Backpressure: when the producer's buffer is full the answer waits until there is room.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FinpipeError } from '../errors';
import type { Logger } from '../log';
import { PRODUCE_DEFAULTS } from '../produce/options';
import { validateTrades } from './frames';
import type { FrameSink, TradeSource } from './types';

export interface HttpSourceOptions {
  port: number;
  /** Use 0.0.0.0 to accept requests from other machines. */
  host?: string;
  /** Largest accepted body, default 8 MiB. */
  maxBodyBytes?: number;
  logger: Logger;
  /** Called once listening, with the actual port (useful with port 0). */
  onListening?: (port: number) => void;
}

export class HttpSource implements TradeSource {
  readonly reconnects = 0;
  description: string;
  requests = 0;
  rejected = 0;
  private readonly host: string;
  private readonly log: Logger;

  constructor(private readonly opts: HttpSourceOptions) {
    this.host = opts.host ?? PRODUCE_DEFAULTS.httpHost;
    this.description = `http://${this.host}:${opts.port}/trades`;
    this.log = opts.logger.child({ module: 'http-source' });
  }

  async run(sink: FrameSink, signal: AbortSignal): Promise<void> {
    const maxBody = this.opts.maxBodyBytes ?? 8 * 1024 * 1024;
    let stopping = false;
    let fatal: unknown;
    const server: Server = createServer((req, res) => {
      this.handle(req, res, sink, maxBody, () => stopping).catch((error) => {
        fatal ??= error;
        send(res, 503, { error: 'cannot write to Kafka' });
        stop();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new FinpipeError('SOURCE_ERROR', `cannot listen on ${this.host}:${this.opts.port}: ${error.code ?? error.message}`, {
            cause: error,
            hint: error.code === 'EADDRINUSE' ? 'another process uses that port; pick another with --http' : undefined,
          }),
        ),
      );
      server.listen(this.opts.port, this.host, () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : this.opts.port;
    this.description = `http://${this.host}:${port}/trades`;
    this.log.info({ url: this.description }, `accepting POST ${this.description}`);
    this.opts.onListening?.(port);

    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    if (signal.aborted) stop();
    else signal.addEventListener('abort', () => stop(), { once: true });
    await stopped;
    // Stop accepting; requests already being read finish (their trades are flushed by the caller).
    stopping = true;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows the caught value unchanged (unknown narrowed to {} by the check)
    if (fatal) throw fatal;
  }

  private async handle(
    req: IncomingMessage,
    res: ServerResponse,
    sink: FrameSink,
    maxBody: number,
    stopping: () => boolean,
  ): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/health' && req.method === 'GET') return send(res, 200, { status: 'ok' });
    if (path !== '/trades') return send(res, 404, { error: `no route ${path}; POST /trades` });
    if (req.method !== 'POST') return send(res, 405, { error: 'use POST /trades with a JSON array of trades' }, { Allow: 'POST' });
    if (stopping()) return send(res, 503, { error: 'shutting down' });
    this.requests++;
    const body = await readBody(req, maxBody);
    if (body === null) {
      this.rejected++;
      return send(res, 413, { error: `body larger than ${maxBody} bytes; send smaller batches` });
    }
    let value: unknown;
    let reasons: string[];
    try {
      value = JSON.parse(body.toString('utf8'));
      reasons = [];
    } catch (error) {
      reasons = [`body: invalid JSON (${(error as Error).message})`];
    }
    let trades: ReturnType<typeof validateTrades>['trades'] = [];
    if (reasons.length === 0) {
      if (!Array.isArray(value)) reasons = ['body: must be a JSON array of trades [{"s","p","t","v","c"?}, ...]'];
      else if (value.length === 0) reasons = ['body: must not be an empty array'];
      else ({ trades, problems: reasons } = validateTrades(value, ''));
    }
    if (reasons.length > 0) {
      this.rejected++;
      const wait = sink.deadLetter(body, reasons.join('; '), 'http');
      if (wait) await wait;
      return send(res, 400, { error: `${reasons.length} problem(s); nothing from this request was written`, reasons });
    }
    const wait = sink.trades(trades, 'http');
    if (wait) await wait;
    send(res, 202, { accepted: trades.length });
  }
}

/** The body, or null when it exceeds `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
