/**
 * The fuzz test's inputs and its oracle (test/integration/fuzz.test.ts). Not a test file.
 *
 * Every input is generated from a fixed seed, so a failure reproduces. Each hostile input
 * carries a marker (`FZM` + 6 digits) where every stage keeps it: at the start of the frame
 * or body (`{"fz":"FZM000017",...`: produce dead-letters the bytes as received, a truncated
 * copy keeps its start) and, for trades that are valid JSON, in the trade's conditions `c`
 * (process and sink dead-letter Avro records that still hold it). Valid trades carry no
 * marker; each has a unique volume, so (symbol, price, volume, time) identifies it in MySQL.
 */

/** A deterministic pseudo-random generator (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export interface JsonTrade {
  s: unknown;
  p: unknown;
  t: unknown;
  v: unknown;
  c?: unknown;
}

export interface WsFrame {
  data: Buffer;
  binary: boolean;
  kind: string;
}

export interface HttpBody {
  data: Buffer;
  kind: string;
  /** The status the intended behaviour gives it: 202 accepted, 4xx refused (with a dead letter), or either (too big to be sure). */
  expect: 'accepted' | 'refused' | 'either';
}

/** What must come out of the pipeline. */
export interface Oracle {
  /** Identities of valid trades: each in MySQL exactly once. */
  valid: Set<string>;
  /** Markers of invalid input: each in the dead-letter topic (with a reason), none in MySQL. */
  deadLetter: Map<string, string>;
  /** Frames too big or symbols that collide with finpipe's names: each trade in MySQL once, or its marker dead-lettered. */
  either: Map<string, { kind: string; identities: string[] }>;
  /** Trades whose symbols collide with Kafka's internal topics (`__consumer_offsets`): at most once in MySQL. */
  atMostOnce: Set<string>;
  /** Inputs with no room for a marker (empty frames and bodies): this many dead letters with an empty or blank value. */
  blank: number;
}

export function identity(t: { s: unknown; p: unknown; v: unknown; t: unknown }): string {
  return `${String(t.s)}\t${String(t.p)}\t${String(t.v)}\t${String(t.t)}`;
}

const YEAR_MS = 365.25 * 86_400_000;

export class FuzzInputs {
  readonly oracle: Oracle = { valid: new Set(), deadLetter: new Map(), either: new Map(), atMostOnce: new Set(), blank: 0 };
  readonly frames: WsFrame[] = [];
  readonly bodies: HttpBody[] = [];
  private serial = 0;
  private markers = 0;
  /** Per-symbol topics of valid symbols all contain the run id, so the sink's --pattern finds them and nothing else. */
  readonly symbols: string[];

