import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { runStage } from '../../src/cli/run-stage';
import type { Stage, StageView } from '../../src/core/stage';

interface CountStats {
  items: number;
}

/** A stage that counts up every 5 ms until its signal aborts. */
class CountingStage implements Stage<CountStats> {
  readonly name = 'count';
  private items = 0;
  received?: AbortSignal;

  async run(signal: AbortSignal): Promise<CountStats> {
    this.received = signal;
    while (!signal.aborted) {
      this.items++;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.snapshot();
  }

  snapshot(): CountStats {
    return { items: this.items };
  }
}

const view: StageView<CountStats> = {
  lines: (now) => [{ key: 'count', text: `${now.items} items` }],
  log: (now, previous, seconds) => ({
    fields: { stats: { items: now.items, perSec: (now.items - previous.items) / seconds } },
    message: `${now.items} items`,
  }),
  summary: (final, interactive) => ({
    fields: { items: final.items },
    stdout: interactive ? `counted ${final.items}` : JSON.stringify({ items: final.items }),
  }),
};

function capture(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (d: Buffer) => chunks.push(d.toString()));
  const logger = pino({ base: undefined }, stream);
  return {
    logger,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

test('runStage: stats logged every interval with rates from two snapshots; SIGTERM stops the stage; summary logged and printed', async () => {
  const { logger, lines } = capture();
  const out = new PassThrough();
  let printed = '';
  out.on('data', (d: Buffer) => (printed += d.toString()));
  const stage = new CountingStage();
  const running = runStage(stage, view, { logger, logIntervalMs: 50, out });
  await new Promise((resolve) => setTimeout(resolve, 220));
  process.emit('SIGTERM', 'SIGTERM');
  const final = await running;

  assert.ok(stage.received?.aborted, 'the stage was handed the shutdown signal, and SIGTERM aborted it');
  const stats = lines().filter((l) => l.stats !== undefined);
  assert.ok(stats.length >= 2, `a stats line every 50 ms (got ${stats.length})`);
  for (const l of stats) {
    const s = l.stats as { items: number; perSec: number };
    assert.ok(s.perSec > 0 && Number.isFinite(s.perSec), 'a rate over the interval, not since the start');
    assert.equal(l.msg, `${s.items} items`);
  }
  const summary = lines().find((l) => l.msg === 'summary');
  assert.deepEqual(summary?.summary, { items: final.items });
  assert.equal(
    printed,
    `${JSON.stringify({ items: final.items })}\n`,
    "off a terminal the summary is the view's non-interactive form, on stdout",
  );
  assert.equal(process.listenerCount('SIGTERM'), 0, 'the signal handlers are removed afterwards');
});

test('runStage: a stage that fails rejects with its error and still removes its handlers', async () => {
  const { logger } = capture();
  const failing: Stage<CountStats> = {
    name: 'failing',
    run: () => Promise.reject(new Error('broker gone')),
    snapshot: () => ({ items: 0 }),
  };
  await assert.rejects(runStage(failing, view, { logger, logIntervalMs: 10, out: new PassThrough() }), /broker gone/);
  assert.equal(process.listenerCount('SIGINT'), 0);
});
