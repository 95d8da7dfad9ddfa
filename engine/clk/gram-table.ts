/**
 * An open-addressing hash table from a 32-bit gram key to a number, for the
 * encoder's token cache on its hot path. A unigram's key is its UTF-16 unit,
 * a bigram's is (first << 16 | second) >>> 0, so looking a token up builds
 * no string and allocates nothing (a Map<string, number> needed the gram's
 * string and a hash of it per token: with 60 tokens a FEBRL record, that and
 * its garbage were most of the encoding time; bench/encoding.ts).
 * Keys are stored as key + 1 in a Float64Array, so 0 marks an empty slot.
 */
export class GramTable {
  private keys: Float64Array;
  private values: Float64Array;
  private mask: number;
  /** 32 - log2(slots): a slot is the top bits of a Fibonacci hash (the low bits of key * odd mix poorly). */
  private shift: number;
  size = 0;

  constructor(capacity = 256) {
    const slots = 1 << Math.ceil(Math.log2(Math.max(16, capacity * 2)));
    this.keys = new Float64Array(slots);
    this.values = new Float64Array(slots);
    this.mask = slots - 1;
    this.shift = 32 - Math.log2(slots);
  }

  /** The value stored for `key` (0 ≤ key < 2^32), or -1. Stored values are never negative. */
  get(key: number): number {
    const keys = this.keys;
    const mask = this.mask;
    const stored = key + 1;
    let i = Math.imul(key | 0, 0x9e3779b1) >>> this.shift;
    for (;;) {
      i &= mask;
      const k = keys[i]!;
      if (k === stored) return this.values[i]!;
      if (k === 0) return -1;
      i++;
    }
  }

  /** Stores `value` (≥ 0) for `key`, replacing what was stored for it. */
  set(key: number, value: number): void {
    const keys = this.keys;
    const stored = key + 1;
    let i = Math.imul(key | 0, 0x9e3779b1) >>> this.shift;
    for (;;) {
      i &= this.mask;
      const k = keys[i]!;
      if (k === stored) {
        this.values[i] = value;
        return;
      }
      if (k === 0) break;
      i++;
    }
    if ((this.size + 1) * 2 > keys.length) {
      this.grow();
      this.insert(stored, value);
    } else {
      keys[i] = stored;
      this.values[i] = value;
    }
    this.size++;
  }

  clear(): void {
    if (this.size === 0) return;
    this.keys.fill(0);
    this.size = 0;
  }

  private insert(stored: number, value: number): void {
    const keys = this.keys;
    const mask = this.mask;
    let i = Math.imul((stored - 1) | 0, 0x9e3779b1) >>> this.shift;
    for (;;) {
      i &= mask;
      if (keys[i] === 0) {
        keys[i] = stored;
        this.values[i] = value;
        return;
      }
      i++;
    }
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.keys = new Float64Array(oldKeys.length * 2);
    this.values = new Float64Array(oldKeys.length * 2);
    this.mask = this.keys.length - 1;
    this.shift--;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== 0) this.insert(oldKeys[i]!, oldValues[i]!);
  }
}