  constructor(
    readonly rnd: () => number,
    readonly run: string,
    readonly topics: { raw: string; deadLetter: string; late: string; state: string },
    readonly now: number,
  ) {
    this.symbols = [
      `FZ${run}:AAPL`,
      `BINANCE:${run}BTC`,
      `Zürich:${run}`,
      `${run} MARKETS:1`,
      `L${run}`.padEnd(128, 'L'), // exactly LIMITS.symbolMaxLength
    ];
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)];
  }

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  marker(kind: string, into: Map<string, string> | null = this.oracle.deadLetter): string {
    const m = `FZM${String(this.markers++).padStart(6, '0')}`;
    into?.set(m, kind);
    return m;
  }

  /** A valid trade (added to the oracle by the caller when it must arrive). */
  trade(symbol = this.pick(this.symbols)): JsonTrade {
    const n = this.serial++;
    const trade: JsonTrade = { s: symbol, p: Math.round(this.rnd() * 1e6) / 100 + 1, t: this.now - 600_000 + (n % 300_000), v: n + 0.5 };
    const c = this.int(4);
    if (c === 1) trade.c = ['1', '12'];
    else if (c === 2) trade.c = null;
    else if (c === 3) trade.c = [];
    return trade;
  }

  validTrades(n: number): JsonTrade[] {
    const trades = Array.from({ length: n }, () => this.trade());
    for (const t of trades) this.oracle.valid.add(identity(t));
    return trades;
  }

  /** A trade that every stage must refuse, and the reason it is hostile. */
  badTrade(marker: string): { trade: JsonTrade; label: string; text?: [string, string] } {
    const t = this.trade();
    t.c = [marker];
    const kind = this.int(22);
    const INF = '"__INF__"';
    switch (kind) {
      case 0:
        return { trade: { ...t, t: 1e20 }, label: 't 1e20' };
      case 1:
        return { trade: { ...t, t: -5 }, label: 't negative' };
      case 2:
        return { trade: { ...t, t: Math.floor(this.now / 1000) }, label: 't in seconds' }; // seconds, not ms
      case 3:
        return { trade: { ...t, t: Date.UTC(10000, 0, 1) + this.int(1e6) }, label: 'year 10000' }; // year 10000
      case 4:
        return { trade: { ...t, t: Math.round(this.now + 100 * YEAR_MS) }, label: '+100 years' }; // +100 years
      case 5:
        return { trade: { ...t, t: String(t.t) }, label: 't a string' };
      case 6:
        return { trade: { ...t, p: String(t.p) }, label: 'p a string' };
      case 7:
        return { trade: { ...t, p: -1 }, label: 'p negative' };
      case 8:
        return { trade: { ...t, p: INF }, label: 'p Infinity', text: [INF, '1e999'] }; // JSON.parse makes it Infinity
      case 9:
        return { trade: { ...t, v: INF }, label: 'v -Infinity', text: [INF, '-1e999'] };
      case 10:
        return { trade: { ...t, v: -0.5 }, label: 'v negative' };
      case 11:
        return { trade: { ...t, s: '' }, label: 's empty' };
      case 12:
        return { trade: { ...t, s: 42 }, label: 's a number' };
      case 13:
        return { trade: { ...t, s: `S${this.run}`.padEnd(200, 'S') }, label: 'symbol of 200' }; // too long for the symbol column
      case 14:
        return { trade: { ...t, s: `T${this.run}`.padEnd(300, 'T') }, label: 'symbol of 300' }; // too long for a topic name too
      case 15:
        return { trade: { ...t, c: marker }, label: 'c not an array' };
      case 16:
        return { trade: { ...t, t: null }, label: 't null' };
      case 17:
        return { trade: { ...t, p: true }, label: 'p a boolean' };
      case 18:
        return { trade: { ...t, t: 1.5 }, label: 't fractional' };
      case 19:
        return { trade: { ...t, s: '   ' }, label: 's blank' };
      case 20:
        return { trade: { ...t, v: 'x' }, label: 'v a string' };
      default:
        return { trade: { ...t, t: Math.round(this.now + 2 * 86_400_000) }, label: 'two days ahead' };
    }
  }

  private frameText(marker: string | null, trades: JsonTrade[], replace?: [string, string]): string {
    const head = marker ? `{"fz":"${marker}",` : '{';
    let text = `${head}"type":"trade","data":${JSON.stringify(trades)}}`;
    if (replace) text = text.split(replace[0]).join(replace[1]);
    return text;
  }

  private ws(text: string | Buffer, kind: string, binary = false): void {
    this.frames.push({ data: Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8'), binary, kind });
  }

  /** Printable ASCII mutations (text frames must stay valid UTF-8, or ws itself drops the connection) until it is no JSON. */
  private mutate(text: string, keep: number, bytes = false): Buffer {
    const b = Buffer.from(text, 'utf8');
    for (let tries = 0; ; tries++) {
      const m = Buffer.from(b);
      for (let k = 0; k <= this.int(4); k++) m[keep + this.int(m.length - keep)] = bytes ? this.int(256) : 0x20 + this.int(95);
      // An ASCII byte in the middle of "ü" or an emoji breaks the UTF-8: try again.
      if (!bytes && !Buffer.from(m.toString('utf8'), 'utf8').equals(m)) continue;
      try {
        JSON.parse(m.toString('utf8'));
        if (tries > 20) return Buffer.concat([m, Buffer.from('}{')]);
      } catch {
        return m;
      }
    }
  }

  /** One websocket frame of a random kind. */
  addFrame(): void {
    const roll = this.rnd();
    if (roll < 0.45) return this.ws(this.frameText(null, this.validTrades(1 + this.int(20))), 'valid');
    if (roll < 0.48) return this.ws('{"type":"ping"}', 'ping');
    if (roll < 0.49) {
      this.oracle.blank++;
      return this.ws(this.pick(['', ' ', '\n']), 'blank');
    }
    if (roll < 0.51) return this.addCollidingFrame();
    const kind = this.pick([
      'bad-trade',
      'bad-trade',
      'mixed',
      'frame-shape',
      'invalid-json',
      'garbage',
      'mutated',
      'binary',
      'bad-trades',
    ]);
    const m = this.marker(`ws ${kind}`);
    switch (kind) {
      case 'bad-trade': {
        const { trade, text, label } = this.badTrade(m);
        this.oracle.deadLetter.set(m, `ws ${kind} (${label})`);
        return this.ws(this.frameText(m, [trade], text), kind);
      }
      case 'bad-trades': {
        const bad = Array.from({ length: 2 + this.int(5) }, () => this.badTrade(m).trade);
        return this.ws(this.frameText(m, bad), kind);
      }
      case 'mixed': {
        // Its valid trades are still written (produce: "a frame with one bad trade still yields its good ones").
        const { trade, text, label } = this.badTrade(m);
        this.oracle.deadLetter.set(m, `ws ${kind} (${label})`);
        const trades = [...this.validTrades(1 + this.int(5)), trade, ...this.validTrades(this.int(3))];
        return this.ws(this.frameText(m, trades, text), kind);
      }
      case 'frame-shape':
        return this.ws(
          this.pick([
            `{"fz":"${m}","type":"news","data":[]}`,
            `{"fz":"${m}","data":${JSON.stringify([this.trade()])}}`,
            `{"fz":"${m}","type":7}`,
            `{"fz":"${m}","type":"trade","data":{}}`,
            `{"fz":"${m}","type":"trade","data":[]}`,
            `{"fz":"${m}","type":"trade"}`,
            `["${m}"]`,
            `"${m}"`,
            `{"fz":"${m}","type":"trade","data":[5,"x",null,[]]}`,
          ]),
          kind,
        );
      case 'invalid-json': {
        const text = this.frameText(m, [this.trade()]);
        return this.ws(this.pick([text.slice(0, 20 + this.int(text.length - 21)), text.replace('"p":', '"p":NaN,"q":'), `${text}}`]), kind);
      }
      case 'garbage':
        return this.ws(
          `{"fz":"${m}",${Array.from({ length: this.int(300) }, () => String.fromCharCode(0x20 + this.int(95))).join('')}`,
          kind,
        );
      case 'mutated':
        return this.ws(this.mutate(this.frameText(m, [this.trade(), this.trade()]), 20), kind);
      default: {
        const noise = Buffer.from(Array.from({ length: 1 + this.int(300) }, () => this.int(256)));
        return this.ws(Buffer.concat([Buffer.from(m), noise]), 'binary', true);
      }
    }
  }

  /**
   * Symbols that collide with this run's topics, or whose topic would begin with "__"
   * (`🚀:MOON` -> `___MOON`): process writes them to a topic of their own or dead-letters them.
   */
  private addCollidingFrame(): void {
    const { raw, deadLetter, late, state } = this.topics;
    const symbol = this.pick([raw, deadLetter, deadLetter.replace(/\./g, '_'), late, state, `🚀:${this.run}MOON`, `__${this.run}_X`]);
    const m = this.marker(`ws colliding symbol ${symbol}`, null);
    const trades = [this.trade(symbol), this.trade(symbol)].map((t) => ({ ...t, c: [m] }));
    this.oracle.either.set(m, { kind: `colliding symbol ${symbol}`, identities: trades.map(identity) });
    this.ws(this.frameText(m, trades), 'colliding');
  }

  /**
   * Symbols named like Kafka's internal topics: refused, so only "never twice" is checked.
   * (Not `trades` or `finpipe.dlq`: this run's raw and dead-letter topics have other names, so
   * those symbols are ordinary here, and writing them would create the default pipeline's
   * topic names, with one partition, on the shared broker. Collisions with this run's own
   * topics are what addCollidingFrame sends.)
   */
  addLiteralFrames(): void {
    for (const symbol of ['__consumer_offsets', '__transaction_state']) {
      const trades = [this.trade(symbol), this.trade(symbol)];
      for (const t of trades) this.oracle.atMostOnce.add(identity(t));
      this.ws(this.frameText(this.marker(`literal ${symbol}`, null), trades), 'literal');
    }
  }

  /** Frames over the broker's 1 MiB message limit: valid ones (100,000 trades; 20,000 trades) and hostile ones. */
  addBigFrames(): void {
    for (const n of [100_000, 20_000]) {
      const m = this.marker(`ws ${n}-trade frame`, null);
      const symbol = `FZ${this.run}:BIG${n}`;
      const trades = Array.from({ length: n }, () => this.trade(symbol));
      this.oracle.either.set(m, { kind: `${n}-trade frame`, identities: trades.map(identity) });
      this.ws(this.frameText(m, trades), `${n}-trade frame`);
    }
    for (const size of [1.2, 2.5]) {
      const m = this.marker(`ws ${size} MiB hostile frame`);
      const huge = 'x'.repeat(Math.round(size * 1024 * 1024));
      this.ws(this.frameText(m, [{ ...this.trade(), p: huge, c: [m] }]), 'oversized');
    }
  }

  /** One HTTP body of a random kind. */
  addBody(): void {
    const roll = this.rnd();
    const body = (data: string | Buffer, kind: string, expect: HttpBody['expect']): void => {
      this.bodies.push({ data: Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8'), kind, expect });
    };
    if (roll < 0.55) return body(JSON.stringify(this.validTrades(1 + this.int(20))), 'valid', 'accepted');
    if (roll < 0.56) {
      this.oracle.blank++;
      return body('', 'blank', 'refused');
    }
    const kind = this.pick(['bad-trade', 'bad-trade', 'mixed', 'shape', 'invalid-json', 'mutated', 'binary']);
    const m = this.marker(`http ${kind}`);
    const first = (trades: JsonTrade[]) => JSON.stringify(trades).replace(/^\[\{/, `[{"fz":"${m}",`);
    switch (kind) {
      case 'bad-trade':
      case 'mixed': {
        // All or nothing: the valid trades of a refused request are not written (and not in the oracle).
        const { trade, text, label } = this.badTrade(m);
        this.oracle.deadLetter.set(m, `http ${kind} (${label})`);
        const trades = kind === 'mixed' ? [trade, ...Array.from({ length: 1 + this.int(5) }, () => this.trade())] : [trade];
        const json = first(trades);
        return body(text ? json.split(text[0]).join(text[1]) : json, kind, 'refused');
      }
      case 'shape':
        return body(this.pick([`{"fz":"${m}"}`, `"${m}"`, `[["${m}"]]`, `[{"fz":"${m}"}]`, `[{"fz":"${m}","s":null}]`]), kind, 'refused');
      case 'invalid-json': {
        const text = first([this.trade()]);
        return body(text.slice(0, 19 + this.int(text.length - 20)), kind, 'refused'); // the marker ends at 18
      }
      case 'mutated':
        return body(this.mutate(first([this.trade(), this.trade()]), 19, true), kind, 'refused');
      default:
        return body(
          Buffer.concat([Buffer.from(m), Buffer.from(Array.from({ length: 1 + this.int(200) }, () => this.int(256)))]),
          kind,
          'refused',
        );
    }
  }

  /** HTTP bodies over the limits: 9 MiB (over --http's 8 MiB), and 30,000 valid trades of one symbol (over 1 MiB as one raw record). */
  addBigBodies(): void {
    const m = this.marker('http 9 MiB body');
    this.bodies.push({ data: Buffer.from(`[{"fz":"${m}","s":"${'x'.repeat(9 * 1024 * 1024)}"}]`), kind: '9 MiB body', expect: 'refused' });
    const big = this.marker('http 30,000-trade body', null);
    const symbol = `FZ${this.run}:HTTPBIG`;
    const trades = Array.from({ length: 30_000 }, () => this.trade(symbol));
    this.oracle.either.set(big, { kind: '30,000-trade body', identities: trades.map(identity) });
    this.bodies.push({
      data: Buffer.from(JSON.stringify(trades).replace(/^\[\{/, `[{"fz":"${big}",`)),
      kind: '30,000-trade body',
      expect: 'either',
    });
  }
}

/** Shuffles in place (Fisher-Yates) with the generator. */
export function shuffle<T>(xs: T[], rnd: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}
