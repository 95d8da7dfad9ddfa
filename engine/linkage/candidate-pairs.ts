/**
 * Candidate pairs in columns (score, party and record of each side), as
 * anonlink keeps them: 18 bytes a pair instead of a ~80-byte object, which is
 * what lets 6 × 1M records' millions of pairs fit beside their CLKs.
 */

/** One candidate pair; partyA < partyB. */
export interface PartyPair {
  partyA: number;
  recordA: number;
  partyB: number;
  recordB: number;
  score: number;
}

export class CandidatePairs {
  constructor(
    readonly scores: Float64Array,
    readonly partyA: Uint8Array,
    readonly recordA: Uint32Array,
    readonly partyB: Uint8Array,
    readonly recordB: Uint32Array,
  ) {}

  get length(): number {
    return this.scores.length;
  }

  at(i: number): PartyPair {
    return {
      partyA: this.partyA[i]!,
      recordA: this.recordA[i]!,
      partyB: this.partyB[i]!,
      recordB: this.recordB[i]!,
      score: this.scores[i]!,
    };
  }

  toArray(): PartyPair[] {
    return Array.from({ length: this.length }, (_, i) => this.at(i));
  }

  static from(pairs: readonly PartyPair[]): CandidatePairs {
    const b = new CandidatePairsBuilder();
    for (const p of pairs) b.push(p.partyA, p.recordA, p.partyB, p.recordB, p.score);
    return b.build();
  }
}

/** Collects pairs in any order; build() sorts them into anonlink's order and drops repeats. */
export class CandidatePairsBuilder {
  private n = 0;
  private scores = new Float64Array(1024);
  private partyA = new Uint8Array(1024);
  private recordA = new Uint32Array(1024);
  private partyB = new Uint8Array(1024);
  private recordB = new Uint32Array(1024);

  get length(): number {
    return this.n;
  }

  push(partyA: number, recordA: number, partyB: number, recordB: number, score: number): void {
    if (this.n === this.scores.length) this.grow();
    const i = this.n++;
    this.scores[i] = score;
    this.partyA[i] = partyA;
    this.recordA[i] = recordA;
    this.partyB[i] = partyB;
    this.recordB[i] = recordB;
  }

  append(pairs: CandidatePairs): void {
    for (let i = 0; i < pairs.length; i++) {
      this.push(pairs.partyA[i]!, pairs.recordA[i]!, pairs.partyB[i]!, pairs.recordB[i]!, pairs.scores[i]!);
    }
  }

  private grow(): void {
    const size = Math.max(1024, this.scores.length * 2);
    const grown = <T extends Float64Array | Uint8Array | Uint32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.scores = grown(this.scores);
    this.partyA = grown(this.partyA);
    this.recordA = grown(this.recordA);
    this.partyB = grown(this.partyB);
    this.recordB = grown(this.recordB);
  }

  /** True when pair x comes before pair y in anonlink's order: score descending, then parties, then records. */
  private before(x: number, y: number): boolean {
    const { scores, partyA, recordA, partyB, recordB } = this;
    const d =
      scores[y]! - scores[x]! ||
      partyA[x]! - partyA[y]! ||
      partyB[x]! - partyB[y]! ||
      recordA[x]! - recordA[y]! ||
      recordB[x]! - recordB[y]!;
    return d < 0;
  }

  /**
   * The indices of the pairs in anonlink's order, by a bottom-up merge sort with one scratch array. V8's
   * TypedArray sort with a comparator copies the array into two tagged arrays of 8 bytes an element: for
   * 6.4M pairs (6 × 1M records) 102 MiB, where the scratch here is 25 MiB.
   */
  private sortedOrder(): Uint32Array {
    const n = this.n;
    let from = new Uint32Array(n);
    for (let i = 0; i < n; i++) from[i] = i;
    let to = new Uint32Array(n);
    for (let width = 1; width < n; width *= 2) {
      for (let lo = 0; lo < n; lo += 2 * width) {
        const mid = Math.min(lo + width, n);
        const hi = Math.min(lo + 2 * width, n);
        let i = lo;
        let j = mid;
        let k = lo;
        while (i < mid && j < hi) to[k++] = this.before(from[j]!, from[i]!) ? from[j++]! : from[i++]!;
        while (i < mid) to[k++] = from[i++]!;
        while (j < hi) to[k++] = from[j++]!;
      }
      [from, to] = [to, from];
    }
    return from;
  }

  /**
   * anonlink's order: score descending, then party of each side, then records; each pair once. Columns are
   * made one at a time and the builder's own released as each is done, so that at most one extra column
   * is held beside the builder's (it is empty afterwards).
   */
  build(): CandidatePairs {
    const order = this.sortedOrder();
    const { partyA, recordA, partyB, recordB } = this;
    let kept = 0;
    for (let k = 0; k < order.length; k++) {
      const i = order[k]!;
      const j = kept > 0 ? order[kept - 1]! : -1;
      const repeat =
        j >= 0 &&
        partyA[i] === partyA[j] &&
        recordA[i] === recordA[j] &&
        partyB[i] === partyB[j] &&
        recordB[i] === recordB[j];
      if (!repeat) order[kept++] = i;
    }
    const column = <T extends Float64Array | Uint8Array | Uint32Array>(from: T): T => {
      const out = new (from.constructor as new (n: number) => T)(kept);
      for (let k = 0; k < kept; k++) out[k] = from[order[k]!]!;
      return out;
    };
    const scores = column(this.scores);
    this.scores = new Float64Array(0);
    const outPartyA = column(partyA);
    this.partyA = new Uint8Array(0);
    const outRecordA = column(recordA);
    this.recordA = new Uint32Array(0);
    const outPartyB = column(partyB);
    this.partyB = new Uint8Array(0);
    const outRecordB = column(recordB);
    this.recordB = new Uint32Array(0);
    this.n = 0;
    return new CandidatePairs(scores, outPartyA, outRecordA, outPartyB, outRecordB);
  }
}

/** The union of chunks' pairs in anonlink's order, each pair once. */
export function mergeCandidatePairs(lists: readonly CandidatePairs[]): CandidatePairs {
  const b = new CandidatePairsBuilder();
  for (const l of lists) b.append(l);
  return b.build();
}
