/**
 * The simulation's numbers, one bucket per second since the first arrival: checkouts started and
 * shed, answers by status, their latencies, and the payment breaker, the carts' breaker and the
 * payment-queue depth as the admin routes showed them. Each started checkout ends in exactly one answer (the checkout's, or
 * that of the step before it that failed), counted in the second it came, so the totals are the
 * series' sums.
 */
import { quantile } from "../demo/Client.js"

/** The payment breaker as sampled; `unknown` when no sample answered in that second. */
export type Breaker = "closed" | "halfOpen" | "open" | "unknown"

/** A worse state wins the second: a breaker open for 100 ms of it shows as open. */
const severity: Record<Breaker, number> = { unknown: 0, closed: 1, halfOpen: 2, open: 3 }

/**
 * Honest answers: confirmed, queued, declined, out of stock, rate limited, and a 503 that says
 * when to come back (`retry_after` in its problem body, sent as `Retry-After` too: a store that
 * cannot be reached, as in a `redis-down` window). Anything else is an error: a 500 or another
 * 5xx, a 503 without `Retry-After`, a request cut off by a crash or the network (status 0), or a
 * 4xx that says the simulator sent something wrong.
 */
export const honest: ReadonlySet<number> = new Set([201, 202, 402, 409, 429])

/** Whether an answer of `status` with `body` is an error (see `honest`). */
export const isError = (status: number, body?: unknown): boolean =>
  !(honest.has(status) || (status === 503 && saysRetryAfter(body)))

const saysRetryAfter = (body: unknown): boolean =>
  typeof body === "object" &&
  body !== null &&
  "retry_after" in body &&
  typeof body.retry_after === "number" &&
  body.retry_after > 0

export interface Second {
  /** Seconds since the first arrival: this bucket is [second, second + 1). */
  readonly second: number
  readonly started: number
  /** Arrivals not started: too many checkouts already in flight (`Arrivals.maxInFlight`). */
  readonly shed: number
  /** Answers by status (`"0"`: cut off). */
  readonly answered: Readonly<Record<string, number>>
  readonly errors: number
  readonly latencyMsP50: number
  readonly latencyMsP99: number
  readonly breaker: Breaker
  /** The carts' breaker (`store.cart`, under core's `store` policy), as sampled. */
  readonly storeBreaker: Breaker
  /** The deepest payment queue sampled in the second (-1: no sample answered). */
  readonly paymentQueueDepth: number
}

export interface Totals {
  readonly started: number
  readonly shed: number
  readonly answered: Readonly<Record<string, number>>
  readonly answeredTotal: number
  /** Started and never answered (cut by the drain's end). */
  readonly unanswered: number
  readonly errors: number
  readonly latencyMsP50: number
  readonly latencyMsP99: number
  readonly paymentQueueDepthPeak: number
  /** Seconds in which the breaker was seen open. */
  readonly breakerOpenSeconds: number
  /** Seconds in which the carts' breaker was seen open. */
  readonly storeBreakerOpenSeconds: number
}

interface Bucket {
  started: number
  shed: number
  answered: Map<number, number>
  errors: number
  latenciesMs: Array<number>
  breaker: Breaker
  storeBreaker: Breaker
  depth: number
}

/** One sample of the admin routes. */
export interface Sample {
  readonly breaker: Breaker
  readonly storeBreaker: Breaker
  readonly depth: number
}

export interface Series {
  readonly t0Ms: number
  readonly started: (atMs: number) => void
  readonly shed: (atMs: number) => void
  /** An answer; `error` as `isError` judged it (the status alone cannot tell a 503's two kinds). */
  readonly answered: (atMs: number, status: number, latencyMs: number, error: boolean) => void
  readonly sampled: (atMs: number, sample: Sample) => void
  /** The last breakers' states and queue depth sampled. */
  readonly latest: () => Sample
  /** The `index`-th second so far (what the progress line shows each second). */
  readonly second: (index: number) => Second
  /** Answers by status and errors so far, without the quantiles' cost. */
  readonly answeredSoFar: () => {
    readonly answered: Readonly<Record<string, number>>
    readonly errors: number
  }
  readonly seconds: () => ReadonlyArray<Second>
  readonly totals: () => Totals
}

