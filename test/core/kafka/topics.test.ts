import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigResourceTypes, type Admin, type ITopicConfig } from 'kafkajs';
import { createTopics, deleteTopics, describeTopic, ensureTopics, listTopics } from '../../../src/core/kafka/topics';
import { FinpipeError } from '../../../src/core/errors';

interface FakeTopic {
  partitions: number;
  replicas: number;
}

/**
 * An in-memory broker behind the few kafkajs Admin calls topics.ts makes. Like a real
 * broker, createTopics fails for a topic that already exists, and fetchTopicMetadata fails
 * for a topic that does not.
 */
function fakeAdmin(initial: Record<string, number | FakeTopic> = {}) {
  const topics = new Map<string, FakeTopic>(
    Object.entries(initial).map(([n, t]) => [n, typeof t === 'number' ? { partitions: t, replicas: 1 } : t]),
  );
  const calls = {
    listTopics: 0,
    fetchTopicMetadata: [] as string[][],
    createTopics: [] as { topics: ITopicConfig[]; waitForLeaders?: boolean }[],
    deleteTopics: [] as { topics: string[]; timeout?: number }[],
    describeConfigs: [] as unknown[],
  };
  /** Runs inside createTopics before the broker answers (e.g. another client racing us). */
  let beforeCreate: (() => void) | undefined;
  let createError: Error | undefined;
  /** Metadata looks left before a new topic shows a leader (a broker that has not caught up yet). */
  let leaderlessLooks = 0;
  /** Thrown by every metadata request after a creation (e.g. a describe the ACLs refuse). */
  let metadataError: Error | undefined;
  const admin = {
    async listTopics() {
      calls.listTopics++;
      return [...topics.keys()];
    },
    async fetchTopicMetadata({ topics: names }: { topics: string[] }) {
      calls.fetchTopicMetadata.push(names);
      if (metadataError && calls.createTopics.length > 0) throw metadataError;
      const answer = {
        topics: names.map((name) => {
          const t = topics.get(name);
          if (!t) throw Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' });
          // Partitions come back in no particular order, as they may from a broker.
          const ids = Array.from({ length: t.partitions }, (_, i) => i).reverse();
          const replicas = Array.from({ length: t.replicas }, (_, i) => i + 1);
          return {
            name,
            partitions: ids.map((id) => ({
              partitionId: id,
              leader: calls.createTopics.length > 0 && leaderlessLooks > 0 ? -1 : (id % t.replicas) + 1,
              replicas,
              isr: replicas.slice(0, 1),
              partitionErrorCode: 0,
              offlineReplicas: [],
            })),
          };
        }),
      };
      if (calls.createTopics.length > 0 && leaderlessLooks > 0) leaderlessLooks--;
      return answer;
    },
    async createTopics(request: { topics: ITopicConfig[]; waitForLeaders?: boolean }) {
      calls.createTopics.push(request);
      beforeCreate?.();
      if (createError) throw createError;
      for (const t of request.topics) {
        if (topics.has(t.topic)) throw Object.assign(new Error('Topic with this name already exists'), { type: 'TOPIC_ALREADY_EXISTS' });
      }
      for (const t of request.topics)
        topics.set(t.topic, { partitions: t.numPartitions ?? 1, replicas: Math.max(1, t.replicationFactor ?? 1) });
      return true;
    },
    async deleteTopics(request: { topics: string[]; timeout?: number }) {
      calls.deleteTopics.push(request);
      for (const n of request.topics) topics.delete(n);
    },
    async describeConfigs(request: unknown) {
      calls.describeConfigs.push(request);
      return {
        throttleTime: 0,
        resources: [
          {
            errorCode: 0,
            errorMessage: null,
            resourceType: ConfigResourceTypes.TOPIC,
            resourceName: 'x',
            configEntries: [
              {
                configName: 'retention.ms',
                configValue: '86400000',
                isDefault: false,
                isSensitive: false,
                readOnly: false,
                configSynonyms: [],
              },
              {
                configName: 'cleanup.policy',
                configValue: 'delete',
                isDefault: true,
                isSensitive: false,
                readOnly: false,
                configSynonyms: [],
              },
              {
                configName: 'sasl.secret',
                configValue: 'hunter2',
                isDefault: false,
                isSensitive: true,
                readOnly: false,
                configSynonyms: [],
              },
            ],
          },
        ],
      };
    },
  };
  return {
    admin: admin as unknown as Admin,
    topics,
    calls,
    onCreate(fn: () => void) {
      beforeCreate = fn;
    },
    failCreate(error: Error) {
      createError = error;
    },
    leaderAfterLooks(looks: number) {
      leaderlessLooks = looks;
    },
    failMetadata(error: Error) {
      metadataError = error;
    },
  };
}

