/**
 * The claims of a loaded version, one entry per record, held as distinct values plus one small index per
 * record. Claims are a few booleans and codes (over_18, license_class, …), so millions of records share a
 * handful of distinct values: 10M records take the index (1–4 bytes each) instead of 10M objects (~60 bytes
 * each, docs/decisions.md, "Big datasets"). Distinct values are frozen, since every record with that value
 * returns the same object.
 */
import type { Claims } from './store.js';

/** What answers read claims through: a plain array is one too. */
export interface ClaimList {
  readonly length: number;
  at(index: number): Claims | undefined;
}

/** Claims appended in record order, then frozen into a ClaimColumn. */
export class ClaimColumnBuilder {
  private readonly values: Claims[] = [];
  private readonly byKey = new Map<string, number>();
  private index: Uint8Array | Uint16Array | Uint32Array;
  private count = 0;

  constructor(expected = 1024) {
    this.index = new Uint8Array(Math.max(16, expected));
  }

  get length(): number {
    return this.count;
  }

  push(claims: Claims | undefined): void {
    // JSON text is the identity of a value: jsonb hands keys back in one order, and uploads are checked
    // to be plain JSON objects (server/datasets/upload.ts).
    const key = claims == null ? 'null' : JSON.stringify(claims);
    let id = this.byKey.get(key);
    if (id === undefined) {
      id = this.values.length;
      this.byKey.set(key, id);
      this.values.push(claims == null ? null : deepFreeze(structuredClone(claims)));
      if (id === 256 && this.index instanceof Uint8Array) this.widen(Uint16Array);
      else if (id === 65_536 && this.index instanceof Uint16Array) this.widen(Uint32Array);
    }
    if (this.count === this.index.length) {
      const grown = new (this.index.constructor as Uint32ArrayConstructor)(Math.ceil(this.index.length * 1.5));
      grown.set(this.index);
      this.index = grown;
    }
    this.index[this.count++] = id;
  }

  pushAll(claims: Iterable<Claims | undefined>): void {
    for (const c of claims) this.push(c);
  }

  finish(): ClaimColumn {
    return new ClaimColumn(this.values, this.index.slice(0, this.count));
  }

  private widen(type: Uint16ArrayConstructor | Uint32ArrayConstructor): void {
    const wider = new type(this.index.length);
    wider.set(this.index);
    this.index = wider;
  }
}

export class ClaimColumn implements ClaimList {
  constructor(
    /** Distinct values, frozen. */
    private readonly values: readonly Claims[],
    /** Per record: its value's position in `values`. */
    private readonly index: Uint8Array | Uint16Array | Uint32Array,
  ) {}

  static from(claims: readonly (Claims | undefined)[]): ClaimColumn {
    const b = new ClaimColumnBuilder(claims.length);
    b.pushAll(claims);
    return b.finish();
  }

  get length(): number {
    return this.index.length;
  }

  /** Distinct values held. */
  get distinct(): number {
    return this.values.length;
  }

  at(index: number): Claims | undefined {
    if (!Number.isInteger(index)) return undefined;
    const i = index < 0 ? index + this.index.length : index;
    if (i < 0 || i >= this.index.length) return undefined;
    return this.values[this.index[i]!];
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
