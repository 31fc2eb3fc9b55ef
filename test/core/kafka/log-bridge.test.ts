import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { logLevel } from 'kafkajs';
import { kafkaLogCreator } from '../../../src/core/kafka/log-bridge';
import { isRoutineRetry } from '../../../src/core/kafka/errors';

/** The bridge writing into an array, at finpipe's default level (info). */
function bridge(level = 'info') {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) });
  const log = kafkaLogCreator(logger)(logLevel.DEBUG);
  const error = (message: string, extra: Record<string, unknown> = {}) =>
    log({ namespace: 'x', level: logLevel.ERROR, label: 'ERROR', log: { message, timestamp: 'now', logger: 'kafkajs', ...extra } });
  return { lines, error };
}

test('an unreachable broker: the errors kafkajs also throws to finpipe are not logged at info', () => {
  const { lines, error } = bridge();
  // What kafkajs logs, per attempt, when admin.connect() cannot reach 127.0.0.1:1.
  for (let attempt = 0; attempt < 4; attempt++) {
    error('Connection error: connect ECONNREFUSED 127.0.0.1:1', { broker: '127.0.0.1:1', stack: 'Error: connect ECONNREFUSED' });
    error('Failed to connect to seed broker, trying another broker from the list: Connection error: connect ECONNREFUSED 127.0.0.1:1', {
      retryCount: attempt,
    });
  }
  error('Connection timeout', { broker: '10.0.0.1:9092' });
  error('Crash: KafkaJSNumberOfRetriesExceeded: Connection error: connect ECONNREFUSED', { groupId: 'g' });
  error('Restarting the consumer in 300ms', { groupId: 'g' });
  assert.deepEqual(lines, []);
});

test('routine coordinator and leadership answers are debug, real errors stay errors', () => {
  const { lines, error } = bridge('debug');
  error('Response FindCoordinator(key: 8, version: 2)', { error: 'The coordinator is not available' });
  error('Response JoinGroup(key: 11, version: 5)', { error: 'This is not the correct coordinator for this group' });
  error('Response Heartbeat(key: 12, version: 3)', { error: 'The group is rebalancing, so a rejoin is needed' });
  error('The coordinator is not aware of this member, re-joining the group', { groupId: 'g' });
  error('Response Produce(key: 0, version: 7)', { error: 'This server is not the leader for that topic-partition' });
  error('Response Metadata(key: 3, version: 6)', {
    error: 'There is no leader for this topic-partition as we are in the middle of a leadership election',
  });
  error('Response AddPartitionsToTxn(key: 24, version: 1)', {
    error: 'There is a newer producer with the same transactionalId which fences the current one',
  });
  error('Offset out of range, resetting to default offset', { topic: 't' });
  assert.deepEqual(
    lines.map((l) => l.level),
    [20, 20, 20, 20, 20, 20, 50, 50],
  );
});

test('isRoutineRetry reads the message and the answer kafkajs attaches as `error`', () => {
  assert.equal(isRoutineRetry('Response InitProducerId', { error: 'CONCURRENT_TRANSACTIONS' }), true);
  assert.equal(isRoutineRetry('Failed to send messages: Connection error: read ECONNRESET', {}), true);
  assert.equal(isRoutineRetry('Failed to send messages: Broker: Message was too large', {}), false);
  assert.equal(isRoutineRetry('SASL PLAIN authentication failed', {}), false);
});
