/**
 * One error type for everything finpipe reports to a user.
 *
 * The CLI's error boundary turns a FinpipeError into one line (message + hint) and an exit
 * code; anything else is treated as a bug (exit 1, stack at debug level). Context fields
 * (topic, partition, symbol...) are enumerable so pino logs them with the error.
 */

/** The closed list of error codes. Add a code here, never invent one inline. */
export const ERROR_CODES = {
  USAGE: { exit: 2, retriable: false },
  CONFIG_INVALID: { exit: 2, retriable: false },
  NOT_IMPLEMENTED: { exit: 2, retriable: false },
  TOPIC_NAME_INVALID: { exit: 2, retriable: false },
  SYMBOL_INVALID: { exit: 2, retriable: false },
  SYMBOL_COLLISION: { exit: 2, retriable: false },
  SYMBOL_LIMIT: { exit: 2, retriable: false },
  SYMBOL_UNKNOWN: { exit: 2, retriable: false },
  TOPIC_CONFLICT: { exit: 1, retriable: false },
  TOPIC_NOT_FOUND: { exit: 1, retriable: false },
  GROUP_NOT_FOUND: { exit: 1, retriable: false },
  GROUP_ACTIVE: { exit: 1, retriable: false },
  KAFKA_UNAVAILABLE: { exit: 1, retriable: true },
  KAFKA_ERROR: { exit: 1, retriable: false },
  MYSQL_UNAVAILABLE: { exit: 1, retriable: true },
  MYSQL_ERROR: { exit: 1, retriable: false },
  CASSANDRA_UNAVAILABLE: { exit: 1, retriable: true },
  CASSANDRA_ERROR: { exit: 1, retriable: false },
  SOURCE_UNAVAILABLE: { exit: 1, retriable: true },
  SOURCE_ERROR: { exit: 1, retriable: false },
  DECODE_FAILED: { exit: 1, retriable: false },
  REGISTRY_UNAVAILABLE: { exit: 1, retriable: true },
  REGISTRY_ERROR: { exit: 1, retriable: false },
  SCHEMA_INCOMPATIBLE: { exit: 1, retriable: false },
  STATE_MISSING: { exit: 1, retriable: false },
  IO_ERROR: { exit: 1, retriable: false },
  INTERNAL: { exit: 1, retriable: false },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FinpipeErrorOptions {
  /** One short sentence telling the user what to do about it. */
  hint?: string;
  cause?: unknown;
  /** Overrides the code's default: may this operation succeed if simply tried again? */
  retriable?: boolean;
  /** Extra fields (topic, partition, symbol, path...) logged with the error. */
  context?: Record<string, unknown>;
}

export class FinpipeError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly retriable: boolean;
  readonly context: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: FinpipeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FinpipeError';
    this.code = code;
    this.hint = options.hint;
    this.retriable = options.retriable ?? ERROR_CODES[code].retriable;
    this.context = options.context ?? {};
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }
}

/** Programming errors are never worth retrying: retrying a TypeError only repeats the bug. */
export function isRetriable(error: unknown): boolean {
  if (error instanceof FinpipeError) return error.retriable;
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) return false;
  // Adapters turn their errors into FinpipeErrors (kafka/errors.ts, stores/mysql/errors.ts);
  // what still arrives raw is kafkajs' own flag or a node network error's errno code.
  const e = error as { retriable?: boolean; code?: string } | null;
  if (e && typeof e.retriable === 'boolean') return e.retriable;
  return !!e && typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code);
}

const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** A short human description of any thrown value, for logs and the error boundary. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
