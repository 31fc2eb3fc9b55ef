import type { Config } from '../config';
import type { Logger } from '../log';
import { collectStatus, type PipelineStatus } from '../status';
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
  const { kafka, mysql } = status.services;
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
