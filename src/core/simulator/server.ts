/**
 * The Finnhub-compatible server: one HTTP server carries the websocket (any path,
 * `?token=` required, like wss://ws.finnhub.io?token=...) and the REST API under /api/v1.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { catalogFor } from './catalog';
import { ClientConnection, type ConnectionConfig } from './connection';
import { fnv1a } from './prng';
import { REST_PREFIX, createRestHandler, send } from './rest';
import type { Logger } from '../log';
import { SIMULATOR_DEFAULTS, type RunningSimulator, type SimulatorOptions, type SimulatorStats } from './types';

/** How long close() waits for clients to answer the close handshake before terminating them. */
const CLOSE_GRACE_MS = 500;

/** Validates every option at once; the message lists each problem, path first. */
function validate(opts: SimulatorOptions): void {
  const problems: string[] = [];
  const num = (path: string, v: unknown, ok: (n: number) => boolean, rule: string): void => {
    if (v === undefined) return;
    if (typeof v !== 'number' || Number.isNaN(v) || !ok(v)) problems.push(`${path}: ${rule}`);
  };
  const int = Number.isInteger;
  if (opts === null || typeof opts !== 'object') throw new TypeError('simulator options: must be an object');
  if (opts.port === undefined) problems.push('port: is required');
  num('port', opts.port, (n) => int(n) && n >= 0 && n <= 65535, 'must be an integer in 0..65535');
  if (!Array.isArray(opts.symbols) || opts.symbols.length === 0) problems.push('symbols: must be a non-empty array');
  else if (opts.symbols.some((s) => typeof s !== 'string' || s.length === 0))
    problems.push('symbols: every symbol must be a non-empty string');
  if (opts.rate === undefined) problems.push('rate: is required');
  num('rate', opts.rate, (n) => Number.isFinite(n) && n >= 0, 'must be a finite number >= 0 (0 = unlimited)');
  if (opts.seed === undefined) problems.push('seed: is required');
  num('seed', opts.seed, Number.isFinite, 'must be a finite number');
  if (opts.tokens !== undefined && (!Array.isArray(opts.tokens) || opts.tokens.some((t) => typeof t !== 'string' || t.length === 0)))
    problems.push('tokens: must be an array of non-empty strings');
  num('symbolLimit', opts.symbolLimit, (n) => int(n) && n >= 1, 'must be an integer >= 1');
  num('pingIntervalMs', opts.pingIntervalMs, (n) => Number.isFinite(n) && n >= 1, 'must be a number >= 1');
  num('maxTrades', opts.maxTrades, (n) => int(n) && n >= 0, 'must be an integer >= 0');
  num('restLimitPerMinute', opts.restLimitPerMinute, (n) => int(n) && n >= 0, 'must be an integer >= 0');
  const f = opts.faults ?? {};
  num('faults.dropEverySec', f.dropEverySec, (n) => Number.isFinite(n) && n > 0, 'must be a number > 0');
  num('faults.malformedFraction', f.malformedFraction, (n) => n >= 0 && n <= 1, 'must be in 0..1');
  if (!opts.logger || typeof opts.logger.child !== 'function') problems.push('logger: must be a pino Logger');
  if (problems.length > 0) throw new RangeError(`invalid simulator options: ${problems.join('; ')}`);
}

export async function startSimulator(opts: SimulatorOptions): Promise<RunningSimulator> {
  validate(opts);
  const log = opts.logger.child({ module: 'simulator' });
  const host = opts.host ?? SIMULATOR_DEFAULTS.host;
  const faults = opts.faults ?? {};
  const symbols = [...new Set(opts.symbols)];
  const allowed = opts.tokens ? new Set(opts.tokens) : undefined;
  const tokenOk = (t: string | undefined | null): boolean => typeof t === 'string' && t.length > 0 && (!allowed || allowed.has(t));

  const stats: SimulatorStats = { connections: 0, tradesSent: 0, framesSent: 0, malformedSent: 0, drops: 0 };
  const conns = new Map<WebSocket, ClientConnection>();
  let closing: Promise<void> | undefined;

  const rest = createRestHandler({
    catalog: catalogFor(symbols, fnv1a),
    hiddenFromSearch: new Set(faults.hiddenFromSearch ?? []),
    limitPerMinute: opts.restLimitPerMinute ?? SIMULATOR_DEFAULTS.restLimitPerMinute,
    tokenOk,
    log,
  });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    if (url.pathname === REST_PREFIX || url.pathname.startsWith(REST_PREFIX + '/')) rest(req, res, url);
    else send(res, 404, { error: 'Not found' });
  });
  // perMessageDeflate off: Finnhub's volume is the point of the simulator, and compression would cap it.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
  const connCfg = {
    seed: opts.seed,
    rate: opts.rate,
    symbolLimit: opts.symbolLimit ?? SIMULATOR_DEFAULTS.symbolLimit,
    maxTrades: opts.maxTrades ?? Infinity,
    malformedFraction: faults.malformedFraction ?? 0,
    simulated: new Set(symbols),
  };
  server.on('upgrade', upgradeHandler({ wss, conns, connCfg, stats, log, tokenOk, closing: () => closing !== undefined }));

  const timers = faultTimers(conns, opts, stats, log);
  try {
    await listen(server, opts.port, host);
  } catch (err) {
    for (const t of timers) clearInterval(t);
    wss.close();
    throw err;
  }
  server.on('error', (err) => log.error({ err }, 'simulator server error'));

  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const url = `ws://${hostPart}:${port}`;
  const restUrl = `http://${hostPart}:${port}${REST_PREFIX}`;
  log.info(
    { url, restUrl, symbols: symbols.length, rate: opts.rate, faults: { ...faults, hiddenFromSearch: undefined } },
    'simulator listening',
  );

  const close = async (): Promise<void> => {
    for (const t of timers) clearInterval(t);
    await closeConnections(conns);
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    log.info({ ...stats }, 'simulator closed');
  };

  return {
    url,
    restUrl,
    port,
    stats: () => ({ ...stats }),
    close: () => (closing ??= close()),
  };
}

