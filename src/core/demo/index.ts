import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Admin } from 'kafkajs';
import type { Config } from '../config';
import { demoChildSettings } from './child-settings';
import type { Logger } from '../log';
import { FinpipeError, describeError } from '../errors';
import { createKafka } from '../kafka/client';
import { kafkaUnavailable } from '../kafka/errors';
import { ensureTopics } from '../kafka/topics';
import { symbolTopics } from '../symbols';
import { sleep } from '../retry';
import { openStoreReader } from '../stores';
import type { LatestCandle, StoreReader } from '../stores/types';
import { Supervisor, type StageState } from './supervisor';
import { freePort, portOrFree } from '../net';
import { groupLag } from '../kafka/lag';

/**
 * `finpipe demo`: the whole pipeline on one machine, consumers before the feed —
 * topics, then sink, process, the Finnhub simulator and produce as supervised child
 * processes — with a live view per stage, and at the end a summary and the latest candles
 * read back from MySQL.
 *
 * The live view measures from the outside (Kafka offsets, consumer-group lag, MySQL rows)
 * rather than trusting the stages' own counters, so it shows what a user of the data sees.
 */
export interface DemoOptions {
  config: Config;
  logger: Logger;
  signal: AbortSignal;
  symbols: string[];
  rate: number;
  seed: number;
  durationMs: number;
  windows: string;
  runDir: string;
  /** Consumer groups are `<groupPrefix>-process` and `<groupPrefix>-sink`. */
  groupPrefix: string;
  /** Also run `finpipe dashboard` on this port (taken: any free port); null = no dashboard. */
  dashboardPort: number | null;
  /** Called once the dashboard listens, with the URL to open. */
  onDashboard?: (url: string) => void;
  /** Called once per stage with its metrics URL when config.metrics.port is set. */
  onMetrics?: (stage: string, url: string) => void;
  /** Called about once a second with the live view. */
  onTick?: (view: DemoView) => void;
  /** The demo's `-X key=value` client settings, passed on to every stage (see child-settings.ts). */
  kafkaSettings?: string[];
  /** The demo's --env-file, passed on to every stage. */
  envFile?: string;
}

export interface DemoView {
  elapsedMs: number;
  stages: StageState[];
  rawRecords: number;
  rawPerSec: number;
  processLag: number | null;
  sinkLag: number | null;
  mysqlTrades: number;
  mysqlTradesPerSec: number;
  mysqlCandles: number;
  /** Age of the newest trade visible in MySQL (now - its trade time), sampled every 100 ms. */
  freshnessP50Ms: number | null;
  freshnessP99Ms: number | null;
  deadLetters: number;
  lateTrades: number;
}

export interface DemoSummary extends DemoView {
  latestCandles: LatestCandle[];
  logDir: string;
}

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { config, logger, signal } = options;
  const perSymbolTopics = [...symbolTopics(options.symbols).values()];
  const groups = { process: `${options.groupPrefix}-process`, sink: `${options.groupPrefix}-sink` };
  mkdirSync(options.runDir, { recursive: true });

  const admin = await connectKafka(config, logger);
  const store = await openStoreReader(config.store, { config, logger });
  try {
    await store.open();
  } catch (error) {
    await admin.disconnect().catch(() => {});
    throw error;
  }
  // The stages use the demo's brokers, client settings, registry and env file, also when the demo got them as flags.
  const child = demoChildSettings(config, options);
  const supervisor = new Supervisor(logger, { ...process.env, ...child.env }, child.args);
  try {
    await ensureTopics(admin, [
      { name: config.topics.raw, partitions: 6, replicationFactor: -1 },
      { name: config.topics.deadLetter, partitions: 1, replicationFactor: -1 },
      { name: config.topics.late, partitions: 1, replicationFactor: -1 },
    ]);
    await startStages(supervisor, options, perSymbolTopics, groups);

    const sampler = new Sampler(admin, store, config, options.symbols, groups, logger.child({ module: 'demo-sampler' }));
    const started = Date.now();
    const deadline = started + options.durationMs;
    let view = await sampler.sample(supervisor.states(), 0);
    const freshness = setInterval(() => void sampler.sampleFreshness(), 100);
    try {
      while (!signal.aborted && Date.now() < deadline) {
        await sleep(Math.min(1000, deadline - Date.now()), signal);
        view = await sampler.sample(supervisor.states(), Date.now() - started);
        options.onTick?.(view);
      }
    } finally {
      clearInterval(freshness);
    }

    // Drain: stop the source, let process and sink catch up (bounded), then stop them.
    logger.info('stopping produce and the simulator; letting process and sink catch up');
    await supervisor.stopAll(['produce', 'simulate']);
    const drainDeadline = Date.now() + 30_000;
    for (;;) {
      view = await sampler.sample(supervisor.states(), Date.now() - started);
      options.onTick?.(view);
      if ((view.processLag === 0 && view.sinkLag === 0) || Date.now() > drainDeadline) break;
      await sleep(500);
    }
    await supervisor.stopAll(['process', 'sink']);
    view = await sampler.sample(supervisor.states(), Date.now() - started);
    return { ...view, latestCandles: await store.latestCandles(options.symbols), logDir: options.runDir };
  } finally {
    await supervisor.stopAll(['produce', 'simulate', 'process', 'sink', 'dashboard']);
    await admin.disconnect().catch(() => {});
    await store.close();
  }
}

