/**
 * The RateLimitStore port in memory: a sliding-window log per key (RateLimitStore.ts). Each
 * `acquire` prunes, decides and records inside one synchronous block, which is what makes it
 * exact under any number of concurrent callers (JavaScript runs the block to completion; no
 * other fiber can read the key between the decision and the write).
 *
 * `makeGetThenSet` is the seed's limiter, kept as a PLANTED BUG for the simulator's self-check:
 * it reads the count, yields, and then writes, so concurrent requests all read the same count and
 * far more than the limit get through. Never use it for anything else.
 */
import { Effect, Layer } from "effect"
import { type Errors, RateLimitStore } from "@till/core"
import { full, requireCapacity } from "./internal/limits.js"

export interface Options {
  /** Most keys held; keys that keep no unit (`RateLimitStore.keepsNothing`) are purged before refusing one. */
  readonly maxKeys?: number
}

export const defaultMaxKeys = 1_000_000

interface Log {
  /** Admission times, one per unit, ascending. */
  readonly timesMs: Array<number>
  windowMs: number
}

type Store = RateLimitStore.RateLimitStore["Service"]

export const make = (options: Options = {}): Effect.Effect<Store> =>
  Effect.sync(() => {
    const maxKeys = requireCapacity("maxKeys", options.maxKeys ?? defaultMaxKeys)
    const logs = new Map<string, Log>()

    const purgeIdle = (nowMs: number) => {
      for (const [key, log] of logs) {
        if (RateLimitStore.keepsNothing(log.timesMs, nowMs, log.windowMs)) logs.delete(key)
      }
    }

    const acquire = (request: RateLimitStore.AcquireRequest) =>
      Effect.suspend((): Effect.Effect<RateLimitStore.Decision, Errors.StoreUnavailable> => {
        const invalid = RateLimitStore.invalidReason(request)
        if (invalid !== undefined) return Effect.die(new Error(`RateLimitStore.acquire: ${invalid}`))
        const { key, limit, windowMs, cost, nowMs } = request
        let log = logs.get(key)
        if (log === undefined) {
          if (logs.size >= maxKeys) {
            purgeIdle(nowMs)
            if (logs.size >= maxKeys) return full("rate-limit", maxKeys)
          }
          log = { timesMs: [], windowMs }
          logs.set(key, log)
        }
        log.windowMs = windowMs
        return Effect.succeed(RateLimitStore.decideOnLog(log.timesMs, limit, cost, windowMs, nowMs))
      })

    return RateLimitStore.RateLimitStore.of({ acquire })
  })

export const layer: Layer.Layer<RateLimitStore.RateLimitStore> = Layer.effect(
  RateLimitStore.RateLimitStore,
  make()
)

export const layerWith = (options: Options): Layer.Layer<RateLimitStore.RateLimitStore> =>
  Layer.effect(RateLimitStore.RateLimitStore, make(options))

/**
 * PLANTED BUG: the seed's fixed-window limiter, GET then yield then SET. Under concurrency every
 * caller reads the same count before any writes, so it admits far more than `limit`.
 */
export const makeGetThenSet = (): Effect.Effect<Store> =>
  Effect.sync(() => {
    const counters = new Map<string, { readonly windowStartMs: number; readonly count: number }>()
    const acquire = (request: RateLimitStore.AcquireRequest) =>
      Effect.gen(function* () {
        const { key, limit, windowMs, cost, nowMs } = request
        const windowStartMs = nowMs - (nowMs % windowMs)
        const stored = counters.get(key) // GET
        const count = stored !== undefined && stored.windowStartMs === windowStartMs ? stored.count : 0
        yield* Effect.yieldNow // the round trip to the store, where other requests get in
        if (count + cost > limit) {
          return {
            allowed: false,
            remaining: Math.max(0, limit - count),
            retryAfterMs: windowStartMs + windowMs - nowMs
          }
        }
        counters.set(key, { windowStartMs, count: count + cost }) // SET
        return { allowed: true, remaining: limit - count - cost, retryAfterMs: 0 }
      })
    return RateLimitStore.RateLimitStore.of({ acquire })
  })

/** PLANTED BUG as a layer: see `makeGetThenSet`. */
export const layerGetThenSet: Layer.Layer<RateLimitStore.RateLimitStore> = Layer.effect(
  RateLimitStore.RateLimitStore,
  makeGetThenSet()
)
