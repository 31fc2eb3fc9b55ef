import type { Admin, ITopicConfig } from 'kafkajs';
import { ConfigResourceTypes } from 'kafkajs';
import { FinpipeError } from '../errors';
import { retry } from '../retry';
import { assertTopicName } from '../symbols';

/** The broker's answer for a topic whose metadata has not propagated yet (or that does not exist). */
const UNKNOWN_TOPIC = 'UNKNOWN_TOPIC_OR_PARTITION';
/** A new partition's leader is not elected (or not known to this broker) yet. */
const LEADER_NOT_AVAILABLE = 'LEADER_NOT_AVAILABLE';

export interface TopicSpec {
  name: string;
  partitions: number;
  replicationFactor: number;
  configs?: Record<string, string>;
}

export interface TopicResult {
  name: string;
  status: 'created' | 'exists';
  partitions: number;
}

export interface TopicInfo {
  name: string;
  partitions: number;
  replicationFactor: number;
}

/** Partition counts of the given topics that exist; missing topics are absent from the map. */
async function existingPartitions(admin: Admin, names: string[]): Promise<Map<string, number>> {
  const all = new Set(await admin.listTopics());
  const present = names.filter((n) => all.has(n));
  if (present.length === 0) return new Map();
  const { topics } = await admin.fetchTopicMetadata({ topics: present });
  return new Map(topics.map((t) => [t.name, t.partitions.length]));
}

/** How long createTopics looks for new topics' leaders. */
export interface LeaderWait {
  attempts: number;
  initialMs: number;
  maxMs: number;
}
/** 30 looks, 10 ms apart at first, then up to 500 ms: about 12 s in all. */
const LEADER_WAIT: LeaderWait = { attempts: 30, initialMs: 10, maxMs: 500 };

/** Whether a metadata error means a topic just created has not reached the broker's metadata yet. */
function stillCreating(error: unknown): boolean {
  return [UNKNOWN_TOPIC, LEADER_NOT_AVAILABLE].includes((error as { type?: string }).type ?? '');
}

/**
 * Partition counts of topics just created, once every partition has a leader: right after
 * creation the broker may not know a topic (UNKNOWN_TOPIC_OR_PARTITION) or its leaders yet
 * for a few milliseconds. Polled from 10 ms up (LEADER_WAIT) rather than with kafkajs'
 * waitForLeaders, which sleeps 100 ms before its first look: measured here, 20 symbol topics
 * created one after another took 2.8 s with it and 0.76 s without.
 */
async function partitionsOnceLed(admin: Admin, names: string[], wait: LeaderWait): Promise<Map<string, number>> {
  const led = retry(
    async () => {
      const { topics } = await admin.fetchTopicMetadata({ topics: names });
      const leaderless = topics.find((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0));
      if (leaderless) throw Object.assign(new Error(`topic ${leaderless.name} has no leader yet`), { type: LEADER_NOT_AVAILABLE });
      return new Map(topics.map((t) => [t.name, t.partitions.length]));
    },
    { retriable: stillCreating, ...wait },
  );
  return led.catch((error: unknown) => {
    if (!stillCreating(error)) throw error; // anything else (a refused describe, a lost broker) as it is
    throw new FinpipeError(
      'KAFKA_ERROR',
      `topics ${names.join(', ')} are not ready after creating them (${wait.attempts} looks for their leaders): ${(error as Error).message}`,
      {
        cause: error,
        retriable: true,
        hint: 'check the broker log: the controller may be unable to place the partitions (too few brokers for the replication factor?)',
      },
    );
  });
}

/**
 * Creates topics idempotently, like `kafka-topics --create --if-not-exists` but stricter:
 * an existing topic with the requested partition count is reported as "exists"; one with a
 * different count is an error (silently using a topic partitioned differently would break
 * per-symbol ordering assumptions downstream).
 */
