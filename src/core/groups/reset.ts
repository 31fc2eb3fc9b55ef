import type { Admin } from 'kafkajs';
import { FinpipeError } from '../errors';
import { assertIdle } from './index';

/**
 * `finpipe groups reset-offsets`: moves a group's committed offsets, like
 * kafka-consumer-groups --reset-offsets. Refused while the group has members (their next
 * commit would undo it). A group that does not exist yet gets the offsets (it is created),
 * as with Kafka's tool: that is how a new group is made to start at a point in time.
 */
export type ResetTarget = { kind: 'earliest' } | { kind: 'latest' } | { kind: 'timestamp'; timestamp: number };

export interface ResetRow {
  topic: string;
  partition: number;
  /** The committed offset now; null when the group has none for the partition. */
  current: number | null;
  target: number;
}

export function targetLabel(target: ResetTarget): string {
  if (target.kind === 'timestamp') return `the first offset at or after ${new Date(target.timestamp).toISOString()}`;
  return `the ${target.kind} offset`;
}

/** The topics a group has committed offsets for (for --all-topics). */
export async function committedTopics(admin: Admin, groupId: string): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  return (await admin.fetchOffsets({ groupId }))
    .filter((t) => existing.has(t.topic) && t.partitions.some((p) => Number(p.offset) >= 0))
    .map((t) => t.topic)
    .sort();
}

/** What the reset would do, partition by partition. Checks that the group is idle and the topics exist. */
export async function planReset(admin: Admin, groupId: string, topics: string[], target: ResetTarget): Promise<ResetRow[]> {
  const [group] = (await admin.describeGroups([groupId])).groups;
  if (group && group.state !== 'Dead') assertIdle(group, 'reset the offsets of');
  if (topics.length === 0)
    throw new FinpipeError('USAGE', `group ${groupId} has no committed offsets to reset`, {
      hint: 'name the topics with --topic',
    });
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length > 0)
    throw new FinpipeError('TOPIC_NOT_FOUND', `topic ${missing.join(', ')} does not exist`, {
      hint: 'check the name with `finpipe topics list`',
    });
  const committed = await admin.fetchOffsets({ groupId, topics });
  const rows: ResetRow[] = [];
  for (const topic of topics) {
    const ranges = await admin.fetchTopicOffsets(topic);
    const atTime =
      target.kind === 'timestamp'
        ? new Map((await admin.fetchTopicOffsetsByTimestamp(topic, target.timestamp)).map((o) => [o.partition, Number(o.offset)]))
        : undefined;
    const current = committed.find((t) => t.topic === topic)?.partitions ?? [];
    for (const r of ranges) {
      const now = Number(current.find((p) => p.partition === r.partition)?.offset ?? -1);
      const newOffset =
        target.kind === 'earliest'
          ? Number(r.low)
          : target.kind === 'latest'
            ? Number(r.high)
            : (atTime?.get(r.partition) ?? Number(r.high));
      rows.push({ topic, partition: r.partition, current: now >= 0 ? now : null, target: newOffset });
    }
  }
  return rows.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
}

/** Commits the planned offsets. The group must still be idle (checked again right before). */
export async function applyReset(admin: Admin, groupId: string, rows: ResetRow[]): Promise<void> {
  const [group] = (await admin.describeGroups([groupId])).groups;
  if (group && group.state !== 'Dead') assertIdle(group, 'reset the offsets of');
  for (const topic of [...new Set(rows.map((r) => r.topic))]) {
    const partitions = rows.filter((r) => r.topic === topic).map((r) => ({ partition: r.partition, offset: String(r.target) }));
    try {
      await admin.setOffsets({ groupId, topic, partitions });
    } catch (error) {
      throw new FinpipeError('KAFKA_ERROR', `resetting ${groupId} on ${topic} failed: ${(error as Error).message}`, {
        cause: error,
        hint: 'a member may have joined meanwhile; check with `finpipe groups describe`',
      });
    }
  }
}
