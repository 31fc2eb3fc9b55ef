import type { Admin } from 'kafkajs';
import type { KafkaConfig } from '../config';
import { describeError } from '../errors';
import { createKafka } from '../kafka/client';
import type { Logger } from '../log';
import { redactText } from '../redact';

/**
 * Whether the Kafka brokers answer, asked every few seconds by an admin client of its own
 * (a metadata request), for /readyz. A stage's own clients wait out an unreachable broker
 * silently (kafkajs retries inside its calls), so the stage's counters alone cannot say so.
 */
export class BrokerProbe {
  private admin: Admin | null = null;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | null = null;
  /** null until the first answer. */
  private state: { reachable: boolean; problem: string } | null = null;

  constructor(
    private readonly config: KafkaConfig,
    private readonly logger: Logger,
    private readonly everyMs = 5_000,
  ) {}

  start(): void {
    const tick = (): void => {
      this.checking ??= this.check().finally(() => (this.checking = null));
      this.timer = setTimeout(tick, this.everyMs).unref();
    };
    tick();
  }

  /** null before the first answer. */
  get status(): { reachable: boolean; problem: string } | null {
    return this.state;
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.checking;
    await this.admin?.disconnect().catch(() => {});
    this.admin = null;
  }

  private async check(): Promise<void> {
    try {
      if (!this.admin) {
        // One attempt per check, and kafkajs' own connection errors kept out of the log: the stage reports the outage.
        this.admin = createKafka(this.config, this.logger.child({ module: 'metrics-probe' }, { level: 'silent' }), 'metrics', {
          retries: 0,
        }).admin();
        await this.admin.connect();
      }
      await this.admin.describeCluster();
      if (this.state && !this.state.reachable) this.logger.info('metrics probe: Kafka answers again');
      this.state = { reachable: true, problem: '' };
    } catch (error) {
      const admin = this.admin;
      this.admin = null;
      await admin?.disconnect().catch(() => {});
      const problem = redactText(`Kafka (${this.config.brokers.join(',')}) does not answer: ${describeError(error)}`);
      if (this.state?.reachable !== false) this.logger.debug({ problem }, 'metrics probe: Kafka does not answer');
      this.state = { reachable: false, problem };
    }
  }
}
