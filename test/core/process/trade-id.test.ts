import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { tradeId, TRADE_ID_NAMESPACE } from '../../../src/core/process/trade-id';

/** The definition: node:crypto's SHA-1 of namespace + name, RFC 4122 version 5 bits, formatted. */
function referenceId(topic: string, partition: number, offset: string, index: number): string {
  const hash = createHash('sha1')
    .update(Buffer.from(TRADE_ID_NAMESPACE.replace(/-/g, ''), 'hex'))
    .update(`${topic}/${partition}/${offset}/${index}`)
    .digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const h = hash.toString('hex', 0, 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

test('trade ids are the version-5 UUIDs node:crypto computes, for names of every length', () => {
  const alphabet = 'abcXYZ019._-éü€😀';
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  // Every topic length from 1 to 300 characters crosses the 55/56/64-byte block boundaries.
  for (let length = 1; length <= 300; length++) {
    for (let n = 0; n < 5; n++) {
      const topic = Array.from({ length }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
      const partition = Math.floor(rand() * 1000);
      const offset = String(Math.floor(rand() * 2 ** 53));
      const index = Math.floor(rand() * 5000);
      assert.equal(
        tradeId(topic, partition, offset, index),
        referenceId(topic, partition, offset, index),
        `${topic}/${partition}/${offset}/${index}`,
      );
    }
  }
  assert.equal(tradeId('trades', 0, '0', 0), referenceId('trades', 0, '0', 0));
  assert.equal(tradeId('trades', 5, '9223372036854775807', 99), referenceId('trades', 5, '9223372036854775807', 99));
});
