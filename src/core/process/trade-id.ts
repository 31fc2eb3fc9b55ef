/**
 * Trade ids: RFC 4122 version-5 UUIDs (SHA-1, name-based) of `topic/partition/offset/index`
 * in the namespace TRADE_ID_NAMESPACE. The same raw record always yields the same ids, and
 * two identical trades in one frame (or in two frames) stay two trades because their
 * positions differ.
 *
 * SHA-1 is computed here in JavaScript rather than with node:crypto's createHash: the name
 * is a few dozen bytes (one or two SHA-1 blocks), and for inputs that small createHash's
 * per-call cost (a native Hash object, three crossings into C++, a digest Buffer) was about
 * 9 % of `process`'s CPU, one id per trade; this is about four times cheaper. The ids are
 * the same bytes: test/core/process/trade-id.test.ts compares them with createHash on
 * random names of every length around the block boundaries.
 */

/** Namespace of trade ids (a fixed random UUID; changing it changes every id). */
export const TRADE_ID_NAMESPACE = 'a3f7c1d2-5b8e-4f09-9c6d-2e1b7a4f8d30';
const NAMESPACE_BYTES = Buffer.from(TRADE_ID_NAMESPACE.replace(/-/g, ''), 'hex');

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const W = new Int32Array(80);
/** Namespace + name + SHA-1 padding; grown for long names. */
let input = Buffer.alloc(256);
NAMESPACE_BYTES.copy(input, 0);

function rotl(x: number, n: number): number {
  return (x << n) | (x >>> (32 - n));
}

/** SHA-1 of input[0, length) (input has room for the padding); the five state words. */
function sha1(length: number): [number, number, number, number, number] {
  const blocks = Math.ceil((length + 9) / 64);
  input.fill(0, length, blocks * 64);
  input[length] = 0x80;
  // Bit length, big-endian, in the last 8 bytes (names are far below 2^29 bytes).
  input.writeUInt32BE(length * 8, blocks * 64 - 4);
  let h0 = 0x67452301;
  let h1 = 0xefcdab89 | 0;
  let h2 = 0x98badcfe | 0;
  let h3 = 0x10325476;
  let h4 = 0xc3d2e1f0 | 0;
  for (let block = 0; block < blocks; block++) {
    const base = block * 64;
    for (let i = 0; i < 16; i++) {
      const p = base + i * 4;
      W[i] = (input[p] << 24) | (input[p + 1] << 16) | (input[p + 2] << 8) | input[p + 3];
    }
    for (let i = 16; i < 80; i++) W[i] = rotl(W[i - 3] ^ W[i - 8] ^ W[i - 14] ^ W[i - 16], 1);
    let a = h0;
    let b = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    for (let i = 0; i < 80; i++) {
      let f: number;
      let k: number;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc | 0;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6 | 0;
      }
      const t = (rotl(a, 5) + f + e + k + W[i]) | 0;
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = t;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  return [h0, h1, h2, h3, h4];
}

function hex32(word: number): string {
  return HEX[(word >>> 24) & 0xff] + HEX[(word >>> 16) & 0xff] + HEX[(word >>> 8) & 0xff] + HEX[word & 0xff];
}

/** The version-5 UUID of `topic/partition/offset/index` (see the module comment). */
export function tradeId(topic: string, partition: number, offset: string, index: number): string {
  const name = `${topic}/${partition}/${offset}/${index}`;
  const room = 16 + name.length * 3 + 72;
  if (input.length < room) {
    input = Buffer.alloc(room * 2);
    NAMESPACE_BYTES.copy(input, 0);
  }
  const length = 16 + input.write(name, 16, 'utf8');
  const [h0, h1, h2, h3] = sha1(length);
  // Version 5 in the high nibble of byte 6, the RFC 4122 variant in the top bits of byte 8.
  const w1 = (h1 & 0xffff0fff) | 0x5000;
  const w2 = (h2 & 0x3fffffff) | 0x80000000;
  const a = hex32(h0);
  const b = hex32(w1);
  const c = hex32(w2);
  const d = hex32(h3);
  return `${a}-${b.slice(0, 4)}-${b.slice(4)}-${c.slice(0, 4)}-${c.slice(4)}${d}`;
}
