/**
 * Port: an atomic rate-limit counter, one operation: `acquire`.
 *
 * Algorithm: a sliding-window log. A request of `cost` units at `nowMs` is admitted iff the units
 * admitted after `nowMs - windowMs` (later ones too: a caller whose call came first, or whose clock
 * is ahead) plus `cost` do not exceed `limit`; only admitted units are recorded. Why this one and
 * not GCRA or a fixed window:
 * - it is exact to the limit as stated: never more than `limit` units in *any* window of
 *   `windowMs`. A fixed window admits up to 2x at a boundary (`limit` at 0:59, `limit` at 1:01);
 *   GCRA admits a burst of `limit` and then one unit per `windowMs / limit`, so up to 2x-1 in a
 *   window too. "10 checkouts a minute" should mean 10.
 * - `retryAfterMs` is exact as well: the moment enough of the oldest units leave the window.
 * - its cost, one timestamp per admitted unit, is bounded by twice `limit` per key (units are kept
 *   a window longer than their own, `retainedAfter`), and Till's limits are small (checkout
 *   10/min, payment 5/min per user). For a limit of thousands per second a GCRA store (one
 *   number per key) would be the better port implementation, under this same port.
 *
 * Atomicity is the contract: concurrent `acquire`s on one key behave as if run one at a time, so
 * N simultaneous requests admit exactly `limit`. There is no read-then-write in the port; in
 * Redis it is one Lua script (ZSET of admitted times, score = time):
 *
 *   ZREMRANGEBYSCORE key -inf (now - 2 * window)
 *   used = ZCOUNT key (now - window) +inf
 *   if used + cost <= limit: ZADD cost members at score now; PEXPIRE key 2 * window; allowed
 *   else: retryAfter = (score of the window's (used + cost - limit)-th oldest) + window - now
 *
 * Time is the caller's `nowMs` (from Effect's `Clock`), not the store's: windows then follow
 * `TestClock`, and the same contract suite runs against the in-memory and the Redis store. Clock
 * skew between app instances shifts a window by the skew, no more, while it stays under a window;
 * so does a store call that arrives after a later one.
 */
import { Context, type Effect } from "effect"
import type { StoreUnavailable } from "./Errors.js"

/** Largest `limit` a store must honour: bounds the log of one key. */
export const MAX_LIMIT = 100_000
/** Longest window: a day. */
export const MAX_WINDOW_MS = 86_400_000

export interface AcquireRequest {
  /** One counter per key, e.g. `checkout:usr_123`. */
  readonly key: string
  /** Units admitted per window, 1..MAX_LIMIT. */
  readonly limit: number
  readonly windowMs: number
  /** Units this request takes, 1..limit (1 per request). */
  readonly cost: number
  /** The caller's clock, epoch milliseconds. */
  readonly nowMs: number
}

export interface Decision {
  readonly allowed: boolean
  /** Units left in the window after this decision. */
  readonly remaining: number
  /** 0 when allowed; otherwise the wait until `cost` units are free again (at least 1). */
  readonly retryAfterMs: number
}

export class RateLimitStore extends Context.Service<
  RateLimitStore,
  {
    /** Admits `cost` units or not, atomically; invalid requests (see `invalidReason`) are defects. */
    readonly acquire: (request: AcquireRequest) => Effect.Effect<Decision, StoreUnavailable>
  }
>()("@till/core/RateLimitStore") {}

/** Why a request breaks the port's preconditions, or undefined. Every store checks it first. */
export const invalidReason = (request: AcquireRequest): string | undefined => {
  if (request.key.length === 0 || request.key.length > 512) return "key must be 1..512 characters"
  if (!Number.isSafeInteger(request.limit) || request.limit < 1 || request.limit > MAX_LIMIT)
    return `limit must be an integer in 1..${MAX_LIMIT}`
  if (!Number.isSafeInteger(request.windowMs) || request.windowMs < 1 || request.windowMs > MAX_WINDOW_MS)
    return `windowMs must be an integer in 1..${MAX_WINDOW_MS}`
  if (!Number.isSafeInteger(request.cost) || request.cost < 1 || request.cost > request.limit)
    return "cost must be an integer in 1..limit"
  if (!Number.isSafeInteger(request.nowMs) || request.nowMs < 0) return "nowMs must be a non-negative integer"
  return undefined
}

/**
 * The algorithm above on one key's log held in memory (`timesMs`: admitted units' times, sorted;
 * changed in place): drops the units a window older than this request's window, counts those
 * inside it (later ones included), then admits `cost` units at `nowMs` or answers when enough of
 * the oldest leave. Shared by the stores that keep the log in a process (the testkit's, the Redis
 * adapter's fallback); the Redis store runs the same steps in Lua.
 */
export const decideOnLog = (
  timesMs: Array<number>,
  limit: number,
  cost: number,
  windowMs: number,
  nowMs: number
): Decision => {
  // Units admitted at or before the cutoff have left this request's window.
  const cutoffMs = nowMs - windowMs
  // They are dropped only a window later (`retainedAfter`): a request carrying an earlier time
  // still counts them in its own window.
  const stale = retainedAfter(nowMs, windowMs)
  let dropped = 0
  while (dropped < timesMs.length && timesMs[dropped]! <= stale) dropped++
  if (dropped > 0) timesMs.splice(0, dropped)
  let first = 0
  while (first < timesMs.length && timesMs[first]! <= cutoffMs) first++
  const used = timesMs.length - first
  if (used + cost <= limit) {
    // A caller whose clock is behind another's may record an earlier time: keep the log sorted.
    let at = timesMs.length
    while (at > 0 && timesMs[at - 1]! > nowMs) at--
    timesMs.splice(at, 0, ...Array.from({ length: cost }, () => nowMs))
    return { allowed: true, remaining: limit - used - cost, retryAfterMs: 0 }
  }
  // Free once the (used + cost - limit) oldest units of the window have left it.
  const blocking = timesMs[first + used + cost - limit - 1]!
  return {
    allowed: false,
    remaining: Math.max(0, limit - used),
    retryAfterMs: Math.max(1, blocking + windowMs - nowMs)
  }
}

/**
 * Units at or before this time can go from a key's log, a whole window before the cutoff of the
 * request at `nowMs`: a request whose time is up to a window behind (a slow store call, a process
 * whose clock is behind) still finds every unit of its own window. Dropping them at the cutoff of
 * the latest request let such a request miss units and admit more than the limit in one window
 * (the simulator's seed 22733). A key's log so holds at most twice the limit.
 */
export const retainedAfter = (nowMs: number, windowMs: number): number => nowMs - retentionMs(windowMs)

/** How long a unit is kept after its admission: two windows (`retainedAfter`); a key's time to live. */
export const retentionMs = (windowMs: number): number => 2 * windowMs

/**
 * Whether a key's log (`timesMs`, sorted) keeps no unit at `nowMs`, so the key can be forgotten:
 * what a store holding logs in memory purges first when it is full.
 */
export const keepsNothing = (timesMs: ReadonlyArray<number>, nowMs: number, windowMs: number): boolean => {
  const newest = timesMs[timesMs.length - 1]
  return newest === undefined || newest <= retainedAfter(nowMs, windowMs)
}
