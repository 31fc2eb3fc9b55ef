import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin, Kafka, Message } from 'kafkajs';
import pino from 'pino';
import {
  ChangelogReader,
  changelogMessages,
  changelogTopicName,
  deleteLeftoverReaderGroups,
  positionKey,
  readerGroupPattern,
  symbolKey,
} from '../../../src/core/process/state-store';
import type { SymbolSnapshot } from '../../../src/core/process/windows';
import { FinpipeError } from '../../../src/core/errors';

const logger = pino({ level: 'silent' });
const TOPIC = 'g-state';
const RAW = 'trades';

function snapshot(symbol: string, close: number): SymbolSnapshot {
  return {
    symbol,
    maxEventTime: 1_000 + close,
    windows: [
      {
        size: 60_000,
        start: 0,
        open: close,
        openTime: 1,
        high: close,
        low: close,
        close,
        closeTime: 2,
        volume: 1,
        priceVolume: close,
        count: 1,
        priceSum: close,
      },
    ],
  };
}

type Listener = (event: { payload: Record<string, unknown> }) => void;

/**
 * An in-memory stand-in for the kafkajs consumer the reader starts: it records how it was
 * configured and lets a test deliver changelog batches the way kafkajs does (eachBatch, then
 * the END_BATCH_PROCESS instrumentation event).
 */
class FakeConsumer {
  readonly events = { END_BATCH_PROCESS: 'consumer.end_batch_process', CRASH: 'consumer.crash' } as const;
  private readonly listeners = new Map<string, Listener[]>();
  subscription: { topic: string; fromBeginning?: boolean } | undefined;
  eachBatch: ((args: { batch: unknown }) => Promise<void>) | undefined;
  connected = false;
  disconnects = 0;
  failDisconnect = false;

  constructor(readonly config: { groupId: string; readUncommitted?: boolean }) {}

  on(event: string, listener: Listener): () => void {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return () => {};
  }

  async connect(): Promise<void> {
    this.connected = true;
  }

  async subscribe(subscription: { topic: string; fromBeginning?: boolean }): Promise<void> {
    this.subscription = subscription;
  }

  runConfig: { autoCommit?: boolean } | undefined;

  async run(config: { autoCommit?: boolean; eachBatch: (args: { batch: unknown }) => Promise<void> }): Promise<void> {
    this.runConfig = config;
    this.eachBatch = config.eachBatch;
  }

  async disconnect(): Promise<void> {
    this.disconnects++;
    if (this.failDisconnect) throw new Error('broker gone');
  }

  /** Delivers records at offsets firstOffset.. of one changelog partition. */
  async deliver(partition: number, firstOffset: number, records: { key: string | null; value: string | null }[]): Promise<void> {
    assert.ok(this.eachBatch, 'the reader is running');
    const messages = records.map((r, i) => ({
      offset: String(firstOffset + i),
      key: r.key === null ? null : Buffer.from(r.key),
      value: r.value === null ? null : Buffer.from(r.value),
      timestamp: '0',
      headers: {},
    }));
    await this.eachBatch({ batch: { topic: TOPIC, partition, messages } });
    this.emit(this.events.END_BATCH_PROCESS, { partition, lastOffset: String(firstOffset + records.length - 1) });
  }

  emit(event: string, payload: Record<string, unknown>): void {
    for (const l of this.listeners.get(event) ?? []) l({ payload });
  }
}

/** kafkajs messages as produced by changelogMessages(), in the shape deliver() takes. */
const asRecords = (messages: Message[]) => messages.map((m) => ({ key: m.key as string, value: m.value as string }));

function setup(ends: Record<number, number> = {}) {
  const consumers: FakeConsumer[] = [];
  const kafka = {
    consumer(config: { groupId: string }) {
      const c = new FakeConsumer(config);
      consumers.push(c);
      return c;
    },
  } as unknown as Kafka;
  const offsetCalls: string[] = [];
  const deletedGroups: string[][] = [];
  const admin = {
    async deleteGroups(groups: string[]) {
      deletedGroups.push(groups);
      return groups.map((groupId) => ({ groupId, errorCode: 0 }));
    },
    async fetchTopicOffsets(topic: string) {
      offsetCalls.push(topic);
      return Object.entries(ends).map(([p, high]) => ({ partition: Number(p), offset: String(high), high: String(high), low: '0' }));
    },
  } as unknown as Admin;
  const reader = new ChangelogReader(kafka, admin, TOPIC, RAW, logger);
  return { reader, consumers, offsetCalls, ends, deletedGroups };
}

async function started(ends: Record<number, number> = {}) {
  const s = setup(ends);
  await s.reader.start('g');
  return { ...s, consumer: s.consumers[0] };
}

