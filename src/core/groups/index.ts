import { AssignerProtocol, type Admin, type GroupDescription } from 'kafkajs';
import { FinpipeError } from '../errors';
import { groupLag, type PartitionLag } from '../kafka/lag';
import { finpipeRole } from './roles';

/**
 * `finpipe groups list|describe|delete` (reset-offsets: reset.ts), like rpk group /
 * kafka-consumer-groups.sh. Every function takes a connected admin client.
 */
export interface GroupSummary {
  groupId: string;
  state: string;
  protocolType: string;
  members: number;
  /** What the group is to finpipe (process, sink, ...); null for other groups. */
  finpipe: string | null;
}

export interface GroupMember {
  memberId: string;
  clientId: string;
  host: string;
  assignment: { topic: string; partitions: number[] }[];
}

export interface GroupPartition extends PartitionLag {
  /** The member's client id the partition is assigned to; null when no member has it. */
  clientId: string | null;
  memberId: string | null;
}

export interface GroupDetail extends GroupSummary {
  memberList: GroupMember[];
  partitions: GroupPartition[];
  totalLag: number;
}

export async function listGroups(admin: Admin): Promise<GroupSummary[]> {
  const ids = (await admin.listGroups()).groups.map((g) => g.groupId).sort();
  if (ids.length === 0) return [];
  const { groups } = await admin.describeGroups(ids);
  return groups.map(summary).sort((a, b) => a.groupId.localeCompare(b.groupId));
}

function summary(g: GroupDescription): GroupSummary {
  return { groupId: g.groupId, state: g.state, protocolType: g.protocolType, members: g.members.length, finpipe: finpipeRole(g.groupId) };
}

/** The group as the broker describes it; GROUP_NOT_FOUND when it does not exist. */
export async function describeExisting(admin: Admin, groupId: string): Promise<GroupDescription> {
  const [group] = (await admin.describeGroups([groupId])).groups;
  if (!group || group.state === 'Dead')
    throw new FinpipeError('GROUP_NOT_FOUND', `consumer group ${groupId} does not exist`, {
      hint: 'list the groups with `finpipe groups list`',
      context: { groupId },
    });
  return group;
}

/** Refuses to change a group whose members are running: they would overwrite the change at their next commit. */
export function assertIdle(group: GroupDescription, action: string): void {
  if (group.members.length === 0) return;
  const clients = [...new Set(group.members.map((m) => `${m.clientId}@${m.clientHost}`))].join(', ');
  throw new FinpipeError(
    'GROUP_ACTIVE',
    `refusing to ${action} group ${group.groupId}: it has ${group.members.length} active member(s) (${clients})`,
    {
      hint: 'stop its consumers first (their next commit would undo this); `finpipe groups describe` shows them',
      context: { groupId: group.groupId },
    },
  );
}

function memberAssignment(buffer: Buffer): { topic: string; partitions: number[] }[] {
  try {
    const decoded = AssignerProtocol.MemberAssignment.decode(buffer);
    return Object.entries(decoded?.assignment ?? {}).map(([topic, partitions]) => ({
      topic,
      partitions: [...partitions].sort((a, b) => a - b),
    }));
  } catch {
    return []; // not a consumer-protocol group (e.g. Kafka Connect): no partitions to show
  }
}

export async function describeGroup(admin: Admin, groupId: string): Promise<GroupDetail> {
  const group = await describeExisting(admin, groupId);
  const memberList: GroupMember[] = group.members.map((m) => ({
    memberId: m.memberId,
    clientId: m.clientId,
    host: m.clientHost,
    assignment: memberAssignment(m.memberAssignment),
  }));
  const owner = new Map<string, GroupMember>();
  for (const m of memberList) for (const a of m.assignment) for (const p of a.partitions) owner.set(`${a.topic}/${p}`, m);
  const ends = new Map<string, Map<number, number>>();
  const lag = await groupLag(admin, groupId, ends);
  // Assigned partitions the group has not committed for yet have no row in groupLag.
  for (const [key] of owner) {
    const [topic, p] = [key.slice(0, key.lastIndexOf('/')), Number(key.slice(key.lastIndexOf('/') + 1))];
    if (lag.some((l) => l.topic === topic && l.partition === p)) continue;
    if (!ends.has(topic)) ends.set(topic, new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)])));
    const end = ends.get(topic)?.get(p) ?? 0;
    lag.push({ topic, partition: p, committed: null, end, lag: end });
  }
  const partitions = lag
    .map((l) => ({
      ...l,
      clientId: owner.get(`${l.topic}/${l.partition}`)?.clientId ?? null,
      memberId: owner.get(`${l.topic}/${l.partition}`)?.memberId ?? null,
    }))
    .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  return { ...summary(group), memberList, partitions, totalLag: partitions.reduce((s, p) => s + p.lag, 0) };
}

/** Deletes idle groups; checks every one before deleting any. */
export async function deleteGroups(admin: Admin, groupIds: string[]): Promise<void> {
  for (const groupId of groupIds) assertIdle(await describeExisting(admin, groupId), 'delete');
  try {
    await admin.deleteGroups(groupIds);
  } catch (error) {
    const failed = (error as { groups?: { groupId: string; error?: Error }[] }).groups;
    const detail = failed?.map((g) => `${g.groupId}: ${g.error?.message ?? 'failed'}`).join('; ') ?? (error as Error).message;
    throw new FinpipeError('KAFKA_ERROR', `deleting ${groupIds.join(', ')} failed: ${detail}`, {
      cause: error,
      hint: 'a member may have joined meanwhile; check with `finpipe groups describe`',
    });
  }
}
