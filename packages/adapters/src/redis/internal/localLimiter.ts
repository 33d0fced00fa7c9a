/**
 * The rate-limit store's stand-in while Redis is unreachable: the same sliding-window log
 * (RateLimitStore.ts) kept in this process, bounded by `maxKeys`. Each `acquire` prunes, decides
 * and records in one synchronous block, so it is exact among this process's callers.
 *
 * It only ever sees this instance's requests and starts empty when Redis goes away, so while
 * degraded a key gets at most `limit` per window per instance (plus what Redis admitted in the
 * window before the outage). `limitDivisor` narrows that: with it set to the number of instances,
 * each instance admits `ceil(limit / limitDivisor)`, and an evenly spread client gets about `limit`.
 *
 * When `maxKeys` keys are held, keys with no unit left to keep go first, then the least
 * recently used key: a forgotten key starts afresh (at most one more window's worth for that
 * subject), which is the price of bounded memory during an outage of unknown length.
 */
import { RateLimitStore } from "@till/core"

interface Log {
  /** Admission times, one per unit, ascending. */
  readonly timesMs: Array<number>
  windowMs: number
}

export interface LocalLimiter {
  readonly acquire: (request: RateLimitStore.AcquireRequest) => RateLimitStore.Decision
  /** Keys held (for tests and gauges). */
  readonly size: () => number
}

export const make = (maxKeys: number, limitDivisor: number): LocalLimiter => {
  const logs = new Map<string, Log>()

  const purgeIdle = (nowMs: number) => {
    for (const [key, log] of logs) {
      if (RateLimitStore.keepsNothing(log.timesMs, nowMs, log.windowMs)) logs.delete(key)
    }
  }

  const logOf = (key: string, windowMs: number, nowMs: number): Log => {
    const found = logs.get(key)
    if (found !== undefined) {
      // Map order is insertion order: moving the key to the end keeps the first key the least recently used.
      logs.delete(key)
      logs.set(key, found)
      found.windowMs = windowMs
      return found
    }
    if (logs.size >= maxKeys) purgeIdle(nowMs)
    if (logs.size >= maxKeys) logs.delete(logs.keys().next().value!)
    const log: Log = { timesMs: [], windowMs }
    logs.set(key, log)
    return log
  }

  const acquire = (request: RateLimitStore.AcquireRequest): RateLimitStore.Decision => {
    const { key, windowMs, nowMs } = request
    const limit = Math.max(1, Math.ceil(request.limit / limitDivisor))
    const cost = Math.min(request.cost, limit)
    return RateLimitStore.decideOnLog(logOf(key, windowMs, nowMs).timesMs, limit, cost, windowMs, nowMs)
  }

  return { acquire, size: () => logs.size }
}
