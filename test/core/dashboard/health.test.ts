import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FreshnessSampler } from '../../../src/core/dashboard/health';
import type { StoreReader } from '../../../src/core/stores/types';

/** A reader answering from a script of ages; only what the sampler calls. */
function scriptedReader(ages: (number | null)[], symbols = ['AAPL']) {
  const calls = { symbols: 0, ages: 0 };
  const reader = {
    symbols: () => {
      calls.symbols++;
      return Promise.resolve(symbols);
    },
    newestTradeAgeMs: (asked: string[], sinceMs: number) => {
      assert.deepEqual(asked, symbols);
      assert.ok(Date.now() - sinceMs >= 59_000, 'trades of the last minute');
      return Promise.resolve(ages[calls.ages++] ?? null);
    },
  } as unknown as StoreReader;
  return { reader, calls };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), 'condition met');
}

test('freshness: p50/p99 of the newest trade age over the samples kept; none before the first trade', async () => {
  const ages = [null, 10, 30, 20, 1000, 40];
  const { reader, calls } = scriptedReader(ages);
  const sampler = new FreshnessSampler(
    () => Promise.resolve(reader),
    () => assert.fail('no failure expected'),
    1,
    4,
  );
  assert.deepEqual(sampler.percentiles(), { p50Ms: null, p99Ms: null });
  sampler.start();
  await until(() => calls.ages >= ages.length);
  sampler.stop();
  // Kept: the last 4 non-null samples (30, 20, 1000, 40); the symbol list was read once.
  assert.deepEqual(sampler.percentiles(), { p50Ms: 40, p99Ms: 1000 });
  assert.equal(calls.symbols, 1);
});

test('freshness: a store that fails drops the reader (the next sample reconnects) and keeps sampling', async () => {
  let failures = 0;
  let attempts = 0;
  const { reader } = scriptedReader([25]);
  const sampler = new FreshnessSampler(
    () => (++attempts < 3 ? Promise.reject(new Error('MySQL down')) : Promise.resolve(reader)),
    () => failures++,
    1,
  );
  sampler.start();
  await until(() => sampler.percentiles().p50Ms !== null);
  sampler.stop();
  assert.equal(failures, 2);
  assert.deepEqual(sampler.percentiles(), { p50Ms: 25, p99Ms: 25 });
});
