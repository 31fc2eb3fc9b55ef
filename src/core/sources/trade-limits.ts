/**
 * The limits of src/core/limits.ts, checked on every trade at the door (produce), after the
 * trade's shape is known to be right (frames.ts). A trade that breaks one is refused on its
 * own: `produce` dead-letters it with the reason and writes the other trades of the frame.
 *
 * Why each check exists (the numbers are LIMITS'):
 *   symbol length    the stores' symbol column; process and sink refuse longer ones too
 *   symbol's topic   `process` writes each symbol to the topic symbolToTopic() names: it must
 *                    not be one of finpipe's own topics (raw, dead-letter, late, a group's
 *                    `*-state` changelog) nor Kafka's internal ones (`__*`). Kafka treats "."
 *                    and "_" as colliding, so `finpipe.dlq` is reserved as `finpipe_dlq` too
 *   trade time       the stores hold years 1970..9999, and a trade far in the future would
 *                    hold a symbol's watermark (and every later candle) hostage
 *   conditions       a bound keeps one trade, and so one record, small
 */
import { LIMITS } from '../limits';
import type { RawTrade } from '../serde';
import { symbolToTopic, topicNameProblem } from '../symbols';

export interface TradeLimits {
  /** How far ahead of the wall clock a trade's time may be (`--max-future`). */
  maxFutureMs: number;
  /** finpipe's own topics (raw, dead-letter, late): no symbol may be written to one of them. */
  reservedTopics: readonly string[];
}

/** Kafka refuses a topic whose name equals another's with "." and "_" exchanged. */
const collisionKey = (topic: string): string => topic.replace(/\./g, '_');

/**
 * The first limit `trade` breaks as a reason (`data[3].t: ...`), or null if it keeps them all.
 * `symbols` caches the symbol checks of one frame (a frame repeats a few symbols many times).
 */
export function tradeLimitProblem(
  trade: RawTrade,
  path: string,
  limits: TradeLimits,
  nowMs: number,
  symbols = new Map<string, string | null>(),
): string | null {
  let symbol = symbols.get(trade.s);
  if (symbol === undefined) symbols.set(trade.s, (symbol = symbolProblem(trade.s, limits.reservedTopics)));
  if (symbol) return `${path}.s: ${symbol}`;
  const time = timeProblem(trade.t, limits.maxFutureMs, nowMs);
  if (time) return `${path}.t: ${time}`;
  return conditionsProblem(trade.c, path);
}

/** Why this symbol cannot be carried through the pipeline, or null. */
export function symbolProblem(symbol: string, reservedTopics: readonly string[]): string | null {
  if (symbol.length > LIMITS.symbolMaxLength) {
    return (
      `symbol ${JSON.stringify(`${symbol.slice(0, 40)}...`)} is ${symbol.length} characters long; ` +
      `at most ${LIMITS.symbolMaxLength} are allowed (the stores' symbol column); send Finnhub's symbol`
    );
  }
  const topic = symbolToTopic(symbol);
  const invalid = topicNameProblem(topic);
  if (invalid) return `symbol ${JSON.stringify(symbol)} cannot become a topic name: ${invalid}`;
  const reserved = reservedTopics.find((name) => collisionKey(name) === collisionKey(topic));
  const why = reserved
    ? `finpipe's own topic ${JSON.stringify(reserved)}`
    : topic.startsWith('__')
      ? "Kafka's internal topics (names starting with __)"
      : topic.endsWith('-state')
        ? "process's state changelogs (names ending in -state)"
        : null;
  if (!why) return null;
  return `symbol ${JSON.stringify(symbol)} would be written to the topic ${JSON.stringify(topic)}, reserved for ${why}; rename the symbol at the sender`;
}

/** Why this trade time (ms) is refused, or null. */
export function timeProblem(t: number, maxFutureMs: number, nowMs: number): string | null {
  const iso = (ms: number): string => (Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : 'beyond any date');
  if (t < LIMITS.tradeTimeMinMs) return `${t} (${iso(t)}) is before ${iso(LIMITS.tradeTimeMinMs)}, the earliest time the stores hold`;
  if (t > LIMITS.tradeTimeMaxMs) {
    return `${t} (${iso(t)}) is after ${iso(LIMITS.tradeTimeMaxMs)}, the latest time the stores hold; check the sender's clock and units (ms)`;
  }
  const ahead = t - nowMs;
  if (ahead > maxFutureMs) {
    return (
      `${t} (${iso(t)}) is ${ahead} ms ahead of this machine's clock, more than the ${maxFutureMs} ms allowed; ` +
      "check the sender's clock, or allow more with --max-future / FINPIPE_MAX_FUTURE"
    );
  }
  return null;
}

function conditionsProblem(c: RawTrade['c'], path: string): string | null {
  if (!c) return null;
  if (c.length > LIMITS.conditionsMaxCount) {
    return `${path}.c: ${c.length} condition codes; at most ${LIMITS.conditionsMaxCount} are allowed (Finnhub sends a few short codes)`;
  }
  const i = c.findIndex((code) => code !== null && code.length > LIMITS.conditionMaxLength);
  if (i < 0) return null;
  const length = c[i]?.length ?? 0;
  return (
    `${path}.c[${i}]: condition code is ${length} characters long; at most ${LIMITS.conditionMaxLength} are allowed ` +
    `(Finnhub's are short codes like "12")`
  );
}