export async function createTopics(
  admin: Admin,
  specs: TopicSpec[],
  { strict = true, leaderWait = LEADER_WAIT }: { strict?: boolean; leaderWait?: LeaderWait } = {},
): Promise<TopicResult[]> {
  for (const spec of specs) assertTopicName(spec.name);
  const before = await existingPartitions(
    admin,
    specs.map((s) => s.name),
  );
  const toCreate = specs.filter((s) => !before.has(s.name));
  if (toCreate.length > 0) {
    const topics: ITopicConfig[] = toCreate.map((s) => ({
      topic: s.name,
      numPartitions: s.partitions,
      replicationFactor: s.replicationFactor,
      configEntries: Object.entries(s.configs ?? {}).map(([name, value]) => ({ name, value })),
    }));
    try {
      await admin.createTopics({ topics, waitForLeaders: false });
    } catch (error) {
      // Another client may have created some of them meanwhile: settled by the re-check below.
      const problems = creationProblems(error);
      if (problems.some((p) => p.type !== 'TOPIC_ALREADY_EXISTS' && p.type !== UNKNOWN_TOPIC)) {
        const collides = problems.some((p) => p.type === 'INVALID_TOPIC_EXCEPTION');
        throw new FinpipeError(
          'KAFKA_ERROR',
          `cannot create topics ${toCreate.map((t) => t.name).join(', ')}: ${problems.map((p) => p.text).join('; ')}`,
          {
            cause: error,
            hint: collides
              ? "a topic whose name differs only by '.' and '_' may exist (Kafka refuses such pairs): list them with `finpipe topics list`"
              : 'check the partition/replication settings and --config values against the broker',
          },
        );
      }
    }
  }
  const after =
    toCreate.length > 0
      ? await partitionsOnceLed(
          admin,
          specs.map((s) => s.name),
          leaderWait,
        )
      : before;
  return specs.map((spec) => {
    const partitions = after.get(spec.name);
    if (partitions === undefined)
      throw new FinpipeError('KAFKA_ERROR', `topic ${spec.name} was not created`, { hint: 'check the broker log' });
    const existed = before.has(spec.name);
    // Checked for every topic, not only those that existed before: another client may have
    // created one meanwhile (our create then failed with "already exists") with another count.
    if (strict && partitions !== spec.partitions) {
      throw new FinpipeError('TOPIC_CONFLICT', `topic ${spec.name} already exists with ${partitions} partitions, not ${spec.partitions}`, {
        hint: `use --partitions ${partitions}, or delete the topic first (finpipe topics delete ${spec.name} --yes)`,
        context: { topic: spec.name },
      });
    }
    return { name: spec.name, status: existed ? 'exists' : 'created', partitions };
  });
}

/** Makes sure topics exist (created on demand by process/sink); existing ones are left as they are. */
export async function ensureTopics(admin: Admin, specs: TopicSpec[]): Promise<void> {
  await createTopics(admin, specs, { strict: false });
}

export async function listTopics(admin: Admin, { includeInternal = false } = {}): Promise<TopicInfo[]> {
  const names = (await admin.listTopics()).filter((n) => includeInternal || !n.startsWith('__')).sort();
  if (names.length === 0) return [];
  const { topics } = await admin.fetchTopicMetadata({ topics: names });
  return topics
    .map((t) => ({ name: t.name, partitions: t.partitions.length, replicationFactor: t.partitions[0]?.replicas.length ?? 0 }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export interface TopicDescription {
  name: string;
  partitions: { partition: number; leader: number; replicas: number[]; isr: number[] }[];
  configs: { name: string; value: string | null; isDefault: boolean }[];
}

export async function describeTopic(admin: Admin, name: string): Promise<TopicDescription> {
  assertTopicName(name);
  const all = await admin.listTopics();
  if (!all.includes(name)) throw notFound(name);
  const { topics } = await admin.fetchTopicMetadata({ topics: [name] });
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name }] });
  const entries = described.resources[0]?.configEntries ?? [];
  return {
    name,
    partitions: topics[0].partitions
      .map((p) => ({ partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr }))
      .sort((a, b) => a.partition - b.partition),
    configs: entries
      .map((e) => ({ name: e.configName, value: e.isSensitive ? '***' : e.configValue, isDefault: e.isDefault }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}

export async function deleteTopics(admin: Admin, names: string[]): Promise<void> {
  names.forEach(assertTopicName);
  const all = new Set(await admin.listTopics());
  const missing = names.filter((n) => !all.has(n));
  if (missing.length > 0) throw notFound(missing.join(', '));
  await admin.deleteTopics({ topics: names, timeout: 30_000 });
}

function notFound(name: string): FinpipeError {
  return new FinpipeError('TOPIC_NOT_FOUND', `topic ${name} does not exist`, {
    hint: 'see `finpipe topics list` for the topics there are',
    context: { topic: name },
  });
}

/**
 * What a failed CreateTopics said, per topic: kafkajs wraps per-topic errors in one
 * KafkaJSAggregateError ("Topic creation errors") whose `errors` hold the broker's codes.
 */
function creationProblems(error: unknown): { type: string; text: string }[] {
  const e = error as { type?: string; message?: string; errors?: { type?: string; message?: string }[] };
  const aggregated = Array.isArray(e.errors) && e.errors.length > 0;
  return (aggregated ? e.errors! : [e]).map((x) => {
    const type = x.type ?? (/already exists/i.test(x.message ?? '') ? 'TOPIC_ALREADY_EXISTS' : 'UNKNOWN');
    const message = x.message ?? 'no message';
    return { type, text: aggregated ? `${type}: ${message}` : message };
  });
}
