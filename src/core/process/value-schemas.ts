import type { ValueKind } from '../serde/registry';
import { symbolTopics } from '../symbols';
import type { ProcessOptions } from './options';
import type { OutputTopics } from './output-topics';

/** What a per-symbol topic holds (one subject each, see src/core/serde/registry). */
export const SYMBOL_TOPIC_KINDS: ValueKind[] = ['trade', 'candle'];

/**
 * At start-up, with a Schema Registry: registers the subjects of the late-trades topic and
 * of the symbol topics known in advance (the symbols given), so an incompatible schema stops
 * process before its first transaction. Topics of other symbols are registered when they
 * are first written (BatchTransaction). Without a registry, nothing happens.
 */
export async function registerValueSchemas(options: ProcessOptions, outputs: OutputTopics): Promise<void> {
  const { writer } = options.values;
  if (!writer.framed) return;
  await writer.prepare(options.topics.late, ['trade']);
  for (const symbol of symbolTopics(options.symbols).keys()) {
    if (outputs.problem(symbol) === null) await writer.prepare(outputs.topic(symbol), SYMBOL_TOPIC_KINDS);
  }
}
