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
    const size = this.scores.length * 2;
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

  /** anonlink's order: score descending, then party of each side, then records; each pair once. */
  build(): CandidatePairs {
    const { scores, partyA, recordA, partyB, recordB } = this;
    const order = new Uint32Array(this.n);
    for (let i = 0; i < this.n; i++) order[i] = i;
    order.sort(
      (x, y) =>
        scores[y]! - scores[x]! ||
        partyA[x]! - partyA[y]! ||
        partyB[x]! - partyB[y]! ||
        recordA[x]! - recordA[y]! ||
        recordB[x]! - recordB[y]!,
    );
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
    const out = new CandidatePairs(
      new Float64Array(kept),
      new Uint8Array(kept),
      new Uint32Array(kept),
      new Uint8Array(kept),
      new Uint32Array(kept),
    );
    for (let k = 0; k < kept; k++) {
      const i = order[k]!;
      out.scores[k] = scores[i]!;
      out.partyA[k] = partyA[i]!;
      out.recordA[k] = recordA[i]!;
      out.partyB[k] = partyB[i]!;
      out.recordB[k] = recordB[i]!;
    }
    return out;
  }
}

/** The union of chunks' pairs in anonlink's order, each pair once. */
export function mergeCandidatePairs(lists: readonly CandidatePairs[]): CandidatePairs {
  const b = new CandidatePairsBuilder();
  for (const l of lists) b.append(l);
  return b.build();
}
