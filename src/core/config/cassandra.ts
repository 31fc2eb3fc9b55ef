import { readFileSync } from 'node:fs';
import { readSecretFile } from './mysql';
import { registerSecret } from '../redact';

/**
 * The Cassandra settings (FINPIPE_CASSANDRA_*), read only when FINPIPE_STORE is cassandra
 * or something asks for the Cassandra store; parsed here so a mistake is reported with the
 * other configuration problems, before anything connects.
 */

export const CASSANDRA_CONSISTENCIES = ['LOCAL_QUORUM', 'LOCAL_ONE', 'QUORUM', 'EACH_QUORUM', 'ONE', 'ALL'] as const;
export type CassandraConsistency = (typeof CASSANDRA_CONSISTENCIES)[number];

export type CassandraReplication =
  { class: 'SimpleStrategy'; replicationFactor: number } | { class: 'NetworkTopologyStrategy'; datacenters: Record<string, number> };

export interface CassandraConfig {
  contactPoints: string[];
  /** The first contact point's host and port, for messages and `finpipe status`. */
  host: string;
  port: number;
  keyspace: string;
  localDatacenter: string;
  replication: CassandraReplication;
  consistency: CassandraConsistency;
  username?: string;
  password?: string;
  /** Absent: plain TCP. */
  tls?: { ca?: string; caFile?: string; rejectUnauthorized: boolean };
}

export interface CassandraInputs {
  contactPoints: string;
  keyspace: string;
  localDatacenter: string;
  replication: string;
  consistency: string;
  username?: string;
  password?: string;
  passwordFile?: string;
  tls: boolean;
  tlsCaFile?: string;
  tlsRejectUnauthorized: boolean;
}

/** Cassandra's own rule for keyspace names (unquoted identifiers, at most 48 characters). */
export const KEYSPACE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,47}$/;

const HOST_PORT = /^(\[[^\]]+\]|[^:\s,]+)(?::(\d{1,5}))?$/;

export function parseReplication(text: string): CassandraReplication | string {
  const [strategy, rest = ''] = text.split(':', 2).map((s) => s.trim());
  if (strategy === 'SimpleStrategy') {
    const n = Number(rest || '1');
    if (!Number.isInteger(n) || n < 1 || n > 99) return `"${text}": SimpleStrategy needs a replication factor 1..99, e.g. SimpleStrategy:1`;
    return { class: 'SimpleStrategy', replicationFactor: n };
  }
  if (strategy === 'NetworkTopologyStrategy') {
    const datacenters: Record<string, number> = {};
    for (const part of rest.split(',').map((s) => s.trim())) {
      const m = /^([A-Za-z0-9_.-]+)=(\d{1,2})$/.exec(part);
      if (!m || Number(m[2]) < 1)
        return `"${text}": expected NetworkTopologyStrategy:<datacenter>=<replicas>[,...], e.g. NetworkTopologyStrategy:dc1=3`;
      datacenters[m[1]] = Number(m[2]);
    }
    return { class: 'NetworkTopologyStrategy', datacenters };
  }
  return `"${text}" is not SimpleStrategy:<n> or NetworkTopologyStrategy:<datacenter>=<n>[,...]`;
}

/** `fail(path, message)` records a problem with the setting at `path` (cassandra.keyspace...). */
export function parseCassandraConfig(inputs: CassandraInputs, fail: (path: string, message: string) => void): CassandraConfig {
  const contactPoints = inputs.contactPoints
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (contactPoints.length === 0) fail('cassandra.contactPoints', 'must not be empty; give host:port[,host:port...]');
  let host = '127.0.0.1';
  let port = 9042;
  contactPoints.forEach((point, i) => {
    const m = HOST_PORT.exec(point);
    if (!m || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))) {
      fail('cassandra.contactPoints', `"${point}" is not host or host:port`);
    } else if (i === 0) {
      host = m[1].replace(/^\[|\]$/g, '');
      port = m[2] ? Number(m[2]) : 9042;
    }
  });
  const keyspace = inputs.keyspace;
  if (!KEYSPACE_NAME.test(keyspace)) {
    fail('cassandra.keyspace', `"${keyspace}" is not a keyspace name: a letter, then up to 47 letters, digits or "_"`);
  }
  if (!inputs.localDatacenter) fail('cassandra.localDatacenter', 'must not be empty (a single local node calls it datacenter1)');
  const replication = parseReplication(inputs.replication);
  if (typeof replication === 'string') fail('cassandra.replication', replication);
  const consistency = inputs.consistency.toUpperCase();
  if (!(CASSANDRA_CONSISTENCIES as readonly string[]).includes(consistency)) {
    fail('cassandra.consistency', `"${inputs.consistency}" is not one of ${CASSANDRA_CONSISTENCIES.join(', ')}`);
  }
  let password = inputs.password;
  registerSecret(password);
  if (inputs.passwordFile) {
    if (password) fail('cassandra.passwordFile', 'is set, but FINPIPE_CASSANDRA_PASSWORD is set too; give the password once');
    password = readSecretFile(inputs.passwordFile, 'Cassandra password', (m) => fail('cassandra.passwordFile', m));
  }
  if (password && !inputs.username) fail('cassandra.username', 'is required when a Cassandra password is given');
  if (inputs.username && !password) fail('cassandra.password', 'is required when FINPIPE_CASSANDRA_USERNAME is set');
  return {
    contactPoints,
    host,
    port,
    keyspace,
    localDatacenter: inputs.localDatacenter,
    replication: typeof replication === 'string' ? { class: 'SimpleStrategy', replicationFactor: 1 } : replication,
    consistency: consistency as CassandraConsistency,
    username: inputs.username,
    password,
    tls: parseTls(inputs, fail),
  };
}

function parseTls(inputs: CassandraInputs, fail: (path: string, message: string) => void): CassandraConfig['tls'] {
  if (!inputs.tls && !inputs.tlsCaFile) return undefined;
  let ca: string | undefined;
  if (inputs.tlsCaFile) {
    try {
      ca = readFileSync(inputs.tlsCaFile, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      fail('cassandra.tlsCaFile', `cannot read ${inputs.tlsCaFile} (${code}); point it at a readable PEM file`);
    }
  }
  return { ca, caFile: inputs.tlsCaFile, rejectUnauthorized: inputs.tlsRejectUnauthorized };
}
