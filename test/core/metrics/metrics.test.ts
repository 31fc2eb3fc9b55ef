import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { loadConfig } from '../../../src/core/config';
import type { FinpipeError } from '../../../src/core/errors';
import { startMetricsServer } from '../../../src/core/metrics/server';
import path from 'node:path';
import { METRICS, metricsMarkdownTable } from '../../../src/core/metrics/definitions';
import { deadLetterReasonClass, metricHooks, setMetricHooks } from '../../../src/core/metrics/hooks';
import { StageRegistry } from '../../../src/core/metrics/registry';
import { processMetrics, simulatorMetrics, sinkMetrics, type Readiness } from '../../../src/core/metrics/stages';
import { newStats } from '../../../src/core/process/stats';
import { SinkCounters } from '../../../src/core/sink/stats';
import { parseFrame } from '../../../src/core/sources/frames';
import { parsePrometheusText, metricValue } from '../../helpers/metrics';

const root = path.resolve(__dirname, '../../../..');
const SIMULATOR_IDLE = { connections: 0, tradesSent: 0, framesSent: 0, malformedSent: 0, drops: 0 };

test('the README metric table is the one generated from the definitions', () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  assert.ok(
    readme.includes(metricsMarkdownTable()),
    'README.md: paste the output of metricsMarkdownTable() (see src/core/metrics/definitions.ts)',
  );
});

test('metric names follow the Prometheus conventions', () => {
  for (const m of METRICS) {
    assert.match(m.name, /^finpipe_[a-z_]+$/);
    assert.equal(m.name.endsWith('_total'), m.type === 'counter', `${m.name}: _total exactly for counters`);
    assert.ok(m.labels.includes('stage'), `${m.name} has a stage label`);
    if (m.type === 'histogram') assert.match(m.name, /_(seconds|size)$/, `${m.name}: base unit`);
  }
});

test('dead-letter reasons are sorted into the closed list, never passed through', () => {
  const binary = parseFrame(Buffer.from([1, 2]), true);
  assert.equal(binary.kind, 'invalid');
  assert.equal(deadLetterReasonClass('produce', binary.kind === 'invalid' ? binary.problems.join('; ') : ''), 'binary');
  const malformed = parseFrame('{"type":"trade","data":[{"s":"X","p":-1,"t":1718000000000,"v":1}]}');
  assert.equal(
    deadLetterReasonClass('produce', malformed.kind === 'trade' || malformed.kind === 'invalid' ? malformed.problems.join('; ') : ''),
    'malformed',
  );
  assert.equal(
    deadLetterReasonClass('produce', 'data[0].c: 40 condition codes; at most 16 are allowed (Finnhub sends a few short codes)'),
    'limit',
  );
  assert.equal(deadLetterReasonClass('process', 'symbol "A/B" cannot become a topic name: /'), 'symbol');
  assert.equal(deadLetterReasonClass('sink', "Data too long for column 'symbol' at row 1"), 'limit');
  assert.equal(deadLetterReasonClass('sink', 'Incorrect decimal value for column price'), 'store_refused');
  assert.equal(deadLetterReasonClass('sink', 'cannot decode the Avro value: truncated buffer'), 'malformed');
  assert.equal(deadLetterReasonClass('process', 'something nobody foresaw'), 'other');
});

test('a process registry: counters and lag from the snapshot, timings from the hooks, readiness as a gauge', async () => {
  const stats = newStats();
  let readiness: Readiness = { ready: false, reason: 'starting' };
  const registry = new StageRegistry(
    processMetrics('trades'),
    () => stats,
    () => readiness,
  );
  setMetricHooks(registry.hooks());
  try {
    Object.assign(stats, { records: 10, trades: 25, candles: 4, late: 1, transactions: 2, assigned: [0, 3], joinedAt: 1 });
    stats.lag.set(0, 0).set(3, 7);
    metricHooks.transactionCommitted(0.02, 6);
    metricHooks.transactionCommitted(0.004, 4);
    metricHooks.deadLettered('process', 'record has no value (tombstone)');
    readiness = { ready: true, reason: 'consuming' };
    const samples = parsePrometheusText(await registry.metrics());
    const v = (name: string, labels: Record<string, string> = {}) => metricValue(samples, name, { stage: 'process', ...labels });
    assert.equal(v('finpipe_trades_total'), 25);
    assert.equal(v('finpipe_records_out_total'), 25 + 4 + 1);
    assert.equal(v('finpipe_consumer_lag', { topic: 'trades', partition: '3' }), 7);
    assert.equal(v('finpipe_assigned_partitions'), 2);
    assert.equal(v('finpipe_kafka_transaction_seconds_count'), 2);
    assert.equal(v('finpipe_kafka_transaction_seconds_bucket', { le: '0.005' }), 1);
    assert.equal(v('finpipe_batch_size_sum'), 10);
    assert.equal(v('finpipe_dead_letters_total', { reason: 'malformed' }), 1);
    assert.equal(v('finpipe_dead_letters_total', { reason: 'limit' }), 0, 'every reason class present from the start');
    assert.equal(v('finpipe_ready'), 1);
    assert.ok(metricValue(samples, 'process_resident_memory_bytes') > 0);
    assert.ok(Number.isNaN(v('finpipe_store_write_seconds_count')), "the sink's metrics are not registered for process");
  } finally {
    setMetricHooks(undefined);
  }
});

