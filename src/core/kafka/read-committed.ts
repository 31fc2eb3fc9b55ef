/**
 * Makes kafkajs' read_committed consumers skip every record of an aborted transaction.
 *
 * kafkajs 2.2.4 (src/consumer/filterAbortedMessages.js) expects the broker's list of aborted
 * transactions in first-offset order and starts at most one of them per record. Kafka lists
 * them in the order they were aborted. So when several transactional producers write one
 * partition, a kafkajs consumer can return records of an aborted transaction: seen when one
 * producer's transaction starts first but is aborted later. In finpipe's topics the
 * late-trades and dead-letter topics have several producers (process's, one per raw
 * partition), so `finpipe consume` of those topics could show aborted records; each
 * per-symbol topic and changelog partition has one producer, where this cannot happen, but
 * every reader gets the fix all the same.
 *
 * kafkajs binds its filter when it is loaded, so it cannot be replaced afterwards. What can
 * be: the Fetch response decoders, which kafkajs requires anew for every Fetch request
 * (src/protocol/requests/fetch/index.js). The installed decoder runs kafkajs' own, then, per
 * partition, does what Kafka's Java consumer does — aborted transactions sorted by first
 * offset; every one whose first offset has been reached is open for its producer until that
 * producer's abort marker — and marks each aborted record as a control record, with the list
 * emptied. kafkajs' Batch then drops them as it drops the markers, and still counts them in
 * its offsets (a fetch of nothing but aborted records moves the consumer on, as before).
 *
 * Installed like fast-encoding.ts: by createKafka, once per process, only for the kafkajs
 * version this was written against (the module paths are kafkajs internals); with any other
 * version kafkajs' own filter stays. Order does not matter: decoders already loaded are
 * replaced in the require cache, and the next Fetch request picks up the new ones.
 */

const KAFKAJS_VERSION = '2.2.4';
/** Fetch versions whose responses carry aborted transactions (read_committed exists from v4). */
const FETCH_VERSIONS = [4, 5, 6, 7, 8, 9, 10, 11];
const fetchResponseModule = (version: number) => `kafkajs/src/protocol/requests/fetch/v${version}/response`;

export interface FetchedRecord {
  offset: string;
  key: Buffer | null;
  isControlRecord?: boolean;
  batchContext: { producerId: string; inTransaction: boolean };
}

export interface AbortedTransaction {
  producerId: string;
  firstOffset: string;
}

export interface FetchedPartition {
  abortedTransactions?: AbortedTransaction[];
  messages: FetchedRecord[];
}

/** Key of an abort control record: version 0, type 0 (abort). */
const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

const byFirstOffset = (a: AbortedTransaction, b: AbortedTransaction) => {
  const x = BigInt(a.firstOffset);
  const y = BigInt(b.firstOffset);
  return x < y ? -1 : x > y ? 1 : 0;
};

/**
 * Marks the records of aborted transactions in one fetched partition as control records and
 * empties its list of aborted transactions (see the module comment). Idempotent.
 */
export function markAbortedRecords(partition: FetchedPartition): void {
  const listed = partition.abortedTransactions;
  if (!listed || listed.length === 0) return;
  const pending = [...listed].sort(byFirstOffset);
  const aborting = new Set<string>();
  let next = 0;
  for (const record of partition.messages) {
    const offset = BigInt(record.offset);
    while (next < pending.length && offset >= BigInt(pending[next].firstOffset)) aborting.add(String(pending[next++].producerId));
    const producerId = String(record.batchContext.producerId);
    if (record.isControlRecord && record.key && Buffer.from(record.key).equals(ABORT_MARKER_KEY)) aborting.delete(producerId);
    else if (aborting.has(producerId) && record.batchContext.inTransaction) record.isControlRecord = true;
  }
  partition.abortedTransactions = [];
}

interface FetchResponseModule {
  decode(raw: Buffer): Promise<{ responses?: { partitions?: FetchedPartition[] }[] }>;
  parse(data: unknown): unknown;
}

const FIXED = Symbol('finpipe read_committed fix');

/** kafkajs' decoder with the aborted records marked afterwards. */
function fixedDecoder(module: FetchResponseModule): FetchResponseModule {
  if ((module as unknown as Record<symbol, boolean>)[FIXED]) return module;
  const decode: FetchResponseModule['decode'] = async (raw) => {
    const data = await module.decode(raw);
    for (const topic of data.responses ?? []) for (const partition of topic.partitions ?? []) markAbortedRecords(partition);
    return data;
  };
  return { ...module, decode, [FIXED]: true } as FetchResponseModule;
}

let installed: boolean | undefined;

/* eslint-disable @typescript-eslint/no-require-imports -- kafkajs internals, by path, on purpose */

/**
 * Installs the fixed Fetch response decoders, once per process; returns whether they are in
 * use. Call before consumers fetch (createKafka does).
 */
export function installReadCommittedFix(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  try {
    const pkg = require('kafkajs/package.json') as { version: string };
    if (pkg.version !== KAFKAJS_VERSION) return false;
    // Load every version first: some reuse another version's decoder, which must be kafkajs' own when they bind it.
    const modules = FETCH_VERSIONS.map((v) => ({
      path: require.resolve(fetchResponseModule(v)),
      exports: require(fetchResponseModule(v)) as FetchResponseModule,
    }));
    for (const m of modules) require.cache[m.path]!.exports = fixedDecoder(m.exports);
    installed = true;
  } catch {
    // kafkajs laid out differently: its own filter stays (any decoder already replaced only adds the fix)
  }
  return installed;
}

/** Whether the fix is in place for Fetch `version`'s responses (for tests). */
export function readCommittedFixed(version: number): boolean {
  const loaded = require.cache[require.resolve(fetchResponseModule(version))];
  return Boolean(loaded && (loaded.exports as Record<symbol, boolean>)[FIXED]);
}
