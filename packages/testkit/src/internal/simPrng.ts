/**
 * The simulator's one source of randomness: a small seeded PRNG (sfc32, seeded through a
 * string hash) with named sub-streams. `fork("shopper/17")` derives a stream from the parent's
 * seed and the label only, never from how much the parent has drawn, so a shopper behaves the
 * same whether the run has 10 users or 100, and shrinking a failing run keeps the survivors'
 * behaviour. Why not Effect's `Random`: the actors draw synchronously inside plain functions,
 * millions of times per `--seeds 1000`, and a sub-stream must be derivable by label.
 */

/** xmur3: a 32-bit string hash, used only to turn (seed, label) into sfc32 state. */
const hash = (text: string): (() => number) => {
  let h = 1779033703 ^ text.length
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 3432918353)
    h = (h << 13) | (h >>> 19)
  }
  return () => {
    h = Math.imul(h ^ (h >>> 16), 2246822507)
    h = Math.imul(h ^ (h >>> 13), 3266489909)
    h ^= h >>> 16
    return h >>> 0
  }
}

export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  private constructor(readonly key: string) {
    const next = hash(key)
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next()
    for (let i = 0; i < 12; i++) this.uint32()
  }

  /** The root stream of a seed. */
  static make(seed: number | string): Prng {
    return new Prng(`till-sim:${seed}`)
  }

  /** An independent stream named `label`, a function of this stream's key only. */
  fork(label: string): Prng {
    return new Prng(`${this.key}/${label}`)
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.uint32() / 4294967296
  }

  /** Uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1))
  }

  chance(p: number): boolean {
    return p > 0 && this.float() < p
  }

  pick<A>(items: ReadonlyArray<A>): A {
    if (items.length === 0) throw new RangeError("Prng.pick of an empty array")
    return items[Math.floor(this.float() * items.length)]!
  }

  /** An index drawn by cumulative weights (ascending, last = total). */
  weighted(cumulative: ReadonlyArray<number>): number {
    const total = cumulative[cumulative.length - 1] ?? 0
    const x = this.float() * total
    let lo = 0
    let hi = cumulative.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cumulative[mid]! > x) hi = mid
      else lo = mid + 1
    }
    return lo
  }

  /** Exponentially distributed with this mean (think times, gaps between arrivals). */
  exponential(mean: number): number {
    return -Math.log(1 - this.float()) * mean
  }

  /** A seed for a component that takes its own seed (ids, the fake gateway). */
  seed(): number {
    return this.uint32()
  }
}

/** Cumulative Zipf weights of `n` ranks with exponent `skew` (0 = uniform). */
export const zipf = (n: number, skew: number): ReadonlyArray<number> => {
  const cumulative: Array<number> = []
  let total = 0
  for (let rank = 1; rank <= n; rank++) {
    total += 1 / rank ** skew
    cumulative.push(total)
  }
  return cumulative
}
