import type { KafkaConfig } from '../config';
import type { Logger } from '../log';
import type { EmitMode, WindowConfig } from './windows';

export interface ProcessOptions {
  kafka: KafkaConfig;
  topics: { raw: string; late: string; deadLetter: string };
  /** Instances with the same group share the raw partitions; its state lives in `<group>-state`. */
  groupId: string;
  /** Symbols to keep; empty = all. */
  symbols: string[];
  windows: WindowConfig;
  /** Where a group with no committed offset starts: the earliest record or only new ones. */
  fromBeginning: boolean;
  /** How soon a crashed instance's partitions move to the others. */
  sessionTimeoutMs: number;
  logger: Logger;
}

/**
 * Every default of `finpipe process`, for the command line and for callers in code alike.
 * Topic names are not here: they are settings (flag > env > .env > default, see config).
 */
export const PROCESS_DEFAULTS = {
  groupId: 'finpipe-process',
  symbols: [] as readonly string[],
  windows: { sizes: [10_000] as readonly number[], latenessMs: 15_000, emit: 'update' as EmitMode },
  fromBeginning: true,
  sessionTimeoutMs: 10_000,
  /** Off a terminal, how often the stats line is logged (the stage runner's interval). */
  statsIntervalMs: 10_000,
} as const;

type Required = 'kafka' | 'topics' | 'logger';

/** What a caller must give; anything else left out takes its PROCESS_DEFAULTS value. */
export type ProcessInput = Pick<ProcessOptions, Required> &
  Partial<Omit<ProcessOptions, Required | 'windows'>> & { windows?: Partial<WindowConfig> };

export function processOptions(input: ProcessInput): ProcessOptions {
  const d = PROCESS_DEFAULTS;
  return {
    kafka: input.kafka,
    topics: input.topics,
    logger: input.logger,
    groupId: input.groupId ?? d.groupId,
    symbols: input.symbols ?? [...d.symbols],
    windows: {
      sizes: input.windows?.sizes ?? [...d.windows.sizes],
      latenessMs: input.windows?.latenessMs ?? d.windows.latenessMs,
      emit: input.windows?.emit ?? d.windows.emit,
    },
    fromBeginning: input.fromBeginning ?? d.fromBeginning,
    sessionTimeoutMs: input.sessionTimeoutMs ?? d.sessionTimeoutMs,
  };
}
