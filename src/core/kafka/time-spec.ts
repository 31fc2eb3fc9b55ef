/**
 * Points in time and look-back durations as `consume --offset @<time>` and
 * `groups reset-offsets --to-datetime/--by-duration` read them. Pure parsing: each
 * function throws an Error whose message says what is accepted; callers wrap it.
 */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A duration: `90s`, `15m`, `1h30m`, `2d`, `500ms`, or ISO-8601 as kafka-consumer-groups
 * takes it (`PT1H30M`, `P1DT2H`, `PT0.5S`). Returns milliseconds (> 0).
 */
export function parseLookback(value: string): number {
  const text = value.trim();
  const total = /^P/i.test(text) ? isoDuration(text) : compactDuration(text);
  if (total === undefined || !Number.isFinite(total) || total <= 0)
    throw new Error(`"${value}" is not a duration; use e.g. 30s, 15m, 1h30m, 2d or ISO-8601 PT1H30M`);
  return Math.round(total);
}

function compactDuration(text: string): number | undefined {
  if (!/^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
  return total;
}

function isoDuration(text: string): number | undefined {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(text);
  if (!m || text.toUpperCase() === 'P' || /T$/i.test(text)) return undefined;
  const [d, h, min, s] = m.slice(1).map((x) => Number(x ?? 0));
  return d * UNIT_MS.d + h * UNIT_MS.h + min * UNIT_MS.m + s * UNIT_MS.s;
}

/**
 * A point in time: ISO-8601 (`2024-06-10T12:00:00Z`; without a zone it is UTC, as Kafka's
 * tools read it), epoch milliseconds (`1718020800000`), or a look-back from `now`
 * (`-15m`, `-PT1H`). Returns ms since the epoch.
 */
export function parseTimestamp(value: string, now = Date.now()): number {
  const text = value.trim();
  if (text.startsWith('-')) return now - parseLookback(text.slice(1));
  if (/^\d{10,}$/.test(text)) return Number(text);
  const hasZone = /(?:Z|[+-]\d\d:?\d\d)$/i.test(text);
  const iso = /^\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)?(?:Z|[+-]\d\d:?\d\d)?$/i.test(text);
  const ms = iso ? Date.parse(hasZone || text.length === 10 ? text.replace(' ', 'T') : `${text.replace(' ', 'T')}Z`) : NaN;
  if (!Number.isFinite(ms))
    throw new Error(`"${value}" is not a time; use ISO-8601 (2024-06-10T12:00:00Z), epoch ms (1718020800000) or a look-back (-15m)`);
  return ms;
}
