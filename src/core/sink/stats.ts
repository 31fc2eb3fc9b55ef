export interface TopicStats {
  /** Records written (trades and candle versions, replays included). */
  rows: number;
  deadLetters: number;
  /** Records in the topic not yet committed by this group (sum over partitions). */
  lag: number;
}

export interface SinkStats {
  topics: Map<string, TopicStats>;
  trades: number;
  /** Trades new to the table (the rest were replays). */
  tradesInserted: number;
  /** Candle rows upserted (only the newest version per window within a batch is sent). */
  candles: number;
  records: number;
  deadLetters: number;
  transactions: number;
  /** The store written to, as people call it ("MySQL"). */
  store: string;
  /** True while the store is unreachable and consumption is paused. */
  paused: boolean;
  state: 'starting' | 'waiting for topics' | 'running' | 'stopping';
  startedAt: number;
  /** When the first record was read, and when the last transaction was committed (ms; 0 = not yet). */
  firstRecordAt: number;
  lastCommitAt: number;
  /** Lag per topic-partition read so far (high watermark minus committed offset). */
  partitions: { topic: string; partition: number; lag: number }[];
}

/**
 * The sink's counters, and the offsets its lag is computed from: the consumer records each
 * partition's high watermark as it fetches, the committer each committed offset.
 */
export class SinkCounters {
  readonly stats: SinkStats;
  readonly highWatermarks = new Map<string, { topic: string; hw: bigint }>();
  readonly committed = new Map<string, bigint>();

  constructor(store: string) {
    this.stats = {
      topics: new Map(),
      trades: 0,
      tradesInserted: 0,
      candles: 0,
      records: 0,
      deadLetters: 0,
      transactions: 0,
      store,
      paused: false,
      state: 'starting',
      startedAt: Date.now(),
      firstRecordAt: 0,
      lastCommitAt: 0,
      partitions: [],
    };
  }

  topic(name: string): TopicStats {
    let s = this.stats.topics.get(name);
    if (!s) this.stats.topics.set(name, (s = { rows: 0, deadLetters: 0, lag: 0 }));
    return s;
  }

  /** A copy with the lag recomputed. */
  snapshot(paused: boolean): SinkStats {
    for (const s of this.stats.topics.values()) s.lag = 0;
    const partitions: SinkStats['partitions'] = [];
    for (const [key, { topic, hw }] of this.highWatermarks) {
      const done = this.committed.get(key) ?? 0n;
      const lag = Number(hw > done ? hw - done : 0n);
      this.topic(topic).lag += lag;
      partitions.push({ topic, partition: Number(key.slice(key.lastIndexOf('\u0000') + 1)), lag });
    }
    return { ...this.stats, paused, partitions, topics: new Map([...this.stats.topics].map(([k, v]) => [k, { ...v }])) };
  }
}