/** Starts the stages in start-up order: the consumers first, so nothing waits on a missing reader; the dashboard last. */
async function startStages(
  supervisor: Supervisor,
  options: DemoOptions,
  perSymbolTopics: string[],
  groups: { process: string; sink: string },
): Promise<void> {
  const port = await freePort();
  const log = (name: string) => path.join(options.runDir, `${name}.log`);
  const metrics = await metricsArgs(options.config.metrics, options.onMetrics);
  const sinkArgs = ['sink', ...perSymbolTopics, '--group', groups.sink, '--store', options.config.store, ...metrics('sink')];
  supervisor.start({ name: 'sink', args: sinkArgs, logFile: log('sink') });
  supervisor.start({
    name: 'process',
    args: [
      'process',
      ...options.symbols,
      '--group',
      groups.process,
      '--windows',
      options.windows,
      '--stats-interval',
      '1s',
      ...metrics('process'),
    ],
    logFile: log('process'),
  });
  const simulatorArgs = ['--port', String(port), '--rate', String(options.rate), '--seed', String(options.seed)];
  supervisor.start({
    name: 'simulate',
    args: ['simulate', ...simulatorArgs, '--symbols', options.symbols.join(','), ...metrics('simulate')],
    logFile: log('simulate'),
  });
  await waitForPort(port, options.signal);
  supervisor.start({
    name: 'produce',
    args: ['produce', ...options.symbols, '--url', `ws://127.0.0.1:${port}`, '--stats-interval', '1s', ...metrics('produce')],
    // The simulator accepts any token; a made-up one keeps a real FINNHUB_TOKEN out of it.
    env: { FINNHUB_TOKEN: 'finpipe-demo' },
    logFile: log('produce'),
  });
  const dashboardPort = options.dashboardPort === null ? null : await portOrFree(options.dashboardPort);
  if (dashboardPort !== null) {
    const pattern = perSymbolTopics.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
    supervisor.start({
      name: 'dashboard',
      args: ['dashboard', '--port', String(dashboardPort), '--pattern', pattern, ...metrics('dashboard')],
      env: { FINPIPE_STORE: options.config.store },
      logFile: log('dashboard'),
    });
    await waitForPort(dashboardPort, options.signal, 'the dashboard', 'dashboard.log');
    options.onDashboard?.(`http://127.0.0.1:${dashboardPort}`);
  }
}

/** The stages the demo runs, in the order their metrics ports are numbered (--metrics-port N: sink N, process N+1, ...). */
export const DEMO_METRICS_ORDER = ['sink', 'process', 'simulate', 'produce', 'dashboard'] as const;

/**
 * Each child's --metrics-port/--metrics-host: consecutive ports from the demo's own
 * --metrics-port (0: a free port each); none when metrics are off. Always explicit, so a
 * FINPIPE_METRICS_PORT the children inherit never makes them fight over one port.
 */
async function metricsArgs(
  settings: Config['metrics'],
  onMetrics: DemoOptions['onMetrics'],
): Promise<(stage: (typeof DEMO_METRICS_ORDER)[number]) => string[]> {
  if (settings.port === null) return () => [];
  const ports = new Map<string, number>();
  for (const [i, stage] of DEMO_METRICS_ORDER.entries())
    ports.set(stage, settings.port === 0 ? await freePort(settings.host) : settings.port + i);
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  for (const [stage, p] of ports) onMetrics?.(stage, `http://${host}:${p}/metrics`);
  return (stage) => ['--metrics-port', String(ports.get(stage)), '--metrics-host', settings.host];
}

