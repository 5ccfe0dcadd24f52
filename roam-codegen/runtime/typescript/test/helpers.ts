// Small helpers shared by the tests: hex conversion and a seeded PRNG, so that property-style
// loops are reproducible (a failing seed can be replayed).

/** `"02 00 01"` → bytes. Whitespace is ignored. */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  if (clean.length % 2 !== 0) throw new Error(`odd hex length: ${hex}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Bytes → `"02 00 01"`. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** Bytes from plain numbers. */
export function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

/** mulberry32: tiny, fast, and good enough to pick test inputs. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform integer in `[0, n)`. */
  below(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n);
  }

  /** A random `bits`-bit unsigned bigint whose magnitude is spread over all widths. */
  bigUint(bits: number): bigint {
    let v = 0n;
    for (let i = 0; i < bits; i += 32) v = (v << 32n) | BigInt(this.u32());
    // Shift right by a random amount so small values (1-byte varints) are as common as big.
    return BigInt.asUintN(bits, v) >> BigInt(this.below(bits + 1));
  }

  /** A random signed bigint of `bits` bits, small and large magnitudes alike. */
  bigInt(bits: number): bigint {
    return BigInt.asIntN(bits, this.bigUint(bits)) * (this.below(2) === 0 ? 1n : -1n);
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A random string mixing ASCII, 2-, 3- and 4-byte UTF-8 characters. */
  string(maxChars: number): string {
    const n = this.below(maxChars + 1);
    let s = "";
    for (let i = 0; i < n; i++) {
      switch (this.below(4)) {
        case 0:
          s += String.fromCharCode(this.below(0x80));
          break;
        case 1:
          s += String.fromCharCode(0x80 + this.below(0x800 - 0x80));
          break;
        case 2: {
          // Skip the surrogate range: lone surrogates are not characters.
          const c = 0x800 + this.below(0x10000 - 0x800 - 0x800);
          s += String.fromCharCode(c >= 0xd800 ? c + 0x800 : c);
          break;
        }
        default:
          s += String.fromCodePoint(0x10000 + this.below(0x110000 - 0x10000));
      }
    }
    return s;
  }
}

/** Plain LEB128 of an unsigned bigint, written independently of the code under test. */
export function referenceVarint(v: bigint): Uint8Array {
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

/** Zigzag of a signed bigint by its definition (0, -1, 1, -2, … → 0, 1, 2, 3, …). */
export function referenceZigzag(v: bigint): bigint {
  return v >= 0n ? v * 2n : -v * 2n - 1n;
}
