import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { FinpipeError, describeError } from '../errors';
import { sleep } from '../retry';
import type { Stage } from '../stage';
import { openStoreReader } from '../stores';
import type { StoreReader } from '../stores/types';
import { answerApi, type ApiContext } from './api';
import { authorized } from './auth';
import { ClientHub } from './clients';
import { FreshnessSampler, HealthPoller } from './health';
import { LiveFeed, type LiveStats } from './live';
import type { DashboardOptions } from './options';
import { readStatic, staticFiles } from './static';

export { DASHBOARD_DEFAULTS, DASHBOARD_LIMITS, isLoopback, type DashboardOptions } from './options';

export interface DashboardStats {
  clients: number;
  updatesSent: number;
  updatesDropped: number;
  apiRequests: number;
  live: LiveStats;
}

/**
 * `finpipe dashboard`: serves the page, its JSON API (history from the store) and a
 * websocket (live updates from Kafka). See docs/operations.md.
 */
export class DashboardStage implements Stage<DashboardStats> {
  readonly name = 'dashboard';
  private readonly hub = new ClientHub();
  private readonly live: LiveFeed;
  private readonly health: HealthPoller;
  private readonly freshness: FreshnessSampler;
  private reader: Promise<StoreReader> | null = null;
  private apiRequests = 0;

  constructor(private readonly options: DashboardOptions) {
    this.live = new LiveFeed(options.config, options.logger, this.hub, options.pattern);
    this.health = new HealthPoller(options.config, options.logger, options.statusIntervalMs);
    const api = this.apiContext();
    this.freshness = new FreshnessSampler(
      () => api.reader(),
      () => api.readerFailed(),
    );
  }

  snapshot(): DashboardStats {
    return { ...this.hub.stats(), apiRequests: this.apiRequests, live: this.live.stats() };
  }

  async run(signal: AbortSignal): Promise<DashboardStats> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== '/ws' || !authorized(req, url, this.options.authToken)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.hub.add(ws));
    });
    await listen(server, this.options.host, this.options.port);
    const { port } = server.address() as AddressInfo;
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    this.options.onListening?.(`http://${host}:${port}`);
    this.health.start();
    this.freshness.start();
    const poll = async (): Promise<void> => {
      while (!signal.aborted) {
        await this.live.refresh();
        await sleep(this.options.topicPollMs, signal);
      }
    };
    const polling = poll();
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    this.health.stop();
    this.freshness.stop();
    this.hub.close();
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await polling;
    await this.live.stop();
    if (this.reader) await (await this.reader.catch(() => null))?.close().catch(() => {});
    return this.snapshot();
  }

  private apiContext(): ApiContext {
    return {
      reader: () => (this.reader ??= this.openReader()),
      readerFailed: () => {
        const failed = this.reader;
        this.reader = null;
        void failed?.then((r) => r.close()).catch(() => {});
      },
      health: () => ({ ...this.health.latest(), freshness: this.freshness.percentiles(), live: { error: this.live.stats().error } }),
      logger: this.options.logger,
    };
  }

  private async openReader(): Promise<StoreReader> {
    const reader = await openStoreReader(this.options.config.store, { config: this.options.config, logger: this.options.logger });
    try {
      await reader.open();
    } catch (error) {
      await reader.close().catch(() => {});
      throw error;
    }
    return reader;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, type: string, body: string | Buffer): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      res.end(body);
    };
    const json = (status: number, body: unknown): void => send(status, 'application/json; charset=utf-8', JSON.stringify(body));
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'the dashboard is read-only: GET only' });
      if (url.pathname.startsWith('/api/')) {
        if (!authorized(req, url, this.options.authToken))
          return json(401, { error: 'a valid token is required (Authorization: Bearer or ?token=)' });
        this.apiRequests++;
        const answer = await answerApi(url.pathname, url.searchParams, this.apiContext());
        return json(answer.status, answer.body);
      }
      const file = staticFiles().get(url.pathname);
      if (!file) return json(404, { error: `not found: ${url.pathname}` });
      const { type, body } = await readStatic(file);
      send(200, type, body);
    } catch (error) {
      this.options.logger.error({ err: describeError(error) }, 'dashboard request failed');
      if (!res.headersSent) json(500, { error: 'internal error' });
    }
  }
}

/** Listens; a port it cannot have is the user's to fix. */
async function listen(server: http.Server, host: string, port: number): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
      throw new FinpipeError('USAGE', `cannot listen on ${host}:${port}: ${code}`, {
        hint: 'pick another port with --port (0 = any free port) or another --host',
        cause: error,
      });
    throw error;
  }
}
