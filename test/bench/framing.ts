/**
 * Schema Registry framing on vs off, in one run: the serde work per record of produce
 * (encode a raw record) and of process (decode a raw record, encode its trade), with the
 * real registry (npm run services:up registry). On and off alternate, so a machine loaded
 * by other work affects both alike; medians and the ratio are printed.
 *   node dist/test/bench/framing.js [rounds]
 */
import { randomUUID } from 'node:crypto';
import type { RawMessage, Trade } from '../../src/core/serde';
import { PLAIN_VALUES, valueCodecs, type ValueReader, type ValueWriter } from '../../src/core/serde/registry';

const URL = process.env.FINPIPE_TEST_SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const RECORDS = 200_000;

const raw: RawMessage = { type: 'trade', data: [{ s: 'BINANCE:BTCUSDT', p: 43_210.5, t: Date.now(), v: 0.0123, c: ['1', '12'] }] };
const trade: Trade = {
  id: randomUUID(),
  symbol: 'BINANCE:BTCUSDT',
  price: 43_210.5,
  volume: 0.0123,
  trade_timestamp: Date.now(),
  ingest_timestamp: Date.now(),
  trade_conditions: ['1'],
};

/** Records per second of one pass: produce's encode, or process's decode + encode. */
async function pass(
  kind: 'produce' | 'process',
  writer: ValueWriter,
  reader: ValueReader,
  rawTopic: string,
  outTopic: string,
): Promise<number> {
  const input = writer.encode(rawTopic, 'raw', raw);
  if (kind === 'process') await reader.prepare([{ value: input }]);
  const started = process.hrtime.bigint();
  let bytes = 0;
  for (let i = 0; i < RECORDS; i++) {
    if (kind === 'produce') bytes += writer.encode(rawTopic, 'raw', raw).length;
    else {
      const decoded = reader.decode<RawMessage>('raw', input, rawTopic, 0);
      bytes += writer.encode(outTopic, 'trade', { ...trade, price: decoded.data[0].p }).length;
    }
  }
  if (bytes === 0) throw new Error('nothing encoded');
  return RECORDS / (Number(process.hrtime.bigint() - started) / 1e9);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchFraming(rounds = 7): Promise<void> {
  const id = randomUUID().slice(0, 8);
  const [rawTopic, outTopic] = [`bench-raw-${id}`, `bench-SYM_${id}`];
  const framed = valueCodecs({ url: URL });
  await framed.writer.prepare(rawTopic, ['raw']);
  await framed.writer.prepare(outTopic, ['trade', 'candle']);
  for (const kind of ['produce', 'process'] as const) {
    const on: number[] = [];
    const off: number[] = [];
    await pass(kind, PLAIN_VALUES.writer, PLAIN_VALUES.reader, rawTopic, outTopic); // warm-up
    for (let r = 0; r < rounds; r++) {
      off.push(await pass(kind, PLAIN_VALUES.writer, PLAIN_VALUES.reader, rawTopic, outTopic));
      on.push(await pass(kind, framed.writer, framed.reader, rawTopic, outTopic));
    }
    const [mOn, mOff] = [median(on), median(off)];
    console.log(
      `framing ${kind.padEnd(7)} serde: off ${Math.round(mOff).toLocaleString('en-US')} rec/s, on ${Math.round(mOn).toLocaleString('en-US')} rec/s ` +
        `(medians of ${rounds}, alternating); on/off = ${(mOn / mOff).toFixed(3)} (${((1 - mOn / mOff) * 100).toFixed(1)} % cost)`,
    );
  }
}

if (require.main === module) {
  benchFraming(Number(process.argv[2] ?? 7)).catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