test('a sink registry: lag per topic-partition, store paused, write retries', async () => {
  const counters = new SinkCounters('MySQL');
  counters.highWatermarks.set('A\u00000', { topic: 'A', hw: 10n });
  counters.highWatermarks.set('A\u00001', { topic: 'A', hw: 5n });
  counters.committed.set('A\u00000', 4n);
  let paused = true;
  const registry = new StageRegistry(
    sinkMetrics('mysql'),
    () => counters.snapshot(paused),
    () => ({ ready: !paused, reason: '' }),
  );
  setMetricHooks(registry.hooks());
  try {
    metricHooks.storeRetried();
    const samples = parsePrometheusText(await registry.metrics());
    assert.equal(metricValue(samples, 'finpipe_consumer_lag', { topic: 'A', partition: '0' }), 6);
    assert.equal(metricValue(samples, 'finpipe_consumer_lag', { topic: 'A', partition: '1' }), 5);
    assert.equal(metricValue(samples, 'finpipe_store_paused', { store: 'mysql' }), 1);
    assert.equal(metricValue(samples, 'finpipe_store_write_retries_total', { store: 'mysql' }), 1);
    assert.equal(metricValue(samples, 'finpipe_ready'), 0);
    paused = false;
    await new Promise((r) => setTimeout(r, 250)); // past the per-scrape snapshot cache
    assert.equal(metricValue(parsePrometheusText(await registry.metrics()), 'finpipe_store_paused'), 0);
  } finally {
    setMetricHooks(undefined);
  }
});

test('FINPIPE_METRICS_PORT: empty is off, 0 to 65535 is a port, anything else is refused naming the setting', () => {
  const load = (env: Record<string, string>) => loadConfig({ env, envFile: '/dev/null', onWarning: () => {} });
  assert.deepEqual(load({}).metrics, { port: null, host: '127.0.0.1' });
  assert.deepEqual(load({ FINPIPE_METRICS_PORT: '9464', FINPIPE_METRICS_HOST: '0.0.0.0' }).metrics, { port: 9464, host: '0.0.0.0' });
  assert.equal(load({ FINPIPE_METRICS_PORT: '0' }).metrics.port, 0);
  assert.throws(() => load({ FINPIPE_METRICS_PORT: '70000' }), /metrics\.port: "70000" is not a port/);
  assert.throws(() => load({ FINPIPE_METRICS_PORT: 'abc' }), /metrics\.port/);
});

test('the metrics server: a port it cannot have is a usage error naming host:port; /healthz, /readyz, 404', async () => {
  const blocker = http.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const taken = (blocker.address() as AddressInfo).port;
  const options = { host: '127.0.0.1', adapter: simulatorMetrics, snapshot: () => SIMULATOR_IDLE, logger: pino({ level: 'silent' }) };
  try {
    await assert.rejects(startMetricsServer({ ...options, port: taken }), (error: FinpipeError) => {
      assert.equal(error.code, 'USAGE');
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${taken}`));
      assert.match(error.hint ?? '', /--metrics-port/);
      return true;
    });
  } finally {
    blocker.close();
  }
  const server = await startMetricsServer({ ...options, port: 0 });
  try {
    const ready = async () => ({ status: (await fetch(`${server.url}/readyz`)).status });
    assert.deepEqual(await ready(), { status: 503 }, 'not ready while starting');
    server.setPhase('running');
    assert.deepEqual(await ready(), { status: 200 });
    server.setPhase('stopping');
    assert.deepEqual(await ready(), { status: 503 }, 'not ready while stopping');
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${server.url}/nope`)).status, 404);
    assert.equal((await fetch(`${server.url}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    await server.close();
  }
});
