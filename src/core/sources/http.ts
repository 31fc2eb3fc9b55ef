/**
 * HTTP ingestion (a REST layer in front of Kafka, for senders that push trades): `POST /trades`
 * with `Content-Type: application/json` and a JSON array of Finnhub trades, validated like
 * websocket frames, limits included (trade-limits.ts).
 *
 *   202 {"accepted": N}                         every trade is on the raw topic: the answer is
 *                                               sent only once Kafka acknowledged the request's
 *                                               records (202 rather than 200 because process
 *                                               and sink have yet to handle them)
 *   400 {"error": "...", "reasons": [...]}      nothing from this request is written; the
 *                                               reasons are listed (the first 100), and the
 *                                               body is on the dead-letter topic (source
 *                                               "http") before the answer is sent
 *   403 a request with an Origin header other than this server's own (a web page)
 *   413 body over the limit, 415 not application/json, 404/405 other paths/methods,
 *   503 while shutting down
 *   GET /health -> 200 {"status":"ok"}
 *
 * Why 415 and 403: a browser sends a cross-origin `text/plain` POST without asking first,
 * so any web page open on this machine could post trades to 127.0.0.1. Requiring JSON makes
 * the browser ask first (a preflight OPTIONS, answered 405), no CORS header is ever sent,
 * and a request carrying a foreign Origin is refused outright.
 *
 * A request is all-or-nothing, unlike a websocket frame: the client is told, so it can fix
 * the request and send it again without duplicating the trades that were fine.
 * A client that goes away while uploading (an aborted upload, bad chunked encoding) ends
 * that request only: logged, counted, nothing taken. One that goes away while waiting for
 * the answer loses only the answer: its trades were queued and are written exactly once.
 * Backpressure: when the producer's buffer is full the answer waits until there is room.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FinpipeError } from '../errors';
import type { Logger } from '../log';
import { LIMITS } from '../limits';
import { PRODUCE_DEFAULTS } from '../produce/options';
import { WarnLimiter } from '../produce/pipeline';
import type { RawTrade } from '../serde';
import { validateTrades } from './frames';
import type { TradeLimits } from './trade-limits';
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

/** How many reasons a 400 answer lists (all of them are counted in its error). */
const MAX_REASONS_ANSWERED = 100;

type Refusal = [status: number, body: unknown, headers?: Record<string, string>];

export class HttpSource implements TradeSource {
  readonly reconnects = 0;
  description: string;
  requests = 0;
  rejected = 0;
  clientErrors = 0;
  private readonly host: string;
  private readonly log: Logger;
  private readonly warnings: WarnLimiter;

  constructor(private readonly opts: HttpSourceOptions) {
    this.host = opts.host ?? PRODUCE_DEFAULTS.httpHost;
    this.description = `http://${this.host}:${opts.port}/trades`;
    this.log = opts.logger.child({ module: 'http-source' });
    this.warnings = new WarnLimiter(this.log);
  }

  async run(sink: FrameSink, signal: AbortSignal): Promise<void> {
    const maxBody = this.opts.maxBodyBytes ?? 8 * 1024 * 1024;
    let stopping = false;
    let fatal: unknown;
    const server: Server = createServer((req, res) => {
      // A broken upload is reported where the body is read; an 'error' nobody listens to would be thrown.
      req.on('error', () => {});
      // Only the sink fails handle(): Kafka is gone, which is fatal for the whole stage.
      this.handle(req, res, sink, maxBody, () => stopping).catch((error) => {
        fatal ??= error;
        send(res, 503, { error: 'cannot write to Kafka' });
        stop();
      });
    });
    await this.listen(server);
    server.on('error', (error) => this.log.error({ err: error }, `HTTP server error: ${error.message}`));

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
    this.warnings.flush();
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows the caught value unchanged (unknown narrowed to {} by the check)
    if (fatal) throw fatal;
  }

  private async listen(server: Server): Promise<void> {
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
    server.removeAllListeners('error');
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : this.opts.port;
    this.description = `http://${this.host}:${port}/trades`;
    this.log.info({ url: this.description }, `accepting POST ${this.description}`);
    this.opts.onListening?.(port);
  }

