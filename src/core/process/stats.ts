export interface ProcessStats {
  startedAt: number;
  records: number;
  trades: number;
  candles: number;
  late: number;
  deadLetters: number;
  transactions: number;
  /** Records on the assigned raw partitions not yet processed, per partition. */
  lag: Map<number, number>;
  assigned: number[];
  /** When the consumer first joined its group (ms; 0 = not yet): from then on it consumes. */
  joinedAt: number;
}

export function newStats(): ProcessStats {
  return {
    startedAt: Date.now(),
    records: 0,
    trades: 0,
    candles: 0,
    late: 0,
    deadLetters: 0,
    transactions: 0,
    lag: new Map(),
    assigned: [],
    joinedAt: 0,
  };
}

export function copyStats(stats: ProcessStats): ProcessStats {
  return { ...stats, lag: new Map(stats.lag), assigned: [...stats.assigned] };
}

export function totalLag(stats: ProcessStats): number {
  let sum = 0;
  for (const v of stats.lag.values()) sum += v;
  return sum;
}
