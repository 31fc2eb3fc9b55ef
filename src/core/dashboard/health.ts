import type { Config } from '../config';
import type { Logger } from '../log';
import { collectStatus, type PipelineStatus } from '../status';
import type { StoreReader } from '../stores/types';
import { DASHBOARD_GROUP_PREFIX } from './live';

/** The pipeline health strip: what `finpipe status` knows, condensed. Nothing secret in it. */
export interface HealthReport {
  at: number;
  kafka: { reachable: boolean; error?: string };
  mysql: { reachable: boolean; error?: string };
  /** Consumer groups with members (the running stages): their total lag. */
  stages: { group: string; state: string; members: number; lag: number }[];
  rawRecords: number | null;
  rawPerSec: number | null;
  deadLetters: number | null;
  lateTrades: number | null;
  live: { error: string | null };
}

const messages = (status: PipelineStatus, topic: string): number | null => status.topics.find((t) => t.name === topic)?.messages ?? null;

export function healthReport(config: Config, status: PipelineStatus, previous: HealthReport | null, now: number): HealthReport {
  const raw = messages(status, config.topics.raw);
  const seconds = previous ? (now - previous.at) / 1000 : 0;
  const rawPerSec =
    previous?.rawRecords != null && raw !== null && seconds > 0 ? Math.max(0, Math.round((raw - previous.rawRecords) / seconds)) : null;
  const { kafka } = status.services;
  // The store's health, whichever FINPIPE_STORE names (the page calls the field mysql).
  const mysql = status.services[status.store as 'mysql' | 'cassandra'] ?? {
    reachable: false,
    error: `no status for store ${status.store}`,
  };
  return {
    at: now,
    kafka: { reachable: kafka.reachable, ...(kafka.error ? { error: kafka.error } : {}) },
    mysql: { reachable: mysql.reachable, ...(mysql.error ? { error: mysql.error } : {}) },
    stages: status.groups
      .filter((g) => g.members > 0 && !g.groupId.startsWith(DASHBOARD_GROUP_PREFIX))
      .map((g) => ({ group: g.groupId, state: g.state, members: g.members, lag: g.totalLag })),
    rawRecords: raw,
    rawPerSec,
    deadLetters: messages(status, config.topics.deadLetter),
    lateTrades: messages(status, config.topics.late),
    live: { error: null },
  };
}

/** Collects the health report every `intervalMs` (one collection at a time), never per request. */
export class HealthPoller {
  private report: HealthReport | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  latest(): HealthReport | { at: null; pending: string } {
    return this.report ?? { at: null, pending: 'the first health report is being collected' };
  }

  start(): void {
    const tick = async (): Promise<void> => {
      try {
        const status = await collectStatus(this.config, this.logger);
        this.report = healthReport(this.config, status, this.report, Date.now());
      } catch (error) {
        this.logger.debug({ err: String(error) }, 'health collection failed');
      }
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.intervalMs).unref();
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

/**
 * Freshness, as the demo measures it: how old the newest trade in the store is, sampled
 * every `everyMs` (trades of the last minute), with p50/p99 over the last `keep` samples.
 * The store being down leaves a gap; the strip already says "mysql DOWN" then.
 */
export class FreshnessSampler {
  private samples: number[] = [];
  private symbols: string[] = [];
  private symbolsAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly reader: () => Promise<StoreReader>,
    private readonly onReaderFailed: () => void,
    private readonly everyMs = 1_000,
    private readonly keep = 60,
  ) {}

  start(): void {
    const tick = async (): Promise<void> => {
      await this.sample().catch(() => this.onReaderFailed());
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.everyMs).unref();
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** p50/p99 of the samples kept, in ms; null before the first trade. */
  percentiles(): { p50Ms: number | null; p99Ms: number | null } {
    if (this.samples.length === 0) return { p50Ms: null, p99Ms: null };
    const sorted = [...this.samples].sort((a, b) => a - b);
    const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
    return { p50Ms: at(0.5), p99Ms: at(0.99) };
  }

  private async sample(): Promise<void> {
    const reader = await this.reader();
    const now = Date.now();
    // The symbol list changes rarely; reading it every 10 s keeps each sample one query.
    if (now - this.symbolsAt > 10_000) {
      this.symbols = await reader.symbols();
      this.symbolsAt = now;
    }
    if (this.symbols.length === 0) return;
    const age = await reader.newestTradeAgeMs(this.symbols, now - 60_000);
    if (age === null) return;
    this.samples.push(Math.max(0, age));
    if (this.samples.length > this.keep) this.samples.shift();
  }
}
