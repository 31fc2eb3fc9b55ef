import type { KafkaConfig } from '../config';
import { SETTINGS } from '../config/settings';
import { FinpipeError } from '../errors';
import { LIMITS } from '../limits';
import type { Logger } from '../log';
import { PLAIN_VALUES, type ValueReader, type ValueWriter } from '../serde/registry';
import { topicPrefixProblem } from './output-topics';
import type { EmitMode, WindowConfig } from './windows';

export interface ProcessOptions {
  kafka: KafkaConfig;
  topics: { raw: string; late: string; deadLetter: string };
  /** Instances with the same group share the raw partitions; its state lives in `<group>-state`. */
  groupId: string;
  /** Prepended to every symbol topic's name (`final-` -> `final-BINANCE_BTCUSDT`); '' = none. */
  topicPrefix: string;
  /** Symbols to keep; empty = all. */
  symbols: string[];
  windows: WindowConfig;
  /** A trade stamped further than this ahead of the wall clock is dead-lettered. */
  maxFutureMs: number;
  /** Where a group with no committed offset starts: the earliest record or only new ones. */
  fromBeginning: boolean;
  /** How soon a crashed instance's partitions move to the others. */
  sessionTimeoutMs: number;
  logger: Logger;
  /** How values are encoded and decoded: Schema Registry framing or plain Avro (the default). */
  values: { writer: ValueWriter; reader: ValueReader };
}

/**
 * Every default of `finpipe process`, for the command line and for callers in code alike.
 * Topic names are not here: they are settings (flag > env > .env > default, see config).
 */
export const PROCESS_DEFAULTS = {
  /** The group for the default raw topic; other raw topics get their own (defaultGroupId). */
  groupId: 'finpipe-process',
  topicPrefix: '',
  symbols: [] as readonly string[],
  windows: { sizes: [10_000] as readonly number[], latenessMs: 15_000, emit: 'update' as EmitMode },
  maxFutureMs: LIMITS.maxFutureMs,
  fromBeginning: true,
  sessionTimeoutMs: 10_000,
  /** Off a terminal, how often the stats line is logged (the stage runner's interval). */
  statsIntervalMs: 10_000,
} as const;

const DEFAULT_RAW_TOPIC = SETTINGS.find((s) => s.path === 'topics.raw')?.default ?? 'trades';

/**
 * The group used when none is given. Pipelines on different raw topics must not share a
 * group (they would rebalance each other and their transactional ids would mix), so the
 * raw topic is part of it — except for the default raw topic, whose group keeps the name
 * existing deployments have their committed offsets and state under.
 */
export function defaultGroupId(rawTopic: string): string {
  return rawTopic === DEFAULT_RAW_TOPIC ? PROCESS_DEFAULTS.groupId : `${PROCESS_DEFAULTS.groupId}-${rawTopic}`;
}

type Required = 'kafka' | 'topics' | 'logger';

/** What a caller must give; anything else left out takes its PROCESS_DEFAULTS value. */
export type ProcessInput = Pick<ProcessOptions, Required> &
  Partial<Omit<ProcessOptions, Required | 'windows'>> & { windows?: Partial<WindowConfig> };

export function processOptions(input: ProcessInput): ProcessOptions {
  const d = PROCESS_DEFAULTS;
  const prefixProblem = topicPrefixProblem(input.topicPrefix ?? d.topicPrefix);
  if (prefixProblem)
    throw new FinpipeError('USAGE', `topic prefix "${input.topicPrefix}" cannot start topic names: ${prefixProblem}`, {
      hint: 'use letters, digits, ".", "_" and "-", e.g. final-',
    });
  return {
    kafka: input.kafka,
    topics: input.topics,
    logger: input.logger,
    groupId: input.groupId ?? defaultGroupId(input.topics.raw),
    topicPrefix: input.topicPrefix ?? d.topicPrefix,
    symbols: input.symbols ?? [...d.symbols],
    windows: {
      sizes: input.windows?.sizes ?? [...d.windows.sizes],
      latenessMs: input.windows?.latenessMs ?? d.windows.latenessMs,
      emit: input.windows?.emit ?? d.windows.emit,
    },
    maxFutureMs: input.maxFutureMs ?? d.maxFutureMs,
    fromBeginning: input.fromBeginning ?? d.fromBeginning,
    sessionTimeoutMs: input.sessionTimeoutMs ?? d.sessionTimeoutMs,
    values: input.values ?? PLAIN_VALUES,
  };
}
