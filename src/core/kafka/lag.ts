import type { Admin } from 'kafkajs';

export interface PartitionLag {
  topic: string;
  partition: number;
  /** Next offset the group will read; null before its first commit on the partition. */
  committed: number | null;
  end: number;
  lag: number;
}

/**
 * A consumer group's committed offset, end offset and lag on every partition it has
 * committed for (`kafka-consumer-groups --describe`). Topics deleted since are skipped.
 * `endOffsets` may be shared between calls to ask for each topic's ends once.
 */
export async function groupLag(
  admin: Admin,
  groupId: string,
  endOffsets = new Map<string, Map<number, number>>(),
): Promise<PartitionLag[]> {
  const existing = new Set(await admin.listTopics());
  const result: PartitionLag[] = [];
  for (const { topic, partitions } of await admin.fetchOffsets({ groupId })) {
    if (!existing.has(topic)) continue;
    if (!endOffsets.has(topic))
      endOffsets.set(topic, new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)])));
    const ends = endOffsets.get(topic)!;
    for (const p of partitions) {
      const end = ends.get(p.partition) ?? 0;
      const offset = Number(p.offset);
      const committed = offset >= 0 ? offset : null;
      result.push({ topic, partition: p.partition, committed, end, lag: committed === null ? end : Math.max(0, end - committed) });
    }
  }
  return result.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
}
