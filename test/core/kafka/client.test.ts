import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { noDelaySockets } from '../../../src/core/kafka/client';

test("kafkajs' sockets are opened with Nagle's algorithm off (TCP_NODELAY), as Kafka's own clients do", async (t) => {
  const server = net.createServer((s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const setNoDelay = t.mock.method(net.Socket.prototype, 'setNoDelay'); // calls through, restored after the test
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve, reject) => {
    const socket = noDelaySockets({ host: '127.0.0.1', port, ssl: false, onConnect: () => (socket.destroy(), resolve()) } as never);
    socket.on('error', reject);
  });
  assert.deepEqual(
    setNoDelay.mock.calls.map((c) => c.arguments[0]),
    [true],
  );
});
