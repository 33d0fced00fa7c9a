/**
 * The simulation's random choices, from one seed so that a run's shoppers, SKUs and cards replay:
 * a small PRNG (mulberry32) and a Zipf-like choice of SKU, where the k-th SKU (1-based) is chosen
 * with weight 1 / k^skew: skew 0 is uniform, skew 1 makes the first SKU of 50 about 22% of the
 * orders (the hot SKU of a sale), higher skews concentrate further.
 */

/** A uniform number in [0, 1) on each call. */
export type Random = () => number

/** mulberry32: small, fast, and good enough to spread shoppers (not for secrets). */
export const random = (seed: number): Random => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** The index (0-based) of a SKU among `count`, with Zipf-like weights 1 / (index + 1)^skew. */
export const zipf = (count: number, skew: number): ((random: Random) => number) => {
  const cumulative: Array<number> = []
  let total = 0
  for (let k = 1; k <= count; k++) {
    total += 1 / k ** skew
    cumulative.push(total)
  }
  return (random) => {
    const target = random() * total
    let low = 0
    let high = count - 1
    while (low < high) {
      const middle = (low + high) >>> 1
      if (cumulative[middle]! > target) high = middle
      else low = middle + 1
    }
    return low
  }
}

/** The share of draws each SKU index gets (what the report shows as the skew's effect). */
export const zipfShares = (count: number, skew: number): ReadonlyArray<number> => {
  const weights = Array.from({ length: count }, (_, k) => 1 / (k + 1) ** skew)
  const total = weights.reduce((a, b) => a + b, 0)
  return weights.map((w) => w / total)
}