  private async handle(
    req: IncomingMessage,
    res: ServerResponse,
    sink: FrameSink,
    maxBody: number,
    stopping: () => boolean,
  ): Promise<void> {
    const refusal = refuse(req, stopping());
    if (refusal) return send(res, ...refusal);
    this.requests++;
    let read: Awaited<ReturnType<typeof readBody>>;
    try {
      read = await readBody(req, maxBody);
    } catch (error) {
      this.clientErrors++;
      const problem = (error as Error).message;
      this.warnings.warn(
        { err: error, remote: req.socket.remoteAddress },
        `HTTP request failed while reading its body (${problem}); nothing from it was taken`,
      );
      return send(res, 400, { error: `the request body could not be read (${problem}); nothing was written, send it again` });
    }
    const { body } = read;
    if (read.tooLarge) {
      this.rejected++;
      // Kept as evidence like any refused input: its head, with the size in the reason.
      const reason = `request body of ${read.size} bytes is over the ${maxBody}-byte limit; its first ${body.length} bytes are kept here`;
      await sink.deadLetter(body, reason, 'http');
      return send(res, 413, { error: `body larger than ${maxBody} bytes; send smaller batches` });
    }
    const { trades, reasons } = parseTradesBody(body, sink.limits);
    if (reasons.length > 0) {
      this.rejected++;
      this.noteClientLeaving(req, res, 'its body is dead-lettered all the same');
      await sink.deadLetter(body, reasons.join('; '), 'http');
      return send(res, 400, {
        error: `${reasons.length} problem(s); nothing from this request was written`,
        reasons: reasons.slice(0, MAX_REASONS_ANSWERED),
      });
    }
    this.noteClientLeaving(req, res, `its ${trades.length} trades are written once all the same (resending them would duplicate them)`);
    await sink.trades(trades, 'http');
    send(res, 202, { accepted: trades.length });
  }

  /**
   * A client that closes its connection while its request waits for Kafka loses only the
   * answer: what it sent was queued and is written once. Logged so that it can be told apart
   * from a request that never arrived.
   */
  private noteClientLeaving(req: IncomingMessage, res: ServerResponse, outcome: string): void {
    const left = (): void => {
      this.clientErrors++;
      this.warnings.warn({ remote: req.socket.remoteAddress }, `an HTTP client closed its connection before its answer; ${outcome}`);
    };
    if (res.destroyed || req.socket.destroyed) return left();
    res.once('close', () => {
      if (!res.writableFinished) left();
    });
  }
}

/** The answer to a request that is refused before its body is read, or null to go on. */
function refuse(req: IncomingMessage, stopping: boolean): Refusal | null {
  const { origin, host } = req.headers;
  if (origin !== undefined && origin !== `http://${host ?? ''}`) {
    return [
      403,
      { error: `cross-origin requests are refused (Origin ${origin}); send trades from a program, not a web page (no Origin header)` },
    ];
  }
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/health' && req.method === 'GET') return [200, { status: 'ok' }];
  if (path !== '/trades') return [404, { error: `no route ${path}; POST /trades` }];
  if (req.method !== 'POST') return [405, { error: 'use POST /trades with a JSON array of trades' }, { Allow: 'POST' }];
  const type = req.headers['content-type'];
  if ((type ?? '').split(';')[0].trim().toLowerCase() !== 'application/json') {
    return [
      415,
      { error: `Content-Type must be application/json, not ${type ?? 'missing'}; send the body with Content-Type: application/json` },
    ];
  }
  if (stopping) return [503, { error: 'shutting down' }];
  return null;
}

/** A request body: a JSON array of trades, every one well-formed and within the limits, or the reasons it is not. */
export function parseTradesBody(body: Buffer, limits: TradeLimits, nowMs = Date.now()): { trades: RawTrade[]; reasons: string[] } {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    return { trades: [], reasons: [`body: invalid JSON (${(error as Error).message})`] };
  }
  if (!Array.isArray(value)) return { trades: [], reasons: ['body: must be a JSON array of trades [{"s","p","t","v","c"?}, ...]'] };
  if (value.length === 0) return { trades: [], reasons: ['body: must not be an empty array'] };
  const { trades, problems, refused } = validateTrades(value, '', limits, nowMs);
  return { trades, reasons: [...problems, ...refused.map((r) => r.reason)] };
}

/**
 * The body, or, when it exceeds `max` bytes, its first bytes and its size (it is read to the
 * end all the same, so the 413 reaches the client; the head is kept for the dead letter).
 * Rejects when the upload breaks: aborted, or bad chunked encoding.
 */
async function readBody(req: IncomingMessage, max: number): Promise<{ body: Buffer; tooLarge: boolean; size: number }> {
  const keepWhenTooLarge = Math.min(max, LIMITS.recordMaxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  let collected = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Everything while within the limit; past it, only up to the head a dead letter keeps.
    const take = size <= max ? chunk : chunk.subarray(0, Math.max(0, keepWhenTooLarge - collected));
    if (take.length > 0) chunks.push(take);
    collected += take.length;
  }
  const body = Buffer.concat(chunks);
  return size > max ? { body: body.subarray(0, keepWhenTooLarge), tooLarge: true, size } : { body, tooLarge: false, size };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
