/**
 * String -> non-negative integer, open addressing: the encoder's value cache
 * index (raw value -> its entry in the feature's slab). Looking up a value
 * just read from a CSV in a Map<string, number> cost ~40% of encoding a
 * FEBRL record once value caching paid (profiled on 200k records); hashing
 * the value here (FNV-1a over UTF-16 units) and comparing it only on a hash
 * match is 2-3 times faster. Keys are record values: the table lives in the
 * encoder's memory only and is dropped with it.
 */
export class ValueTable {
  private keys: (string | undefined)[];
  /** The key's hash, never 0 (0 marks an empty slot). */
  private hashes: Int32Array;
  private values: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1024) {
    const slots = 1 << Math.ceil(Math.log2(Math.max(16, capacity * 2)));
    this.keys = new Array(slots);
    this.hashes = new Int32Array(slots);
    this.values = new Int32Array(slots);
    this.mask = slots - 1;
  }

  private static hash(key: string): number {
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    return h | 1;
  }

  /** The value stored for `key`, or -1. */
  get(key: string): number {
    const h = ValueTable.hash(key);
    const hashes = this.hashes;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const x = hashes[i]!;
      if (x === 0) return -1;
      if (x === h && this.keys[i] === key) return this.values[i]!;
    }
  }

  /** Stores `value` (0 ≤ value < 2^31) for `key`, which must not be present. */
  add(key: string, value: number): void {
    if ((this.size + 1) * 2 > this.hashes.length) this.grow();
    this.insert(ValueTable.hash(key), key, value);
    this.size++;
  }

  clear(): void {
    if (this.size === 0) return;
    this.hashes.fill(0);
    this.keys.fill(undefined);
    this.size = 0;
  }

  private insert(h: number, key: string, value: number): void {
    const mask = this.mask;
    let i = h & mask;
    while (this.hashes[i] !== 0) i = (i + 1) & mask;
    this.hashes[i] = h;
    this.keys[i] = key;
    this.values[i] = value;
  }

  private grow(): void {
    const { keys, hashes, values } = this;
    const slots = hashes.length * 2;
    this.keys = new Array(slots);
    this.hashes = new Int32Array(slots);
    this.values = new Int32Array(slots);
    this.mask = slots - 1;
    for (let i = 0; i < hashes.length; i++) if (hashes[i] !== 0) this.insert(hashes[i]!, keys[i]!, values[i]!);
  }
}
