/**
 * The limits every stage agrees on. `produce` checks them at the door and dead-letters what
 * breaks them; `process` and `sink` check the same numbers again (the raw topic can be
 * written by other producers, and a per-symbol topic by hand), so an input refused at one
 * stage is never accepted by an earlier one and then refused later.
 *
 * Where each number comes from:
 *   symbol           the stores' symbol column (MySQL VARCHAR(128)); the symbol's topic name
 *                    (symbolToTopic) is then at most 128 characters too, under Kafka's 249.
 *   trade time       MySQL DATETIME(3) holds years 1000..9999; a trade is an event that
 *                    happened, so anything more than `maxFutureMs` ahead of the wall clock
 *                    is refused rather than allowed to move a symbol's watermark for ever.
 *   window size      candles.window_ms is INT UNSIGNED (ms): at most 2^32 - 1 ms (~49.7 days).
 *   conditions       trade conditions are short codes; a bound keeps one trade's record small.
 *   record bytes     the broker's default message.max.bytes is 1 MiB (1,048,588 bytes); a
 *                    record is kept well under it so one with its headers always fits.
 */
export const LIMITS = {
  symbolMaxLength: 128,
  /** Earliest trade time accepted: 1970-01-01 (Finnhub times are ms since the epoch). */
  tradeTimeMinMs: 0,
  /** Latest trade time the stores can hold: 9999-12-31T23:59:59.999Z. */
  tradeTimeMaxMs: Date.UTC(9999, 11, 31, 23, 59, 59, 999),
  /** Default for --max-future: how far ahead of the wall clock a trade's time may be. */
  maxFutureMs: 60_000,
  windowMaxMs: 2 ** 32 - 1,
  conditionsMaxCount: 16,
  conditionMaxLength: 32,
  /** Largest record value finpipe writes; bigger input is split or dead-lettered in part. */
  recordMaxBytes: 900 * 1024,
} as const;
