import mysql, { type RowDataPacket } from 'mysql2/promise';
import type { Admin } from 'kafkajs';
import type { Config } from './config';
import type { Logger } from './log';
import { createKafka } from './kafka/client';
import { groupLag, type PartitionLag } from './kafka/lag';
import { describeError } from './errors';
import { redactText } from './redact';

/**
 * `finpipe status`: one look at the whole pipeline, for a human at 3 a.m. or a health check.
 * Every section is gathered independently: an unreachable database still shows Kafka's
 * state, and the reason a section is missing is part of the report.
 */
export interface PipelineStatus {
  ok: boolean;
  services: {
    kafka: { reachable: boolean; brokers: string[]; clusterId?: string; brokerCount?: number; controller?: number | null; error?: string };
    mysql: { reachable: boolean; host: string; port: number; database: string; version?: string; error?: string };
  };
  topics: { name: string; partitions: number; messages: number }[];
  groups: GroupStatus[];
  symbols: SymbolStatus[];
}

export interface GroupStatus {
  groupId: string;
  state: string;
  members: number;
  totalLag: number;
  partitions: PartitionLag[];
}

export interface SymbolStatus {
  symbol: string;
  trades: number;
  lastTrade: string | null;
  lastCandle: string | null;
}

export async function collectStatus(config: Config, logger: Logger): Promise<PipelineStatus> {
  const [kafka, db] = await Promise.all([kafkaStatus(config, logger), mysqlStatus(config)]);
  return {
    ok: kafka.service.reachable && db.service.reachable,
    services: { kafka: kafka.service, mysql: db.service },
    topics: kafka.topics,
    groups: kafka.groups,
    symbols: db.symbols,
  };
}

async function kafkaStatus(config: Config, logger: Logger): Promise<{ service: PipelineStatus['services']['kafka']; topics: PipelineStatus['topics']; groups: GroupStatus[] }> {
  const service: PipelineStatus['services']['kafka'] = { reachable: false, brokers: config.kafka.brokers };
  const admin = createKafka(config.kafka, logger, 'status', { retries: 2 }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    Object.assign(service, { reachable: true, clusterId: cluster.clusterId, brokerCount: cluster.brokers.length, controller: cluster.controller });
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
  const ids = groups.filter((g) => g.protocolType === 'consumer' || g.protocolType === '').map((g) => g.groupId).sort();
  if (ids.length === 0) return [];
  const described = await admin.describeGroups(ids);
  const endOffsets = new Map<string, Map<number, number>>();
  const result: GroupStatus[] = [];
  for (const group of described.groups) {
    const partitions = await groupLag(admin, group.groupId, endOffsets);
    result.push({ groupId: group.groupId, state: group.state, members: group.members.length, totalLag: partitions.reduce((s, p) => s + p.lag, 0), partitions });
  }
  return result;
}

async function mysqlStatus(config: Config): Promise<{ service: PipelineStatus['services']['mysql']; symbols: SymbolStatus[] }> {
  const { host, port, user, password, database } = config.mysql;
  const service: PipelineStatus['services']['mysql'] = { reachable: false, host, port, database };
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection({ host, port, user, password, connectTimeout: 3_000, timezone: 'Z', dateStrings: true });
    const [[version]] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS v');
    Object.assign(service, { reachable: true, version: String(version.v) });
    const [tables] = await conn.query<RowDataPacket[]>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? AND table_name IN ('trades', 'candles')", [database]);
    const present = new Set(tables.map((r) => String(r.t)));
    if (!present.has('trades')) return { service, symbols: [] };
    await conn.query("SET time_zone = '+00:00'");
    const [trades] = await conn.query<RowDataPacket[]>(`SELECT symbol, COUNT(*) AS n, MAX(trade_timestamp) AS last FROM \`${database}\`.trades GROUP BY symbol ORDER BY symbol`);
    const candles = new Map<string, string>();
    if (present.has('candles')) {
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT symbol, MAX(window_end) AS last FROM \`${database}\`.candles GROUP BY symbol`);
      for (const r of rows) if (r.last) candles.set(String(r.symbol), toIso(r.last));
    }
    const symbols = trades.map((r) => ({ symbol: String(r.symbol), trades: Number(r.n), lastTrade: r.last ? toIso(r.last) : null, lastCandle: candles.get(String(r.symbol)) ?? null }) as SymbolStatus);
    for (const [symbol, last] of candles) if (!symbols.some((s) => s.symbol === symbol)) symbols.push({ symbol, trades: 0, lastTrade: null, lastCandle: last || null });
    return { service, symbols };
  } catch (error) {
    if (!service.reachable) service.error = redactText(describeError(error));
    else service.error = `connected, but reading the tables failed: ${redactText(describeError(error))}`;
    return { service, symbols: [] };
  } finally {
    await conn?.end().catch(() => {});
  }
}

/** DATETIME(3) string in UTC ('2026-11-21 08:40:21.123') -> ISO 8601. */
function toIso(value: unknown): string {
  return `${String(value).replace(' ', 'T')}Z`;
}