interface UpgradeContext {
  wss: WebSocketServer;
  conns: Map<WebSocket, ClientConnection>;
  connCfg: ConnectionConfig;
  stats: SimulatorStats;
  log: Logger;
  tokenOk: (token: string | null) => boolean;
  closing: () => boolean;
}

/** Accepts a websocket with a valid `?token=` (401 otherwise, 503 while shutting down) and tracks its connection. */
function upgradeHandler({ wss, conns, connCfg, stats, log, tokenOk, closing }: UpgradeContext) {
  let nextId = 1;
  return (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    socket.on('error', (err) => log.debug({ err: err.message }, 'upgrade socket error'));
    const url = new URL(req.url ?? '/', 'http://simulator');
    // The token is a secret: log the path and peer, never the query string.
    const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    if (closing()) {
      rejectUpgrade(socket, 503, { error: 'Server shutting down' });
      return;
    }
    if (!tokenOk(url.searchParams.get('token'))) {
      log.info({ peer, path: url.pathname }, 'websocket rejected: missing or invalid token');
      rejectUpgrade(socket, 401, { error: 'Invalid API key' });
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new ClientConnection(nextId++, ws, connCfg, stats, log);
      conns.set(ws, conn);
      stats.connections = conns.size;
      log.debug({ conn: conn.id, peer }, 'client connected');
      ws.on('message', (data, isBinary) => conn.handleMessage(data, isBinary));
      ws.on('error', (err) => log.debug({ conn: conn.id, err: err.message }, 'client socket error'));
      ws.on('close', (code) => {
        conn.dispose();
        conns.delete(ws);
        stats.connections = conns.size;
        log.debug({ conn: conn.id, code, subscriptions: conn.subscriptions.size }, 'client disconnected');
      });
    });
  };
}

/** Pings every connection (unless faults.noPing) and, with faults.dropEverySec, drops them all periodically. */
function faultTimers(
  conns: Map<WebSocket, ClientConnection>,
  opts: SimulatorOptions,
  stats: SimulatorStats,
  log: Logger,
): NodeJS.Timeout[] {
  const faults = opts.faults ?? {};
  const timers: NodeJS.Timeout[] = [];
  if (!faults.noPing) {
    timers.push(
      setInterval(() => {
        for (const c of conns.values()) c.sendPing();
      }, opts.pingIntervalMs ?? SIMULATOR_DEFAULTS.pingIntervalMs),
    );
  }
  if (faults.dropEverySec !== undefined) {
    timers.push(
      setInterval(() => {
        const live = [...conns.values()].filter((c) => !c.isDisposed);
        if (live.length === 0) return;
        log.info({ connections: live.length }, 'fault: dropping every connection');
        for (const c of live) {
          stats.drops++;
          c.terminate();
        }
      }, faults.dropEverySec * 1000),
    );
  }
  return timers;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Closes every websocket with 1001, terminating those that have not answered within CLOSE_GRACE_MS. */
async function closeConnections(conns: Map<WebSocket, ClientConnection>): Promise<void> {
  const pending = [...conns.entries()].map(
    ([ws, conn]) =>
      new Promise<void>((resolve) => {
        conn.dispose();
        if (ws.readyState === ws.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close(1001, 'Server shutting down');
      }),
  );
  let grace: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(pending), new Promise<void>((r) => (grace = setTimeout(r, CLOSE_GRACE_MS)))]);
  clearTimeout(grace);
  for (const ws of conns.keys()) ws.terminate();
  await Promise.all(pending);
}

function rejectUpgrade(socket: Socket, status: number, body: object): void {
  const text = JSON.stringify(body);
  const reason = status === 401 ? 'Unauthorized' : 'Service Unavailable';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    () => socket.destroy(),
  );
}
