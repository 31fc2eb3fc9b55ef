import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, framedSchemaId, readableText } from '../../../src/core/consume/decode';
import { summary } from '../../../src/core/consume/format';
import { deadLetterMessage } from '../../../src/core/kafka/dead-letter';
import { codecs, type Trade } from '../../../src/core/serde';

const TRADE: Trade = {
  id: 'id-1',
  symbol: 'AAPL',
  price: 190.5,
  volume: 3,
  trade_timestamp: 1718000000000,
  ingest_timestamp: 1718000000100,
  trade_conditions: [],
};

/** avsc decodes records into instances of generated classes: compare as JSON, which is what consume prints. */
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));

const headersOf = (h: Record<string, string | Buffer | undefined> = {}) =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString() : String(v)]));

describe('decodeRecord', () => {
  test('the header decides between trade and candle; no header on the raw topic is a raw message', async () => {
    const { trade, raw } = codecs();
    assert.deepEqual(plain(await decodeRecord('other', { value: trade.encode(TRADE), headers: { 'finpipe.type': 'trade' } })), {
      type: 'trade',
      value: TRADE,
    });
    const message = { type: 'trade', data: [{ s: 'AAPL', p: 1, t: 2, v: 3, c: null }] };
    assert.deepEqual(plain(await decodeRecord('raw', { value: raw.encode(message), headers: {} })), { type: 'raw', value: message });
  });

  test('a late trade by its header, or by the late topic', async () => {
    const value = codecs().trade.encode(TRADE);
    assert.equal(
      (await decodeRecord('other', { value, headers: { 'finpipe.type': 'trade', 'finpipe.late.reason': 'late' } })).type,
      'late-trade',
    );
    assert.equal((await decodeRecord('late', { value, headers: {} })).type, 'late-trade');
  });

  test("a process group's state changelog holds JSON", async () => {
    const value = Buffer.from('{"nextOffset":"42"}');
    assert.deepEqual(await decodeRecord('state', { value, headers: {} }), { type: 'state', value: { nextOffset: '42' } });
    assert.equal((await decodeRecord('state', { value: Buffer.from('{oops'), headers: {} })).type, 'undecodable');
  });

  test('a dead letter shows its reason and context headers and the original bytes', async () => {
    const m = deadLetterMessage({ stage: 'process', reason: 'bad', source: 'trades/0/7', value: Buffer.from([1, 2, 0xff]) }, 0, 2);
    const decoded = await decodeRecord('other', { value: m.value as Buffer, headers: headersOf(m.headers as Record<string, string>) });
    assert.deepEqual(decoded, {
      type: 'dead-letter',
      value: {
        reason: 'bad',
        stage: 'process',
        source: 'trades/0/7',
        deadLetteredAt: '1970-01-01T00:00:00.000Z',
        truncated: { originalBytes: 3, originalSha256: (m.headers as Record<string, string>)['finpipe.dlq.original-sha256'] },
        original: { base64: Buffer.from([1, 2]).toString('base64') },
      },
    });
  });

  test('bytes that are not a record come back undecodable with the reason and base64, never a throw', async () => {
    const junk = Buffer.from('not avro at all, just text');
    const r = await decodeRecord('other', { value: junk, headers: {} });
    assert.equal(r.type, 'undecodable');
    assert.deepEqual(r.value, { reason: (r.value as { reason: string }).reason, base64: junk.toString('base64') });
    const wrongHeader = await decodeRecord('other', { value: junk, headers: { 'finpipe.type': 'quote' } });
    assert.match((wrongHeader.value as { reason: string }).reason, /unknown finpipe.type header "quote"/);
    const noHeader = await decodeRecord('symbol', { value: junk, headers: {} });
    assert.match((noHeader.value as { reason: string }).reason, /per-symbol record without its finpipe.type header/);
    assert.deepEqual(await decodeRecord('other', { value: null, headers: {} }), { type: 'tombstone', value: null });
  });

  test('Schema Registry framing is recognised, and decoded through the framed decoder when one is given', async () => {
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 1, 2]), codecs().trade.encode(TRADE)]);
    assert.equal(framedSchemaId(framed), 258);
    const without = await decodeRecord('other', { value: framed, headers: { 'finpipe.type': 'trade' } });
    assert.deepEqual(without, {
      type: 'undecodable',
      value: { reason: 'framed (schema id 258); pass --schema-registry to decode', base64: framed.toString('base64'), schemaId: 258 },
    });
    const seen: unknown[] = [];
    const framedDecoder = async (value: Buffer, expected: string) => {
      seen.push([framedSchemaId(value), expected]);
      return codecs().trade.decode(value.subarray(5));
    };
    assert.deepEqual(
      plain(await decodeRecord('other', { value: framed, headers: { 'finpipe.type': 'trade' } }, { framed: framedDecoder })),
      {
        type: 'trade',
        value: TRADE,
        schemaId: 258,
      },
    );
    assert.deepEqual(seen, [[258, 'trade']]);
    const failing = await decodeRecord(
      'other',
      { value: framed, headers: { 'finpipe.type': 'trade' } },
      { framed: () => Promise.reject(new Error('unknown schema id 258')) },
    );
    assert.match((failing.value as { reason: string }).reason, /framed \(schema id 258\) but not decodable: unknown schema id 258/);
  });
});

describe('readableText and summary', () => {
  test('text only for valid UTF-8 without control characters', () => {
    assert.equal(readableText(Buffer.from('{"a":"é"}\n')), '{"a":"é"}\n');
    assert.equal(readableText(Buffer.from([0xff, 0x41])), undefined);
    assert.equal(readableText(Buffer.from([0x41, 0x00])), undefined);
  });

  test('one readable line per record type', () => {
    assert.equal(summary({ type: 'trade', value: TRADE }), 'AAPL 190.5 x 3 at 2024-06-10T06:13:20.000Z id id-1');
    assert.equal(
      summary({
        type: 'raw',
        value: {
          type: 'trade',
          data: [
            { s: 'A', p: 1, v: 2, t: 0, c: null },
            { s: 'A', p: 1, v: 2, t: 0, c: null },
          ],
        },
      }),
      'trade A 1 x 2 at 1970-01-01T00:00:00.000Z (+1 more)',
    );
    assert.equal(summary({ type: 'undecodable', value: { reason: 'r', base64: 'AAE=' } }), 'r | base64 AAE=');
  });
});
