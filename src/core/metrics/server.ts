import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KafkaConfig } from '../config';
import { FinpipeError, describeError } from '../errors';
import type { Logger } from '../log';
import { redactText } from '../redact';
import { setMetricHooks } from './hooks';
import { BrokerProbe } from './probe';
import { StageRegistry } from './registry';
import type { Readiness, StageMetrics } from './stages';

export interface MetricsServerOptions<S> {
  port: number;
  host: string;
  adapter: StageMetrics<S>;
  snapshot: () => S;
  /** For the broker probe of stages that use Kafka. */
  kafka?: KafkaConfig;
  logger: Logger;
}

/** Where the stage's run is: readiness is only judged from the snapshot while it runs. */
export type RunPhase = 'starting' | 'running' | 'stopping';

export interface MetricsServer {
  /** http://host:port (the real port when 0 was asked for). */
  url: string;
  setPhase(phase: RunPhase): void;
  close(): Promise<void>;
}

/**
 * The metrics server a stage runs with --metrics-port:
 *   GET /metrics  Prometheus text format (registry.ts)
 *   GET /healthz  200 {"status":"ok"} while the process answers at all (a liveness probe)
 *   GET /readyz   200 {"ready":true,...} or 503 {"ready":false,...}, with the reason: ready
 *                 once the stage consumes or produces, not while starting, stopping, or its
 *                 broker or store is unreachable
 */
export async function startMetricsServer<S>(options: MetricsServerOptions<S>): Promise<MetricsServer> {
  const { adapter, logger } = options;
  let phase: RunPhase = 'starting';
  const probe = adapter.usesKafka && options.kafka ? new BrokerProbe(options.kafka, logger) : null;
  const readiness = (): Readiness => {
    if (phase === 'starting') return { ready: false, reason: 'starting' };
    if (phase === 'stopping') return { ready: false, reason: 'stopping: finishing what it took' };
    const broker = probe?.status;
    if (broker === null) return { ready: false, reason: 'checking that Kafka answers' };
    if (broker && !broker.reachable) return { ready: false, reason: broker.problem };
    return adapter.readiness(options.snapshot());
  };
  const registry = new StageRegistry(adapter, options.snapshot, readiness);
  const server = http.createServer((req, res) => void answer(req, res, registry, readiness, adapter.stage));
  await listen(server, options.port, options.host);
  setMetricHooks(registry.hooks());
  probe?.start();
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  logger.info({ url: `${url}/metrics` }, `metrics on ${url}/metrics (health: /healthz, /readyz)`);
  return {
    url,
    setPhase: (next) => (phase = next),
    async close() {
      setMetricHooks(undefined);
      await probe?.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function answer(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  registry: StageRegistry<unknown>,
  readiness: () => Readiness,
  stage: string,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const json = (status: number, body: unknown): void => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: `${req.method} is not allowed; use GET` });
  try {
    switch (path) {
      case '/metrics': {
        const text = await registry.metrics();
        res.writeHead(200, { 'Content-Type': registry.contentType });
        res.end(text);
        return;
      }
      case '/healthz':
        return json(200, { status: 'ok', stage });
      case '/readyz': {
        const { ready, reason } = readiness();
        return json(ready ? 200 : 503, { ready, stage, reason: redactText(reason) });
      }
      default:
        return json(404, { error: `no ${path} here; try /metrics, /healthz or /readyz` });
    }
  } catch (error) {
    json(500, { error: redactText(`could not collect the metrics: ${describeError(error)}`) });
  }
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new FinpipeError('USAGE', `the metrics server cannot listen on ${host}:${port}: ${error.code ?? error.message}`, {
          hint:
            error.code === 'EADDRINUSE'
              ? 'another process has that port: pick another --metrics-port (FINPIPE_METRICS_PORT), or 0 for any free one'
              : 'check --metrics-host (FINPIPE_METRICS_HOST): it must be an address of this machine',
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
}
