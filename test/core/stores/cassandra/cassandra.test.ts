import { test } from 'node:test';
import assert from 'node:assert/strict';
import cassandra from 'cassandra-driver';
import { loadConfig } from '../../../../src/core/config';
import { parseReplication } from '../../../../src/core/config/cassandra';
import { FinpipeError } from '../../../../src/core/errors';
import { classifyCassandraError } from '../../../../src/core/stores/cassandra/client';
import { replicationCql } from '../../../../src/core/stores/cassandra/schema';
import { BATCH_BYTES, cql, dayOf, partitionWrites } from '../../../../src/core/stores/cassandra/statements';
import { runBounded } from '../../../../src/core/stores/cassandra/store';
import { CassandraBatch } from '../../../../src/core/stores/cassandra/batch';
import { makeCandles, makeTrades } from '../../../integration/sink-fixtures';

const load = (env: Record<string, string>) => loadConfig({ env, envFile: '/dev/null', onWarning: () => {} });

test('Cassandra settings: defaults, replication strategies, consistency levels, refused values, redacted password', () => {
  const config = load({});
  assert.equal(config.store, 'mysql');
  assert.deepEqual(
    { ...config.cassandra },
    {
      contactPoints: ['127.0.0.1:9042'],
      host: '127.0.0.1',
      port: 9042,
      keyspace: 'finpipe',
      localDatacenter: 'datacenter1',
      replication: { class: 'SimpleStrategy', replicationFactor: 1 },
      consistency: 'LOCAL_QUORUM',
      username: undefined,
      password: undefined,
      tls: undefined,
    },
  );
  assert.deepEqual(parseReplication('NetworkTopologyStrategy:dc1=3,dc2=2'), {
    class: 'NetworkTopologyStrategy',
    datacenters: { dc1: 3, dc2: 2 },
  });
  assert.equal(
    replicationCql({ class: 'NetworkTopologyStrategy', datacenters: { dc1: 3 } }),
    "{'class': 'NetworkTopologyStrategy', 'dc1': 3}",
  );
  const other = load({
    FINPIPE_STORE: 'Cassandra',
    FINPIPE_CASSANDRA_CONTACT_POINTS: 'db1:9142, db2',
    FINPIPE_CASSANDRA_CONSISTENCY: 'local_one',
    FINPIPE_CASSANDRA_TLS: 'true',
  });
  assert.equal(other.store, 'cassandra');
  assert.deepEqual([other.cassandra.host, other.cassandra.port, other.cassandra.contactPoints], ['db1', 9142, ['db1:9142', 'db2']]);
  assert.equal(other.cassandra.consistency, 'LOCAL_ONE');
  assert.deepEqual(other.cassandra.tls, { ca: undefined, caFile: undefined, rejectUnauthorized: true });

  assert.throws(
    () =>
      load({
        FINPIPE_CASSANDRA_KEYSPACE: 'x"; DROP KEYSPACE y',
        FINPIPE_CASSANDRA_REPLICATION: 'EverywhereStrategy',
        FINPIPE_CASSANDRA_CONSISTENCY: 'SOME',
        FINPIPE_CASSANDRA_CONTACT_POINTS: 'a:99999',
        FINPIPE_CASSANDRA_PASSWORD: 'hunter2-cassandra',
      }),
    (e: unknown) =>
      e instanceof FinpipeError &&
      /cassandra\.keyspace: .* is not a keyspace name/.test(e.message) &&
      /cassandra\.replication: .* is not SimpleStrategy/.test(e.message) &&
      /cassandra\.consistency: "SOME" is not one of/.test(e.message) &&
      /cassandra\.contactPoints: "a:99999" is not host or host:port/.test(e.message) &&
      /cassandra\.username: is required when a Cassandra password is given/.test(e.message) &&
      !e.message.includes('hunter2-cassandra'),
  );
});

test('writes are grouped by partition: one unlogged batch per partition, under the batch size warning', () => {
  const statements = cql('finpipe');
  assert.match(statements.candle, /USING TIMESTAMP \?$/);
  // 500 trades over two UTC days of one symbol, 10 of another, 30 candle windows of one size.
  const day = Date.UTC(2024, 0, 2);
  const trades = [
    ...makeTrades('AAPL', 500).map((t, i) => ({ ...t, trade_timestamp: day - 250 * 1000 + i * 1000 })),
    ...makeTrades('MSFT', 10, day + 5_000),
  ];
  const candles = makeCandles('AAPL', 30, 1, day);
  const batch = CassandraBatch.of([
    ...trades.map((trade, i) => ({ row: { kind: 'trade' as const, trade }, ref: i })),
    ...candles.map((candle, i) => ({ row: { kind: 'candle' as const, candle }, ref: 1000 + i })),
  ]);
  const writes = partitionWrites(statements, batch.uniqueTrades(), batch.latestCandles());
  for (const w of writes) {
    const keys = new Set(
      w.queries.map((q) => (q.query === statements.trade ? `${String(q.params[0])}|${String(q.params[1])}` : String(q.params[0]))),
    );
    assert.equal(keys.size, 1, 'every batch holds one partition');
    assert.ok(w.queries.length * 80 <= BATCH_BYTES + 200, 'batches stay small');
  }
  const tradeWrites = writes.filter((w) => w.queries[0].query === statements.trade);
  assert.equal(
    tradeWrites.reduce((n, w) => n + w.queries.length, 0),
    510,
  );
  assert.deepEqual(
    tradeWrites.flatMap((w) => w.refs).sort((a, b) => a! - b!),
    [...Array(510).keys()],
  );
  const index = writes.filter((w) => w.queries[0].query === statements.partition).flatMap((w) => w.queries.map((q) => q.params.join(' ')));
  assert.deepEqual(index.sort(), ['AAPL 0 2024-01-01', 'AAPL 0 2024-01-02', 'AAPL 10000 2024-01-02', 'MSFT 0 2024-01-02']);
  assert.equal(dayOf(day - 1).toString(), '2024-01-01');
});

test("the driver's errors are sorted into unavailable (retry), data (dead letter) and fatal (stop)", () => {
  const { errors, types } = cassandra;
  const response = (code: number) => new errors.ResponseError(code, 'x');
  assert.equal(classifyCassandraError(new errors.NoHostAvailableError({})), 'unavailable');
  assert.equal(classifyCassandraError(new errors.OperationTimedOutError('slow')), 'unavailable');
  assert.equal(classifyCassandraError(response(types.responseErrorCodes.writeTimeout)), 'unavailable');
  assert.equal(classifyCassandraError(response(types.responseErrorCodes.overloaded)), 'unavailable');
  assert.equal(classifyCassandraError(response(types.responseErrorCodes.invalid)), 'data');
  assert.equal(classifyCassandraError(new TypeError('Not a valid double')), 'data');
  assert.equal(classifyCassandraError(response(types.responseErrorCodes.unauthorized)), 'fatal');
  assert.equal(classifyCassandraError(response(types.responseErrorCodes.syntaxError)), 'fatal');
});

test('runBounded keeps at most `limit` running, starts nothing after a failure, and waits for the running ones', async () => {
  let running = 0;
  let peak = 0;
  const done: number[] = [];
  await assert.rejects(
    runBounded([...Array(50).keys()], 4, async (i) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 2));
      running--;
      if (i === 10) throw new Error('boom');
      done.push(i);
    }),
    /boom/,
  );
  assert.equal(peak, 4);
  assert.equal(running, 0, 'nothing still running when it throws');
  assert.ok(done.length < 49, 'stopped starting new items');
});