async function connectKafka(config: Config, logger: Logger): Promise<Admin> {
  const admin = createKafka(config.kafka, logger, 'demo', { retries: 2 }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
    return admin;
  } catch (error) {
    await admin.disconnect().catch(() => {});
    throw kafkaUnavailable(error, config.kafka.brokers);
  }
}

class Sampler {
  private lastRaw = 0;
  private lastTrades = 0;
  private lastAt = Date.now();
  private freshness: number[] = [];
  private tablesReady = false;
  /**
   * Rows of this run: the simulator stamps trades with the current time, a few (out of
   * order) up to 3 s early, so trades of earlier runs in the same tables are left out.
   */
  private readonly since = Date.now() - 10_000;

  constructor(
    private readonly admin: Admin,
    private readonly store: StoreReader,
    private readonly config: Config,
    private readonly symbols: string[],
    private readonly groups: { process: string; sink: string },
    private readonly logger: Logger,
  ) {}

  async sampleFreshness(): Promise<void> {
    if (!this.tablesReady) return;
    try {
      const age = await this.store.newestTradeAgeMs(this.symbols, this.since);
      if (age !== null) this.freshness.push(age);
      if (this.freshness.length > 3000) this.freshness.splice(0, this.freshness.length - 3000);
    } catch (error) {
      // a sample missed while MySQL is busy only thins the freshness figures
      this.logger.debug({ err: describeError(error) }, 'freshness sample failed');
    }
  }

  async sample(stages: StageState[], elapsedMs: number): Promise<DemoView> {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.lastAt) / 1000);
    const rawRecords = await this.records(this.config.topics.raw);
    const [processLag, sinkLag, deadLetters, lateTrades] = await Promise.all([
      this.groupLag(this.groups.process),
      this.groupLag(this.groups.sink),
      this.records(this.config.topics.deadLetter),
      this.records(this.config.topics.late),
    ]);
    let mysqlTrades = 0;
    let mysqlCandles = 0;
    try {
      ({ trades: mysqlTrades, candles: mysqlCandles } = await this.store.rowCounts(this.symbols, this.since));
      this.tablesReady = true;
    } catch (error) {
      // the tables appear when the sink has started; the view shows 0 until then
      this.logger.debug({ err: describeError(error) }, 'MySQL counts not available');
    }
    const sorted = [...this.freshness].sort((a, b) => a - b);
    const view: DemoView = {
      elapsedMs,
      stages,
      rawRecords,
      rawPerSec: Math.max(0, (rawRecords - this.lastRaw) / seconds),
      processLag,
      sinkLag,
      mysqlTrades,
      mysqlTradesPerSec: Math.max(0, (mysqlTrades - this.lastTrades) / seconds),
      mysqlCandles,
      freshnessP50Ms: percentile(sorted, 0.5),
      freshnessP99Ms: percentile(sorted, 0.99),
      deadLetters,
      lateTrades,
    };
    this.lastRaw = rawRecords;
    this.lastTrades = mysqlTrades;
    this.lastAt = now;
    return view;
  }

  private async records(topic: string): Promise<number> {
    try {
      const offsets = await this.admin.fetchTopicOffsets(topic);
      return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    } catch (error) {
      // e.g. the late topic before process created it
      this.logger.debug({ topic, err: describeError(error) }, 'topic offsets not available');
      return 0;
    }
  }

  /** Total lag of a group over the topics it has committed offsets for; null before its first commit. */
  private async groupLag(groupId: string): Promise<number | null> {
    try {
      const partitions = await groupLag(this.admin, groupId);
      return partitions.some((p) => p.committed !== null) ? partitions.reduce((sum, p) => sum + p.lag, 0) : null;
    } catch (error) {
      this.logger.debug({ groupId, err: describeError(error) }, 'group lag not available');
      return null;
    }
  }
}

function percentile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function waitForPort(
  port: number,
  signal: AbortSignal,
  what = 'the simulator',
  logFile = 'simulate.log',
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!signal.aborted) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new FinpipeError('SOURCE_UNAVAILABLE', `${what} did not start listening on 127.0.0.1:${port} within ${timeoutMs / 1000} s`, {
        hint: `see ${logFile} in the demo's log directory`,
      });
    await sleep(100, signal);
  }
}