const isCode =
  (code: string, extra: (e: FinpipeError) => boolean = () => true) =>
  (e: unknown) =>
    e instanceof FinpipeError && e.code === code && extra(e);

/** A short wait for leaders, so a test of giving up does not take the real 12 s. */
const FAST_WAIT = { attempts: 3, initialMs: 1, maxMs: 1 };

describe('createTopics', () => {
  test('creates missing topics with their partitions, replication and configs, in one request', async () => {
    const f = fakeAdmin();
    const results = await createTopics(f.admin, [
      { name: 'trades', partitions: 6, replicationFactor: 3, configs: { 'retention.ms': '-1', 'cleanup.policy': 'delete' } },
      { name: 'finpipe.dlq', partitions: 1, replicationFactor: -1 },
    ]);
    assert.deepEqual(results, [
      { name: 'trades', status: 'created', partitions: 6 },
      { name: 'finpipe.dlq', status: 'created', partitions: 1 },
    ]);
    assert.equal(f.calls.createTopics.length, 1, 'one request for all missing topics');
    const request = f.calls.createTopics[0];
    assert.equal(request.waitForLeaders, false, "finpipe looks for the leaders itself (kafkajs' wait sleeps 100 ms first)");
    assert.deepEqual(request.topics, [
      {
        topic: 'trades',
        numPartitions: 6,
        replicationFactor: 3,
        configEntries: [
          { name: 'retention.ms', value: '-1' },
          { name: 'cleanup.policy', value: 'delete' },
        ],
      },
      { topic: 'finpipe.dlq', numPartitions: 1, replicationFactor: -1, configEntries: [] },
    ]);
  });

  test('new topics are reported once every partition has a leader, looked for again until then', async () => {
    const f = fakeAdmin();
    f.leaderAfterLooks(2);
    const results = await createTopics(f.admin, [{ name: 'trades', partitions: 6, replicationFactor: 1 }], { leaderWait: FAST_WAIT });
    assert.deepEqual(results, [{ name: 'trades', status: 'created', partitions: 6 }]);
    assert.equal(f.calls.fetchTopicMetadata.length, 3, 'two looks without a leader, then one with');
  });

  test('topics still without a leader after the last look are a retriable KAFKA_ERROR naming them', async () => {
    const f = fakeAdmin();
    f.leaderAfterLooks(100);
    await assert.rejects(
      createTopics(f.admin, [{ name: 'trades', partitions: 6, replicationFactor: 1 }], { leaderWait: FAST_WAIT }),
      isCode('KAFKA_ERROR', (e) => /topics trades are not ready after creating them \(3 looks/.test(e.message) && e.retriable && !!e.hint),
    );
  });

  test('any other metadata error after creating is thrown as it is, at once, not retried as a missing leader', async () => {
    const f = fakeAdmin();
    const refused = Object.assign(new Error('Not authorized to access topics'), { type: 'TOPIC_AUTHORIZATION_FAILED' });
    f.failMetadata(refused);
    await assert.rejects(
      createTopics(f.admin, [{ name: 'trades', partitions: 6, replicationFactor: 1 }], { leaderWait: FAST_WAIT }),
      (e: unknown) => e === refused,
    );
    assert.equal(f.calls.fetchTopicMetadata.length, 1);
  });

  test('an existing topic with the requested partition count is reported as "exists" and not created again', async () => {
    const f = fakeAdmin({ trades: 6 });
    assert.deepEqual(await createTopics(f.admin, [{ name: 'trades', partitions: 6, replicationFactor: 1 }]), [
      { name: 'trades', status: 'exists', partitions: 6 },
    ]);
    assert.equal(f.calls.createTopics.length, 0);
  });

  test('only the missing topics are created; results keep the order asked for', async () => {
    const f = fakeAdmin({ b: 2 });
    const results = await createTopics(f.admin, [
      { name: 'c', partitions: 3, replicationFactor: 1 },
      { name: 'b', partitions: 2, replicationFactor: 1 },
      { name: 'a', partitions: 1, replicationFactor: 1 },
    ]);
    assert.deepEqual(
      results.map((r) => [r.name, r.status, r.partitions]),
      [
        ['c', 'created', 3],
        ['b', 'exists', 2],
        ['a', 'created', 1],
      ],
    );
    assert.deepEqual(
      f.calls.createTopics[0].topics.map((t) => t.topic),
      ['c', 'a'],
    );
  });

  test('an existing topic with a different partition count is a TOPIC_CONFLICT with a hint', async () => {
    const f = fakeAdmin({ trades: 3 });
    await assert.rejects(
      createTopics(f.admin, [{ name: 'trades', partitions: 6, replicationFactor: 1 }]),
      isCode(
        'TOPIC_CONFLICT',
        (e) =>
          /trades already exists with 3 partitions, not 6/.test(e.message) &&
          /--partitions 3/.test(e.hint ?? '') &&
          e.context.topic === 'trades',
      ),
    );
    assert.equal(f.topics.get('trades')!.partitions, 3, 'the existing topic is left alone');
  });

  test('strict: false (ensureTopics) accepts an existing topic whatever its partition count', async () => {
    const f = fakeAdmin({ trades: 3 });
    assert.deepEqual(await createTopics(f.admin, [{ name: 'trades', partitions: 6, replicationFactor: 1 }], { strict: false }), [
      { name: 'trades', status: 'exists', partitions: 3 },
    ]);
    await ensureTopics(f.admin, [
      { name: 'trades', partitions: 6, replicationFactor: 1 },
      { name: 'late', partitions: 1, replicationFactor: 1 },
    ]);
    assert.equal(f.topics.get('trades')!.partitions, 3);
    assert.equal(f.topics.get('late')!.partitions, 1, 'ensureTopics still creates missing topics');
    assert.deepEqual(
      f.calls.createTopics.map((c) => c.topics.map((t) => t.topic)),
      [['late']],
    );
  });

  test('an invalid topic name is rejected before the broker is asked anything', async () => {
    const f = fakeAdmin();
    await assert.rejects(
      createTopics(f.admin, [
        { name: 'ok', partitions: 1, replicationFactor: 1 },
        { name: 'BINANCE:BTCUSDT', partitions: 1, replicationFactor: 1 },
      ]),
      isCode('TOPIC_NAME_INVALID'),
    );
    assert.equal(f.calls.listTopics, 0);
    assert.equal(f.calls.createTopics.length, 0);
  });

  test('another client creating the topic meanwhile ("already exists") is not an error', async () => {
    const f = fakeAdmin();
    f.onCreate(() => f.topics.set('trades', { partitions: 6, replicas: 1 }));
    const [result] = await createTopics(f.admin, [{ name: 'trades', partitions: 6, replicationFactor: 1 }]);
    assert.equal(result.name, 'trades');
    assert.equal(result.partitions, 6);
  });

  test('a topic another client created meanwhile with a different partition count is a TOPIC_CONFLICT too', async () => {
    const f = fakeAdmin();
    f.onCreate(() => f.topics.set('trades', { partitions: 3, replicas: 1 }));
    await assert.rejects(createTopics(f.admin, [{ name: 'trades', partitions: 6, replicationFactor: 1 }]), isCode('TOPIC_CONFLICT'));
  });

  test("the leader wait's UNKNOWN_TOPIC_OR_PARTITION right after creating (a loaded broker) is not an error", async () => {
    const f = fakeAdmin();
    f.onCreate(() => f.topics.set('trades', { partitions: 6, replicas: 1 }));
    f.failCreate(Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' }));
    const [result] = await createTopics(f.admin, [{ name: 'trades', partitions: 6, replicationFactor: 1 }]);
    assert.deepEqual(result, { name: 'trades', status: 'created', partitions: 6 });
  });

  test('an "already exists" error recognised by its message alone is tolerated too', async () => {
    const f = fakeAdmin();
    f.onCreate(() => f.topics.set('trades', { partitions: 2, replicas: 1 }));
    f.failCreate(new Error("Topic 'trades' already exists."));
    assert.equal((await createTopics(f.admin, [{ name: 'trades', partitions: 2, replicationFactor: 1 }]))[0].partitions, 2);
  });

  test("per-topic errors kafkajs aggregates are named; a '.'/'_' collision gets its own hint", async () => {
    const f = fakeAdmin();
    const aggregate = Object.assign(new Error('Topic creation errors'), {
      errors: [
        { type: 'INVALID_TOPIC_EXCEPTION', message: 'The request attempted to perform an operation on an invalid topic' },
        { type: 'TOPIC_ALREADY_EXISTS', message: 'Topic with this name already exists' },
      ],
    });
    f.failCreate(aggregate);
    await assert.rejects(
      createTopics(f.admin, [{ name: 'finpipe.dlq', partitions: 1, replicationFactor: 1 }]),
      isCode('KAFKA_ERROR', (e) => /INVALID_TOPIC_EXCEPTION: The request attempted/.test(e.message) && /'\.' and '_'/.test(e.hint ?? '')),
    );
  });

  test('any other creation failure is a KAFKA_ERROR naming the topics, with the cause and a hint', async () => {
    const f = fakeAdmin();
    const cause = Object.assign(new Error('Replication factor: 3 larger than available brokers: 1'), {
      type: 'INVALID_REPLICATION_FACTOR',
    });
    f.failCreate(cause);
    await assert.rejects(
      createTopics(f.admin, [
        { name: 'a', partitions: 1, replicationFactor: 3 },
        { name: 'b', partitions: 1, replicationFactor: 3 },
      ]),
      isCode('KAFKA_ERROR', (e) => /cannot create topics a, b: Replication factor/.test(e.message) && e.cause === cause && !!e.hint),
    );
  });

  test('a topic still missing after creation is a KAFKA_ERROR, not a result', async () => {
    const f = fakeAdmin();
    f.failCreate(Object.assign(new Error('exists'), { type: 'TOPIC_ALREADY_EXISTS' })); // claims it exists, but it does not
    await assert.rejects(
      createTopics(f.admin, [{ name: 'ghost', partitions: 1, replicationFactor: 1 }], { leaderWait: FAST_WAIT }),
      isCode('KAFKA_ERROR', (e) => /topics ghost are not ready after creating them/.test(e.message) && /does not host/.test(e.message)),
    );
  });
});

describe('listTopics', () => {
  test('sorted by name, internal topics hidden unless asked for, replication factor from the replicas', async () => {
    const f = fakeAdmin({ zeta: { partitions: 2, replicas: 3 }, alpha: 1, __consumer_offsets: 50, __transaction_state: 50 });
    assert.deepEqual(await listTopics(f.admin), [
      { name: 'alpha', partitions: 1, replicationFactor: 1 },
      { name: 'zeta', partitions: 2, replicationFactor: 3 },
    ]);
    assert.deepEqual(
      (await listTopics(f.admin, { includeInternal: true })).map((t) => t.name),
      ['__consumer_offsets', '__transaction_state', 'alpha', 'zeta'],
    );
  });

  test('no topics: an empty list without a metadata request (an empty list would fetch every topic)', async () => {
    const f = fakeAdmin({ __consumer_offsets: 50 });
    assert.deepEqual(await listTopics(f.admin), []);
    assert.deepEqual(f.calls.fetchTopicMetadata, []);
  });
});

describe('describeTopic', () => {
  test('partitions sorted by id, configs sorted by name, sensitive values masked', async () => {
    const f = fakeAdmin({ trades: { partitions: 3, replicas: 2 } });
    const d = await describeTopic(f.admin, 'trades');
    assert.equal(d.name, 'trades');
    assert.deepEqual(
      d.partitions.map((p) => p.partition),
      [0, 1, 2],
    );
    assert.deepEqual(d.partitions[1], { partition: 1, leader: 2, replicas: [1, 2], isr: [1] });
    assert.deepEqual(d.configs, [
      { name: 'cleanup.policy', value: 'delete', isDefault: true },
      { name: 'retention.ms', value: '86400000', isDefault: false },
      { name: 'sasl.secret', value: '***', isDefault: false },
    ]);
    assert.deepEqual(f.calls.describeConfigs, [
      { includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'trades' }] },
    ]);
  });

  test('a missing topic is TOPIC_NOT_FOUND; an invalid name is TOPIC_NAME_INVALID', async () => {
    const f = fakeAdmin({ trades: 1 });
    await assert.rejects(
      describeTopic(f.admin, 'nope'),
      isCode('TOPIC_NOT_FOUND', (e) => /topic nope does not exist/.test(e.message) && e.context.topic === 'nope' && !!e.hint),
    );
    await assert.rejects(describeTopic(f.admin, 'a b'), isCode('TOPIC_NAME_INVALID'));
    assert.equal(f.calls.describeConfigs.length, 0);
  });
});

describe('deleteTopics', () => {
  test('deletes existing topics', async () => {
    const f = fakeAdmin({ a: 1, b: 1, c: 1 });
    await deleteTopics(f.admin, ['a', 'c']);
    assert.deepEqual(
      f.calls.deleteTopics.map((d) => d.topics),
      [['a', 'c']],
    );
    assert.deepEqual([...f.topics.keys()], ['b']);
  });

  test('nothing is deleted when any topic is missing: TOPIC_NOT_FOUND names the missing ones', async () => {
    const f = fakeAdmin({ a: 1 });
    await assert.rejects(
      deleteTopics(f.admin, ['a', 'x', 'y']),
      isCode('TOPIC_NOT_FOUND', (e) => /topic x, y does not exist/.test(e.message)),
    );
    await assert.rejects(deleteTopics(f.admin, ['a', '..']), isCode('TOPIC_NAME_INVALID'));
    assert.equal(f.calls.deleteTopics.length, 0);
    assert.ok(f.topics.has('a'));
  });
});
