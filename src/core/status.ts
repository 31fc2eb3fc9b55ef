import type { Admin } from 'kafkajs';
import type { Config } from './config';
import type { Logger } from './log';
import { createKafka } from './kafka/client';
import { groupLag, type PartitionLag } from './kafka/lag';
import { FinpipeError, describeError } from './errors';
import { redactText } from './redact';
import { openStoreReader } from './stores';
import type { StoreHealth, SymbolSummary } from './stores/types';

/**
 * `finpipe status`: one look at the whole pipeline, for a human at 3 a.m. or a health check.
 * Every section is gathered independently: an unreachable database still shows Kafka's
 * state, and the reason a section is missing is part of the report.
 */
export interface PipelineStatus {
  ok: boolean;
  /** The store the sink writes (FINPIPE_STORE): its section in `services` has this name. */
  store: string;
  services: {
    kafka: { reachable: boolean; brokers: string[]; clusterId?: string; brokerCount?: number; controller?: number | null; error?: string };
    /** `refused`: the server answered but refused us (credentials, privileges, TLS), as opposed to unreachable. */
    mysql?: StoreService;
    cassandra?: StoreService;
  };
  topics: { name: string; partitions: number; messages: number }[];
  groups: GroupStatus[];
  symbols: SymbolStatus[];
}

export type StoreService = StoreHealth & { refused?: boolean; hint?: string };

export interface GroupStatus {
  groupId: string;
  state: string;
  members: number;
  totalLag: number;
  partitions: PartitionLag[];
}

export type SymbolStatus = SymbolSummary;

export async function collectStatus(config: Config, logger: Logger): Promise<PipelineStatus> {
  const [kafka, db] = await Promise.all([kafkaStatus(config, logger), storeStatus(config, logger)]);
  return {
    ok: kafka.service.reachable && db.service.reachable,
    store: config.store,
    services: { kafka: kafka.service, [config.store]: db.service },
    topics: kafka.topics,
    groups: kafka.groups,
    symbols: db.symbols,
  };
}

async function kafkaStatus(
  config: Config,
  logger: Logger,
): Promise<{ service: PipelineStatus['services']['kafka']; topics: PipelineStatus['topics']; groups: GroupStatus[] }> {
  const service: PipelineStatus['services']['kafka'] = { reachable: false, brokers: config.kafka.brokers };
  const admin = createKafka(config.kafka, logger, 'status', { retries: 2 }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    Object.assign(service, {
      reachable: true,
      clusterId: cluster.clusterId,
      brokerCount: cluster.brokers.length,
      controller: cluster.controller,
    });
    const topics = await topicStatus(admin);
    const groups = await groupStatus(admin);
    return { service, topics, groups };
  } catch (error) {
    service.error = redactText(describeError(error));
    return { service, topics: [], groups: [] };
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function topicStatus(admin: Admin): Promise<PipelineStatus['topics']> {
  const names = (await admin.listTopics()).filter((n) => !n.startsWith('__')).sort();
  return Promise.all(
    names.map(async (name) => {
      const offsets = await admin.fetchTopicOffsets(name);
      // high - low counts records still retained (approximate on compacted topics and with transaction markers).
      const messages = offsets.reduce((sum, p) => sum + (Number(p.high) - Number(p.low)), 0);
      return { name, partitions: offsets.length, messages };
    }),
  );
}

async function groupStatus(admin: Admin): Promise<GroupStatus[]> {
  const { groups } = await admin.listGroups();
  const ids = groups
    .filter((g) => g.protocolType === 'consumer' || g.protocolType === '')
    .map((g) => g.groupId)
    .sort();
  if (ids.length === 0) return [];
  const described = await admin.describeGroups(ids);
  const endOffsets = new Map<string, Map<number, number>>();
  const result: GroupStatus[] = [];
  for (const group of described.groups) {
    const partitions = await groupLag(admin, group.groupId, endOffsets);
    result.push({
      groupId: group.groupId,
      state: group.state,
      members: group.members.length,
      totalLag: partitions.reduce((s, p) => s + p.lag, 0),
      partitions,
    });
  }
  return result;
}

async function storeStatus(config: Config, logger: Logger): Promise<{ service: StoreService; symbols: SymbolStatus[] }> {
  const reader = await openStoreReader(config.store, { config, logger });
  try {
    try {
      await reader.open();
    } catch (error) {
      // open() tells an unreachable server (retriable) from one that refused us (wrong
      // password: not retriable); health() alone cannot, and "start the services" would be
      // the wrong advice for a refused password.
      const { host, port, database } =
        config.store === 'cassandra' ? { ...config.cassandra, database: config.cassandra.keyspace } : config.mysql;
      const refused = !(error instanceof FinpipeError && error.retriable);
      const hint = error instanceof FinpipeError ? error.hint : undefined;
      return { service: { reachable: false, refused, host, port, database, error: redactText(describeError(error)), hint }, symbols: [] };
    }
    const service = await reader.health();
    if (!service.reachable) return { service, symbols: [] };
    try {
      return { service, symbols: await reader.symbolSummaries() };
    } catch (error) {
      return {
        service: { ...service, error: `connected, but reading the tables failed: ${redactText(describeError(error))}` },
        symbols: [],
      };
    }
  } finally {
    await reader.close();
  }
}