const byStatus = (counts: ReadonlyMap<number, number>): Record<string, number> =>
  Object.fromEntries([...counts.entries()].sort(([a], [b]) => a - b).map(([s, n]) => [String(s), n]))

const sum = (values: Iterable<number>) => {
  let total = 0
  for (const v of values) total += v
  return total
}

const round = (ms: number) => Math.round(ms * 10) / 10

/** A series whose second 0 starts at `t0Ms` (epoch ms). */
export const make = (t0Ms: number): Series => {
  const buckets: Array<Bucket> = []
  let latest: Sample = { breaker: "unknown", storeBreaker: "unknown", depth: 0 }
  const at = (atMs: number): Bucket => {
    const index = Math.max(0, Math.floor((atMs - t0Ms) / 1_000))
    for (let i = buckets.length; i <= index; i++)
      buckets.push({
        started: 0,
        shed: 0,
        answered: new Map(),
        errors: 0,
        latenciesMs: [],
        breaker: "unknown",
        storeBreaker: "unknown",
        depth: -1
      })
    return buckets[index]!
  }
  let errorsSoFar = 0
  const answeredSoFar = new Map<number, number>()
  const secondOf = (b: Bucket, second: number): Second => ({
    second,
    started: b.started,
    shed: b.shed,
    answered: byStatus(b.answered),
    errors: b.errors,
    latencyMsP50: round(quantile(b.latenciesMs, 0.5)),
    latencyMsP99: round(quantile(b.latenciesMs, 0.99)),
    breaker: b.breaker,
    storeBreaker: b.storeBreaker,
    paymentQueueDepth: b.depth
  })
  const seconds = (): ReadonlyArray<Second> => buckets.map(secondOf)
  return {
    t0Ms,
    started: (atMs) => void at(atMs).started++,
    shed: (atMs) => void at(atMs).shed++,
    answered: (atMs, status, latencyMs, error) => {
      const b = at(atMs)
      b.answered.set(status, (b.answered.get(status) ?? 0) + 1)
      b.latenciesMs.push(latencyMs)
      answeredSoFar.set(status, (answeredSoFar.get(status) ?? 0) + 1)
      if (error) {
        b.errors++
        errorsSoFar++
      }
    },
    sampled: (atMs, sample) => {
      const b = at(atMs)
      if (severity[sample.breaker] > severity[b.breaker]) b.breaker = sample.breaker
      if (severity[sample.storeBreaker] > severity[b.storeBreaker]) b.storeBreaker = sample.storeBreaker
      b.depth = Math.max(b.depth, sample.depth)
      latest = sample
    },
    latest: () => latest,
    second: (index) => secondOf(at(t0Ms + index * 1_000), index),
    answeredSoFar: () => ({ answered: byStatus(answeredSoFar), errors: errorsSoFar }),
    seconds,
    totals: () => {
      const all = new Map<number, number>()
      for (const b of buckets) for (const [s, n] of b.answered) all.set(s, (all.get(s) ?? 0) + n)
      const started = sum(buckets.map((b) => b.started))
      const answeredTotal = sum(all.values())
      const latencies = buckets.flatMap((b) => b.latenciesMs)
      return {
        started,
        shed: sum(buckets.map((b) => b.shed)),
        answered: byStatus(all),
        answeredTotal,
        unanswered: started - answeredTotal,
        errors: sum(buckets.map((b) => b.errors)),
        latencyMsP50: round(quantile(latencies, 0.5)),
        latencyMsP99: round(quantile(latencies, 0.99)),
        paymentQueueDepthPeak: Math.max(0, ...buckets.map((b) => b.depth)),
        breakerOpenSeconds: buckets.filter((b) => b.breaker === "open").length,
        storeBreakerOpenSeconds: buckets.filter((b) => b.storeBreaker === "open").length
      }
    }
  }
}
