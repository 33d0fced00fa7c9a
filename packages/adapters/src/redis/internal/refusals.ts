/**
 * Refusals known to hold, so a caller refused by Redis is refused again here, without a round
 * trip, until the answer could change: a client retrying after a 429 costs Redis nothing.
 *
 * Only refusals of a single unit (every request of Till's limits) are kept, and an answer comes
 * from here only for another single unit with the same limit and window. Such an answer is the
 * one Redis would give: refused at `nowMs`, the log held at least `limit` units, and the first
 * check to be admitted is the one after its blocking unit (rank `used - limit`) leaves, at
 * `until` = its time + the window = `nowMs + retryAfterMs`. Until then every instance is refused
 * too, so no unit is added, and the units that leave are older than the blocking one: it stays
 * the blocking unit, `remaining` stays 0 and the wait is `until - now` (for an earlier `now` as
 * well: the log then holds more of the oldest units, the same blocking one). A larger cost needs
 * more units to leave, a different limit or window another rank: those go to Redis.
 *
 * What it cannot see: a key deleted by hand (or a Redis that lost its data) stays refused here
 * until `until`, at most one window. Bounded by `maxKeys`: when full, the refusal kept longest
 * goes first (forgetting one only costs a round trip).
 */
import type { RateLimitStore } from "@till/core"

interface Refusal {
  readonly limit: number
  readonly windowMs: number
  readonly until: number
}

export interface Refusals {
  /** Redis's answer to `request`, when a refusal kept here decides it. */
  readonly answer: (request: RateLimitStore.AcquireRequest) => RateLimitStore.Decision | undefined
  /** Keeps `decision` (Redis's answer to `request`) if it is a refusal that holds. */
  readonly remember: (request: RateLimitStore.AcquireRequest, decision: RateLimitStore.Decision) => void
  /** Refusals held (for tests). */
  readonly size: () => number
}

export const make = (maxKeys: number): Refusals => {
  const refusals = new Map<string, Refusal>()

  const answer = (request: RateLimitStore.AcquireRequest): RateLimitStore.Decision | undefined => {
    if (request.cost !== 1) return undefined
    const refusal = refusals.get(request.key)
    if (refusal === undefined) return undefined
    if (request.nowMs >= refusal.until) {
      refusals.delete(request.key)
      return undefined
    }
    return refusal.limit === request.limit && refusal.windowMs === request.windowMs
      ? { allowed: false, remaining: 0, retryAfterMs: refusal.until - request.nowMs }
      : undefined
  }

  const remember = (request: RateLimitStore.AcquireRequest, decision: RateLimitStore.Decision) => {
    if (maxKeys === 0 || decision.allowed || request.cost !== 1) return
    // Re-inserted, so the map's first key is always the refusal kept longest.
    refusals.delete(request.key)
    if (refusals.size >= maxKeys) refusals.delete(refusals.keys().next().value!)
    refusals.set(request.key, {
      limit: request.limit,
      windowMs: request.windowMs,
      until: request.nowMs + decision.retryAfterMs
    })
  }

  return { answer, remember, size: () => refusals.size }
}
