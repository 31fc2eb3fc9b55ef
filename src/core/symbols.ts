import { FinpipeError } from './errors';

/**
 * Finnhub symbols ⇄ Kafka topic names.
 *
 * Kafka allows only [a-zA-Z0-9._-] in topic names (at most 249 characters, not "." or "..").
 * A symbol's topic replaces every other character with "_" — and "." too, because Kafka
 * warns that "." and "_" collide in metric names:
 *   BINANCE:BTCUSDT -> BINANCE_BTCUSDT,  IC MARKETS:1 -> IC_MARKETS_1,  BRK.B -> BRK_B
 * Two symbols that map to one name (e.g. "A:B" and "A B") are an error, never merged.
 */
export const MAX_TOPIC_NAME_LENGTH = 249;

/** Kafka's rules for topic names; null when the name is legal. */
export function topicNameProblem(name: string): string | null {
  if (!name) return 'topic name must not be empty';
  if (name === '.' || name === '..') return `topic name "${name}" is not allowed ("." and ".." are reserved)`;
  if (name.length > MAX_TOPIC_NAME_LENGTH)
    return `topic name is ${name.length} characters long; at most ${MAX_TOPIC_NAME_LENGTH} are allowed`;
  const bad = name.match(/[^a-zA-Z0-9._-]/g);
  if (bad) {
    const chars = [...new Set(bad)].map((c) => JSON.stringify(c)).join(', ');
    return `topic name "${name}" contains ${chars}; only letters, digits, ".", "_" and "-" are allowed`;
  }
  return null;
}

export function assertTopicName(name: string): string {
  const problem = topicNameProblem(name);
  if (problem)
    throw new FinpipeError('TOPIC_NAME_INVALID', problem, { hint: 'rename the topic using only [a-zA-Z0-9._-]', context: { topic: name } });
  return name;
}

/** The mapping alone, without checks: callers that must not throw check the result themselves. */
export function symbolTopicName(symbol: string): string {
  return symbol.trim().replace(/[^a-zA-Z0-9_-]/g, '_');
}

export function symbolToTopic(symbol: string): string {
  const trimmed = symbol.trim();
  if (!trimmed) throw new FinpipeError('SYMBOL_INVALID', 'symbol must not be empty', { hint: 'pass symbols like BINANCE:BTCUSDT or AAPL' });
  const topic = symbolTopicName(trimmed);
  if (topic.length > MAX_TOPIC_NAME_LENGTH) {
    throw new FinpipeError(
      'SYMBOL_INVALID',
      `symbol "${trimmed.slice(0, 40)}…" is ${trimmed.length} characters; its topic name may have at most ${MAX_TOPIC_NAME_LENGTH}`,
      { context: { symbol: trimmed } },
    );
  }
  return topic;
}

/**
 * Maps each symbol to its topic, rejecting collisions: every pair of distinct symbols that
 * would share a topic is listed. Duplicated symbols are fine (they are the same symbol).
 */
export function symbolTopics(symbols: Iterable<string>): Map<string, string> {
  const bySymbol = new Map<string, string>();
  const byTopic = new Map<string, string[]>();
  for (const raw of symbols) {
    const symbol = raw.trim();
    if (bySymbol.has(symbol)) continue;
    const topic = symbolToTopic(symbol);
    bySymbol.set(symbol, topic);
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), symbol]);
  }
  const collisions = [...byTopic].filter(([, owners]) => owners.length > 1);
  if (collisions.length > 0) {
    const list = collisions.map(([topic, owners]) => `${owners.map((o) => JSON.stringify(o)).join(' and ')} -> ${topic}`).join('; ');
    throw new FinpipeError('SYMBOL_COLLISION', `symbols collide on one topic name: ${list}`, {
      hint: 'process these symbols in separate runs or rename one upstream',
    });
  }
  return bySymbol;
}
