import { Counter, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { decodeTrade, recordKind } from '../stores/records';
import { METRICS, type MetricDefinition, type MetricName } from './definitions';
import { DEAD_LETTER_REASONS, deadLetterReasonClass, type MetricHooks, type RecordRun } from './hooks';
import type { Readiness, Samples, StageMetrics } from './stages';

type Labels = Record<string, string | number>;

/**
 * One stage's Prometheus registry: prom-client's default process metrics, the counters and
 * gauges read from the stage's snapshot() at scrape time (one snapshot per scrape), and the
 * histograms and counters the hooks feed. Only the metrics the stage reports are registered
 * (definitions.ts says which), so a stage never shows another stage's empty series.
 */
export class StageRegistry<S> {
  readonly registry = new Registry();
  private readonly labels: { stage: string };
  private readonly storeLabels: { stage: string; store: string };
  private readonly histograms = new Map<MetricName, Histogram>();
  private readonly counters = new Map<MetricName, Counter>();
  private cached: { at: number; samples: Samples } | null = null;

  constructor(
    private readonly adapter: StageMetrics<S>,
    private readonly snapshot: () => S,
    private readonly readiness: () => Readiness,
  ) {
    this.labels = { stage: adapter.stage };
    this.storeLabels = { stage: adapter.stage, store: adapter.store ?? 'none' };
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters, which `promtool check metrics` rejects; the handle and request counts are of little use here.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      this.registry.removeSingleMetric(name);
    for (const definition of METRICS as readonly MetricDefinition[]) {
      if (definition.stages.includes(adapter.stage)) this.register(definition);
    }
  }

  /** The text Prometheus scrapes. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The hooks that feed this registry's timings and dead-letter counts (installed by setMetricHooks). */
  hooks(): MetricHooks {
    // Children bound to their labels once: an observation then skips prom-client's label hashing.
    const bound = (name: MetricName, labels: Labels): ((value: number) => void) => {
      const child = this.histograms.get(name)?.labels(labels);
      return child ? (value) => child.observe(value) : () => {};
    };
    const produceSeconds = bound('finpipe_kafka_produce_seconds', this.labels);
    const transactionSeconds = bound('finpipe_kafka_transaction_seconds', this.labels);
    const batchSize = bound('finpipe_batch_size', this.labels);
    const storeWriteSeconds = bound('finpipe_store_write_seconds', this.storeLabels);
    const freshness = bound('finpipe_freshness_seconds', this.storeLabels);
    return {
      kafkaProduced: (seconds, messages) => {
        produceSeconds(seconds);
        batchSize(messages);
      },
      transactionCommitted: (seconds, records) => {
        transactionSeconds(seconds);
        batchSize(records);
      },
      storeWritten: (seconds, records, lastRun) => {
        storeWriteSeconds(seconds);
        batchSize(records);
        const tradeMs = lastTradeTime(lastRun);
        if (tradeMs !== undefined) freshness(Math.max(0, Date.now() - tradeMs) / 1000);
      },
      storeRetried: () => this.counters.get('finpipe_store_write_retries_total')?.inc(this.storeLabels),
      deadLettered: (stage, reason) =>
        this.counters.get('finpipe_dead_letters_total')?.inc({ stage, reason: deadLetterReasonClass(stage, reason) }),
    };
  }

  private register(definition: MetricDefinition): void {
    const name = definition.name as MetricName;
    const common = { name, help: definition.help, labelNames: [...definition.labels], registers: [this.registry] };
    if (definition.type === 'histogram') {
      this.histograms.set(name, new Histogram({ ...common, buckets: [...(definition.buckets ?? [])] }));
    } else if (name === 'finpipe_dead_letters_total') {
      const counter = new Counter(common);
      for (const reason of DEAD_LETTER_REASONS) counter.inc({ ...this.labels, reason }, 0); // every class present from the start
      this.counters.set(name, counter);
    } else if (name === 'finpipe_store_write_retries_total') {
      const counter = new Counter(common);
      counter.inc(this.storeLabels, 0);
      this.counters.set(name, counter);
    } else if (name === 'finpipe_ready') {
      this.registerComputed(definition, () => [{ value: this.readiness().ready ? 1 : 0 }]);
    } else {
      this.registerComputed(definition, () => this.samples()[name] ?? []);
    }
  }

  /** A counter or gauge whose values are computed at scrape time. */
  private registerComputed(definition: MetricDefinition, values: () => { labels?: Labels; value: number }[]): void {
    const { name, help, type } = definition;
    const stage = this.labels.stage;
    const metric = {
      name,
      help,
      type,
      get: () =>
        Promise.resolve({
          name,
          help,
          type,
          aggregator: 'sum',
          values: values().map((v) => ({ value: v.value, labels: { stage, ...v.labels } })),
        }),
      reset: () => {},
    };
    this.registry.registerMetric(metric as unknown as Metric);
  }

  /** One snapshot serves every metric of a scrape. */
  private samples(): Samples {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > 200) this.cached = { at: now, samples: this.adapter.samples(this.snapshot()) };
    return this.cached.samples;
  }
}

/** How far back from a run's end to look for its last trade: process writes a transaction's candles after its trades. */
const TRADE_LOOKBACK = 1_000;

/** The trade time (ms) of the last trade record in the run, else undefined (only candles, or poison). */
function lastTradeTime(run: RecordRun | undefined): number | undefined {
  if (!run) return undefined;
  for (let i = run.to - 1; i >= Math.max(run.from, run.to - TRADE_LOOKBACK); i--) {
    try {
      if (recordKind(run.messages[i]) === 'trade') return decodeTrade(run.messages[i].value!).trade_timestamp;
    } catch {
      // a poison record: it went to the dead-letter topic; look further back
    }
  }
  return undefined;
}
