/**
 * Finnhub websocket frames: parsing and validation, shared by every source.
 *
 * The wire format (docs/finnhub-protocol.md), one JSON text frame each:
 *   {"type":"trade","data":[{"s":"BINANCE:BTCUSDT","p":7296.89,"t":1575526691134,"v":0.011467,"c":["1"]}, ...]}
 *   {"type":"ping"}
 *   {"type":"error","msg":"Subscribing to too many symbols"}
 * A trade frame carries one or more trades, possibly of several symbols; `c` is optional.
 *
 * Validation is per trade: a frame with one bad trade still yields its good ones, and the
 * caller dead-letters the raw frame with every reason. Reasons name the exact field
 * (`data[3].p: must be a finite number > 0`) so a dead letter explains itself.
 *
 * A trade of the right shape that breaks one of finpipe's limits (trade-limits.ts: symbol
 * length and topic, time range, conditions) is `refused` instead: the caller dead-letters
 * that trade on its own, with its reason.
 */
import type { RawTrade } from '../serde';
import { tradeLimitProblem, type TradeLimits } from './trade-limits';

/** A well-formed trade that breaks a limit: the item as received, where it was, and why. */
export interface RefusedTrade {
  item: unknown;
  reason: string;
}

export type ParsedFrame =
  /**
   * `trades` are the valid trades; `problems` the reasons malformed ones were rejected, and
   * `refused` the well-formed trades that break a limit (both empty if none).
   */
  | { kind: 'trade'; trades: RawTrade[]; problems: string[]; refused: RefusedTrade[] }
  | { kind: 'ping' }
  | { kind: 'error'; message: string }
  /** Nothing usable in the frame. */
  | { kind: 'invalid'; problems: string[] };

/** Earliest plausible trade time in ms (1973): smaller values are almost always seconds. */
const MIN_MS_TIMESTAMP = 1e11;
/** Latest time a JS Date can hold. */
const MAX_MS_TIMESTAMP = 8.64e15;

/** Without `limits`, only the shape is checked (tests, tools); every stage passes them. */
export function parseFrame(data: Buffer | string, binary = false, limits?: TradeLimits): ParsedFrame {
  if (binary) return { kind: 'invalid', problems: ['frame: binary frame; Finnhub sends JSON text frames'] };
  const text = typeof data === 'string' ? data : data.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { kind: 'invalid', problems: [`frame: invalid JSON (${(error as Error).message})`] };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { kind: 'invalid', problems: [`frame: must be a JSON object, not ${describe(value)}`] };
  }
  const frame = value as { type?: unknown; data?: unknown; msg?: unknown };
  switch (frame.type) {
    case 'trade':
      break;
    case 'ping':
      return { kind: 'ping' };
    case 'error':
      return { kind: 'error', message: typeof frame.msg === 'string' ? frame.msg : JSON.stringify(frame.msg ?? null) };
    default:
      return {
        kind: 'invalid',
        problems: [
          typeof frame.type === 'string'
            ? `type: unknown message type ${JSON.stringify(frame.type)} (expected trade, ping or error)`
            : `type: must be a string, not ${describe(frame.type)}`,
        ],
      };
  }
  if (!Array.isArray(frame.data)) return { kind: 'invalid', problems: [`data: must be an array of trades, not ${describe(frame.data)}`] };
  if (frame.data.length === 0) return { kind: 'invalid', problems: ['data: must not be empty'] };
  const { trades, problems, refused } = validateTrades(frame.data, 'data', limits);
  if (trades.length === 0 && refused.length === 0) return { kind: 'invalid', problems };
  return { kind: 'trade', trades, problems, refused };
}

/**
 * Validates an array of Finnhub trades; `path` prefixes reasons (`data` -> `data[3].p: ...`,
 * '' -> `[3].p: ...`). With `limits`, well-formed trades that break one are `refused`.
 */
export function validateTrades(
  items: readonly unknown[],
  path: string,
  limits?: TradeLimits,
  nowMs = Date.now(),
): { trades: RawTrade[]; problems: string[]; refused: RefusedTrade[] } {
  const trades: RawTrade[] = [];
  const problems: string[] = [];
  const refused: RefusedTrade[] = [];
  const symbols = new Map<string, string | null>();
  for (let i = 0; i < items.length; i++) {
    const before = problems.length;
    const trade = validateTrade(items[i], `${path}[${i}]`, problems);
    if (!trade || problems.length !== before) continue;
    const reason = limits ? tradeLimitProblem(trade, `${path}[${i}]`, limits, nowMs, symbols) : null;
    if (reason) refused.push({ item: items[i], reason });
    else trades.push(trade);
  }
  return { trades, problems, refused };
}

/** One trade; appends a reason per bad field to `problems` and returns null if any. */
export function validateTrade(item: unknown, path: string, problems: string[]): RawTrade | null {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    problems.push(`${path}: must be an object with s, p, t, v, not ${describe(item)}`);
    return null;
  }
  const { s, p, t, v, c } = item as Record<string, unknown>;
  const before = problems.length;
  if (typeof s !== 'string' || s.trim() === '') problems.push(`${path}.s: must be a non-empty string, not ${describe(s)}`);
  if (typeof p !== 'number' || !Number.isFinite(p) || p <= 0) problems.push(`${path}.p: must be a finite number > 0, not ${describe(p)}`);
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0 || t > MAX_MS_TIMESTAMP) {
    problems.push(`${path}.t: must be an integer time in ms since the epoch, not ${describe(t)}`);
  } else if (t < MIN_MS_TIMESTAMP) {
    problems.push(`${path}.t: ${t} is before 1973 in ms; Finnhub sends milliseconds, was it seconds?`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) problems.push(`${path}.v: must be a finite number >= 0, not ${describe(v)}`);
  let conditions: (string | null)[] | null = null;
  if (c !== undefined && c !== null) {
    if (!Array.isArray(c) || !c.every((x) => typeof x === 'string' || x === null)) {
      problems.push(`${path}.c: must be absent, null or an array of strings, not ${describe(c)}`);
    } else {
      conditions = c as (string | null)[];
    }
  }
  if (problems.length > before) return null;
  return { s: s as string, p: p as number, t: t as number, v: v as number, c: conditions };
}

/** Groups trades by symbol, keeping each symbol's trades in arrival order. */
export function groupBySymbol(trades: readonly RawTrade[]): Map<string, RawTrade[]> {
  const groups = new Map<string, RawTrade[]>();
  for (const trade of trades) {
    const group = groups.get(trade.s);
    if (group) group.push(trade);
    else groups.set(trade.s, [trade]);
  }
  return groups;
}

/** A short description of a bad value for a reason: `"12.5" (a string)`, `null`, `an array`. */
function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)} (a string)`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'boolean') return `${value} (a boolean)`;
  return `a ${typeof value}`; // a function, symbol or bigint: JSON.parse makes none of them
}