/** Whether `p` settles within `ms` (for asserting that a restore is still waiting). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  const deadline = Date.now() + ms;
  while (!settled && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return settled;
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const isCode =
  (code: string, extra: (e: FinpipeError) => boolean = () => true) =>
  (e: unknown) =>
    e instanceof FinpipeError && e.code === code && extra(e);

describe('changelog layout', () => {
  test('keys and topic name follow the documented layout', () => {
    assert.equal(positionKey('trades', 3), 'trades/3');
    assert.equal(symbolKey('trades', 3, 'BINANCE:BTCUSDT'), 'trades/3/BINANCE:BTCUSDT');
    assert.equal(changelogTopicName('finpipe-process'), 'finpipe-process-state');
  });

  test('changelogMessages: one record per changed symbol, then the position record last, all on partition p', () => {
    const a = snapshot('AAPL', 1);
    const b = snapshot('BINANCE:BTCUSDT', 2);
    const messages = changelogMessages('trades', 4, [a, b], '1234');
    assert.equal(messages.length, 3);
    assert.deepEqual(
      messages.map((m) => m.partition),
      [4, 4, 4],
    );
    assert.deepEqual(
      messages.map((m) => m.key),
      ['trades/4/AAPL', 'trades/4/BINANCE:BTCUSDT', 'trades/4'],
    );
    assert.deepEqual(JSON.parse(String(messages[0].value)), a);
    assert.deepEqual(JSON.parse(String(messages[1].value)), b);
    assert.deepEqual(JSON.parse(String(messages[2].value)), { nextOffset: '1234' });
  });

  test('changelogMessages with no changed symbols still writes the position', () => {
    const messages = changelogMessages('trades', 0, [], '7');
    assert.deepEqual(
      messages.map((m) => [m.key, JSON.parse(String(m.value)) as unknown]),
      [['trades/0', { nextOffset: '7' }]],
    );
  });
});

describe('ChangelogReader', () => {
  test('start: a private read_committed group per reader, reading the changelog from the beginning', async () => {
    const { reader, consumers } = setup();
    await reader.start('g');
    const other = new ChangelogReader(
      {
        consumer: (c: { groupId: string }) => {
          const f = new FakeConsumer(c);
          consumers.push(f);
          return f;
        },
      } as unknown as Kafka,
      {} as Admin,
      TOPIC,
      RAW,
      logger,
    );
    await other.start('g');
    const [c1, c2] = consumers;
    assert.ok(c1.config.groupId.startsWith('g-state-reader-'), c1.config.groupId);
    assert.notEqual(c1.config.groupId, c2.config.groupId, 'every reader reads every partition: never share a group');
    assert.equal(c1.config.readUncommitted, false, 'aborted transactions must stay invisible');
    assert.ok(c1.connected);
    assert.deepEqual(c1.subscription, { topic: TOPIC, fromBeginning: true });
    assert.ok(c1.eachBatch, 'running');
    assert.equal(c1.runConfig?.autoCommit, false, 'the reader never commits: a committed group outlives the run');
  });

  test('stop deletes the private group after its member left; a failing delete is not an error', async () => {
    const { reader, consumer, deletedGroups } = await started();
    await reader.stop();
    assert.deepEqual(deletedGroups, [[consumer.config.groupId]]);
    const failing = await started();
    (failing.reader as unknown as { admin: object }).admin = {
      deleteGroups: () => Promise.reject(new Error('GROUP_ID_NOT_FOUND')),
    };
    await failing.reader.stop();
  });

  test('restore waits for the position record with the committed offset and returns the latest value per symbol', async () => {
    const { reader, consumer } = await started({ 0: 1_000 });
    const restored = reader.restore(0, '20', new AbortController().signal);
    // Transaction 1 (offsets 0-2): AAPL and MSFT, position 10.
    await consumer.deliver(0, 0, asRecords(changelogMessages(RAW, 0, [snapshot('AAPL', 1), snapshot('MSFT', 1)], '10')));
    assert.equal(await settlesWithin(restored, 50), false, 'position 10 is not the committed offset 20: keep waiting');
    // Transaction 2 (offsets 3-4): only AAPL changed, position 20.
    await consumer.deliver(0, 3, asRecords(changelogMessages(RAW, 0, [snapshot('AAPL', 2)], '20')));
    const state = await restored;
    assert.deepEqual(
      [...state].sort((x, y) => x.symbol.localeCompare(y.symbol)),
      [snapshot('AAPL', 2), snapshot('MSFT', 1)],
      'AAPL from the later transaction, MSFT carried from the earlier one',
    );
  });

  test('restore returns at once when the state was already read (handover), and again for a later restore', async () => {
    const { reader, consumer } = await started({ 0: 1_000 });
    await consumer.deliver(0, 0, asRecords(changelogMessages(RAW, 0, [snapshot('AAPL', 5)], '99')));
    assert.deepEqual(await reader.restore(0, '99', new AbortController().signal), [snapshot('AAPL', 5)]);
    assert.deepEqual(await reader.restore(0, '99', new AbortController().signal), [snapshot('AAPL', 5)]);
  });

  test('a partition only gets its own records: other raw topics, other partitions and key prefixes that merely look alike are ignored', async () => {
    const { reader, consumer } = await started({ 0: 1_000, 1: 1_000, 10: 1_000 });
    // Partition 0 reaches nextOffset 5 too, with its own symbol: restoring partition 1 must not use it.
    await consumer.deliver(0, 0, asRecords(changelogMessages(RAW, 0, [snapshot('ZZZ', 9)], '5')));
    const restored = reader.restore(1, '5', new AbortController().signal);
    assert.equal(await settlesWithin(restored, 30), false, 'partition 0 reaching offset 5 says nothing about partition 1');
    await consumer.deliver(1, 0, [
      { key: 'trades/10/X', value: JSON.stringify(snapshot('X', 1)) }, // raw partition 10, not 1
      { key: 'trades2/1/Y', value: JSON.stringify(snapshot('Y', 1)) }, // another raw topic
      { key: 'trades2/1', value: JSON.stringify({ nextOffset: '5' }) }, // another raw topic's position
      { key: null, value: 'garbage' }, // no key: skipped
      { key: 'trades/1/NOVALUE', value: null }, // no value: skipped
      ...asRecords(changelogMessages(RAW, 1, [snapshot('AAPL', 3)], '4')),
    ]);
    assert.equal(await settlesWithin(restored, 30), false, "another topic's position 5 and this topic's position 4 do not match");
    await consumer.deliver(1, 7, asRecords(changelogMessages(RAW, 1, [], '5')));
    assert.deepEqual(await restored, [snapshot('AAPL', 3)]);
  });

  test('restore fails with STATE_MISSING (and a hint) when the reader has reached the end of the partition without a match', async () => {
    // Partition 0: one transaction (offsets 0-1, position 10), end offset 2. Partition 1: empty.
    const { reader, consumer } = await started({ 0: 2, 1: 0 });
    await consumer.deliver(0, 0, asRecords(changelogMessages(RAW, 0, [snapshot('AAPL', 1)], '10')));
    const signal = new AbortController().signal;
    const begun = Date.now();
    const [stale, empty] = await Promise.allSettled([reader.restore(0, '20', signal), reader.restore(1, '20', signal)]);
    assert.ok(Date.now() - begun >= 1_000, 'the end-of-log verdict waits at least a second for the reader');
    assert.equal(stale.status, 'rejected');
    const e = stale.reason as FinpipeError;
    assert.ok(isCode('STATE_MISSING')(e), String(e));
    assert.equal(e.retriable, false, 'a deleted changelog does not come back by retrying');
    assert.match(e.message, /committed offset 20/);
    assert.match(e.message, /last saved position: 10/);
    assert.match(e.hint ?? '', /--group/);
    assert.deepEqual(e.context, { topic: TOPIC, partition: 0 });
    assert.equal(empty.status, 'rejected');
    assert.ok(isCode('STATE_MISSING', (x) => /last saved position: none/.test(x.message))(empty.reason));
  });

  test('restore keeps waiting while the reader is behind the end of the partition', async () => {
    const { reader, consumer, offsetCalls } = await started({ 0: 50 });
    await consumer.deliver(0, 0, asRecords(changelogMessages(RAW, 0, [snapshot('AAPL', 1)], '10'))); // read to offset 2 of 50
    const restored = reader.restore(0, '20', new AbortController().signal);
    // The second end check comes after the one-second grace period: the verdict "at the end"
    // would be given there. The reader is behind, so restore must still be waiting.
    await waitFor(() => offsetCalls.length >= 2, 'a second end-offset check');
    assert.equal(await settlesWithin(restored, 20), false);
    await consumer.deliver(0, 2, asRecords(changelogMessages(RAW, 0, [snapshot('AAPL', 2)], '20')));
    assert.deepEqual(await restored, [snapshot('AAPL', 2)]);
    assert.ok(
      offsetCalls.every((t) => t === TOPIC),
      'end offsets of the changelog topic',
    );
  });

  test('restore times out with a retriable STATE_MISSING', async () => {
    const { reader } = await started({ 0: 50 });
    await assert.rejects(
      reader.restore(0, '1', new AbortController().signal, 50),
      isCode('STATE_MISSING', (e) => e.retriable && /timed out after 50 ms/.test(e.message)),
    );
  });

  test('restore stops when the signal aborts (retriable, not a missing state)', async () => {
    const { reader } = await started({ 0: 50 });
    const controller = new AbortController();
    const restored = reader.restore(0, '1', controller.signal);
    assert.equal(await settlesWithin(restored, 20), false);
    controller.abort();
    await assert.rejects(
      restored,
      isCode('INTERNAL', (e) => e.retriable && /shutting down/.test(e.message)),
    );
  });

  test('a consumer crash kafkajs will not restart fails restore with KAFKA_ERROR; one it restarts does not', async () => {
    const { reader, consumer } = await started({ 0: 1_000 });
    const restored = reader.restore(0, '3', new AbortController().signal);
    consumer.emit(consumer.events.CRASH, { error: new Error('retriable hiccup'), restart: true });
    assert.equal(await settlesWithin(restored, 30), false, 'kafkajs restarts the consumer itself');
    const fatal = new Error('group authorization failed');
    consumer.emit(consumer.events.CRASH, { error: fatal, restart: false });
    await assert.rejects(
      restored,
      isCode('KAFKA_ERROR', (e) => /group authorization failed/.test(e.message) && e.cause === fatal),
    );
    await assert.rejects(reader.restore(1, '0', new AbortController().signal), isCode('KAFKA_ERROR'), 'and every later restore');
  });

  test('stop disconnects once, ignores a failing disconnect, and may be called again', async () => {
    const { reader, consumer, deletedGroups } = await started();
    consumer.failDisconnect = true;
    await reader.stop();
    await reader.stop();
    assert.equal(consumer.disconnects, 1);
    assert.equal(deletedGroups.length, 1, 'the group is deleted once');
    await new ChangelogReader({} as Kafka, {} as Admin, TOPIC, RAW, logger).stop(); // never started
  });
});

describe('leftover reader groups', () => {
  const uuid = '0b8e1c1e-3f5a-4d2b-9c1d-2a3b4c5d6e7f';

  test("the pattern matches only this group's readers", () => {
    const p = readerGroupPattern('finpipe-process');
    assert.ok(p.test(`finpipe-process-state-reader-${uuid}`));
    assert.ok(!p.test(`finpipe-process-fx-state-reader-${uuid}`), 'another group whose name starts alike');
    assert.ok(!p.test('finpipe-process-state-reader-mine'), 'not a reader group finpipe made');
    assert.ok(!p.test('finpipe-process'));
    assert.ok(readerGroupPattern('g.1').test(`g.1-state-reader-${uuid}`));
    assert.ok(!readerGroupPattern('g.1').test(`gx1-state-reader-${uuid}`), '"." is literal');
  });

  function fakeAdmin(groups: { groupId: string; state: string; members: number }[], failDelete: string[] = []) {
    const deleted: string[] = [];
    const admin = {
      listGroups: async () => ({ groups: groups.map((g) => ({ groupId: g.groupId, protocolType: 'consumer' })) }),
      describeGroups: async (ids: string[]) => ({
        groups: groups
          .filter((g) => ids.includes(g.groupId))
          .map((g) => ({ ...g, members: Array.from({ length: g.members }, () => ({})) })),
      }),
      deleteGroups: async (ids: string[]) => {
        const failed = ids.filter((id) => failDelete.includes(id));
        deleted.push(...ids.filter((id) => !failed.includes(id)));
        if (failed.length > 0)
          throw Object.assign(new Error('Error in DeleteGroups'), { groups: failed.map((groupId) => ({ groupId, errorCode: 69 })) });
        return ids.map((groupId) => ({ groupId, errorCode: 0 }));
      },
    } as unknown as Admin;
    return { admin, deleted };
  }

  test('deletes only the empty reader groups of this group', async () => {
    const { admin, deleted } = fakeAdmin([
      { groupId: `g-state-reader-${uuid}`, state: 'Empty', members: 0 },
      { groupId: `g-state-reader-${uuid.replace('0b', '1b')}`, state: 'Stable', members: 1 },
      { groupId: `h-state-reader-${uuid}`, state: 'Empty', members: 0 },
      { groupId: 'g', state: 'Empty', members: 0 },
    ]);
    assert.deepEqual(await deleteLeftoverReaderGroups(admin, 'g', logger), [`g-state-reader-${uuid}`]);
    assert.deepEqual(deleted, [`g-state-reader-${uuid}`]);
  });

  test('a group deleted by someone else meanwhile, or a broker error, is not fatal', async () => {
    const other = `g-state-reader-${uuid.replace('0b', '2b')}`;
    const { admin } = fakeAdmin(
      [
        { groupId: `g-state-reader-${uuid}`, state: 'Empty', members: 0 },
        { groupId: other, state: 'Empty', members: 0 },
      ],
      [other],
    );
    assert.deepEqual(await deleteLeftoverReaderGroups(admin, 'g', logger), [`g-state-reader-${uuid}`]);
    const broken = { listGroups: () => Promise.reject(new Error('broker down')) } as unknown as Admin;
    assert.deepEqual(await deleteLeftoverReaderGroups(broken, 'g', logger), []);
  });
});
