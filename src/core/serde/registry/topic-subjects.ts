import type { Config } from '../../config';
import { RegistryClient } from './client';
import { schemaOf, subjectsFor, type ValueKind } from './index';

/**
 * `finpipe topics create --schema-registry`: registers the subjects of the topics finpipe
 * knows the value schema of by their name, so a Kafka Connect or ksqlDB user sees the schemas
 * before the first record is written. Only two topics qualify: the raw topic (raw trade
 * messages, `<raw>-value`) and the late-trades topic (finpipe.Trade, `<late>-value`).
 * Dead letters keep the original bytes of whatever was refused (no one schema), and
 * per-symbol topics are registered by `finpipe process` (at start for the symbols it is
 * given, otherwise when it first writes to the topic), so neither is registered here.
 */

/** Which schema a topic holds, by its name (see the module comment); null: none registered here. */
export function topicValueKinds(topics: Config['topics'], name: string): ValueKind[] | null {
  if (name === topics.raw) return ['raw'];
  if (name === topics.late) return ['trade'];
  return null;
}

export interface RegisteredSubject {
  topic: string;
  subject: string;
  id: number;
}

/**
 * Registers the subjects of `names` that topicValueKinds knows, each after the registry's
 * compatibility check (RegistryClient.register): throws SCHEMA_INCOMPATIBLE for the first
 * subject whose latest version finpipe's schema is not compatible with.
 */
export async function registerTopicSubjects(
  client: RegistryClient,
  topics: Config['topics'],
  names: string[],
): Promise<RegisteredSubject[]> {
  const registered: RegisteredSubject[] = [];
  for (const topic of names) {
    const kinds = topicValueKinds(topics, topic);
    if (!kinds) continue;
    for (const { subject, kind } of subjectsFor(topic, kinds))
      registered.push({ topic, subject, id: await client.register(subject, schemaOf(kind)) });
  }
  return registered;
}
