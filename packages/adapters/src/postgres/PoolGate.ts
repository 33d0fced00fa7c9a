/**
 * The front door of the connection pool: every store call of Till's holds one of
 * `maxConnections` permits while it runs, so the gate knows what the pool cannot tell
 * (`@effect/sql-pg`'s pool keeps its counts to itself): how many connections are in use, how many
 * callers wait, and how long.
 *
 * - **Saturation** (`saturation`, and the gauges `till_db_pool_in_use`, `till_db_pool_waiting`
 *   and the histogram `till_db_pool_wait_ms`): for dashboards, and for `Degradation` through
 *   `degradationSignal`.
 * - **Exhaustion breaker.** The pool counts as exhausted while callers queue and none has been
 *   served for `exhaustedAfterMs` (5 s): a stuck database, not a busy one. A busy pool serves
 *   its queue every few milliseconds and never trips it, however long the queue; what trips it
 *   is a queue that does not move, even when the waiters themselves give up and come back (the
 *   `store` policy's 2 s timeout and retries would otherwise hide exhaustion for ever). Then the breaker opens for `openMs`: a call that finds a free connection still runs,
 *   one that would queue fails at once (`PoolExhausted`, which the stores answer as
 *   `StoreUnavailable`: a 503 at the HTTP edge) instead of piling up behind a database that
 *   does not answer. How long one caller waits is its own business (the `store` policy's
 *   timeout); how long a connection is held, the server's `statement_timeout`.
 *
 * A call made while the fiber holds a permit already (a store method calling another) runs on
 * that permit: two permits per fiber could deadlock a full pool. The gate knows by the fiber's id,
 * not by a service provided in the fiber's context around the statement, as it first did: in the
 * Postgres bench that gate cost ~250 µs of Node CPU a checkout (bypassed: 782-843 µs, on:
 * 1,036-1,175), though `guard` alone measures 2 µs a call, so the context change made Effect pay
 * across the whole statement underneath; the id-based gate measured 896-1,218 µs (noisy). A fiber
 * forked inside a guarded call takes a permit of its own (no store does that).
 *
 * Everything in the pool should pass the gate: other users of the same pool (the migrator, a
 * hand-written query) are invisible to it, so its counts are then a lower bound.
 */
import { Clock, Context, Effect, Metric, Schema } from "effect"
import type { Degradation } from "@till/core"

export class PoolExhausted extends Schema.TaggedError<PoolExhausted>()("PoolExhausted", {
  /** How long callers had waited with none served. */
  stalledMs: Schema.Number,
  maxConnections: Schema.Number,
  waiting: Schema.Number
}) {
  override get message(): string {
    return `connection pool exhausted: all ${this.maxConnections} connections busy, ${this.waiting} waiting, none served for ${Math.round(this.stalledMs)} ms`
  }
}

export interface Saturation {
  readonly inUse: number
  readonly maxConnections: number
  readonly waiting: number
  /** `inUse / maxConnections` in percent. */
  readonly utilizationPercent: number
  /** How long callers have waited with none served (0 with nobody waiting). */
  readonly stalledMs: number
  readonly breaker: "closed" | "open"
}

export interface Settings {
  readonly maxConnections: number
  /** Queue stalled this long: the pool is exhausted, the breaker opens. */
  readonly exhaustedAfterMs: number
  /** How long the breaker stays open before callers may queue again. */
  readonly openMs: number
}

export interface PoolGate {
  /** Runs `self` on a permit (or on the one its fiber holds already). */
  readonly guard: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | PoolExhausted, R>
  readonly saturation: Effect.Effect<Saturation>
  /**
   * Sets the gauges `till_db_pool_in_use` and `till_db_pool_waiting` (PgLayer does every second:
   * per statement they would cost more than the rest of the gate).
   */
  readonly publishMetrics: Effect.Effect<void>
}

interface Waiter {
  resume: (() => void) | undefined
  woken: boolean
}

/** @category services */
export const PoolGate = Context.Service<PoolGate>("@till/adapters/postgres/PoolGate")

export const inUseGauge = Metric.gauge("till_db_pool_in_use", {
  description: "Postgres connections in use by Till's stores"
})
export const waitingGauge = Metric.gauge("till_db_pool_waiting", {
  description: "Store calls waiting for a Postgres connection"
})
export const waitHistogram = Metric.histogram("till_db_pool_wait_ms", {
  description: "Wait for a Postgres connection, ms",
  boundaries: [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000]
})

/** A gate of `settings.maxConnections` permits. */
export const make = (settings: Settings): Effect.Effect<PoolGate> =>
  Effect.gen(function* () {
    const clock = yield* Clock.Clock
    const now = () => clock.currentTimeMillisUnsafe()
    const max = settings.maxConnections
    /** The ids of the fibers holding a permit: one each (a nested call runs on its fiber's). */
    const holders = new Set<number>()
    const inUse = () => holders.size
    /** The callers waiting, first come first served; the head is woken when a permit frees. */
    const queue: Array<Waiter> = []
    /** Since when callers have waited with none served; kept when waiters give up, reset by service. */
    let stalledSince: number | undefined
    let openUntil = Number.NEGATIVE_INFINITY

    const stalledMs = (at: number) => (stalledSince === undefined ? 0 : at - stalledSince)

    /**
     * Wakes the head of the queue when a permit is free. A wake hands nothing over: the woken
     * fiber takes the permit itself when it runs (or, interrupted meanwhile, wakes the next), as
     * Effect's Semaphore does, so no permit is lost between a wake and an interruption.
     */
    const wakeHead = () => {
      const head = queue[0]
      if (head === undefined || head.woken || inUse() >= max) return
      head.woken = true
      const resume = head.resume
      head.resume = undefined
      resume?.()
    }
    const leave = (waiter: Waiter) => {
      const i = queue.indexOf(waiter)
      if (i >= 0) queue.splice(i, 1)
      wakeHead()
    }
    const take = (fiberId: number) => {
      holders.add(fiberId)
      // Someone was served: the queue moves, so a stall (if callers still wait) starts now.
      stalledSince = queue.length > 0 ? now() : undefined
    }
    const release = (fiberId: number) =>
      Effect.sync(() => {
        holders.delete(fiberId)
        if (queue.length === 0) stalledSince = undefined
        wakeHead()
      })

    /** `self` on a permit taken at once: the common case, kept to a counter and a finalizer. */
    const runNow = <A, E, R>(self: Effect.Effect<A, E, R>, fiberId: number) =>
      Effect.uninterruptibleMask((restore) => {
        take(fiberId)
        return Effect.ensuring(restore(self), release(fiberId))
      })

    /** `self` after waiting its turn in the queue. */
    const runQueued = <A, E, R>(self: Effect.Effect<A, E, R>, at: number, fiberId: number) =>
      Effect.uninterruptibleMask((restore) => {
        const waiter: Waiter = { resume: undefined, woken: false }
        queue.push(waiter)
        stalledSince ??= at
        const wait = Effect.callback<void>((resume) => {
          if (waiter.woken) resume(Effect.void)
          else waiter.resume = () => resume(Effect.void)
          // Given up (interrupted): leave the queue, keep the stall running, pass a wake on.
          return Effect.sync(() => leave(waiter))
        })
        const turn: Effect.Effect<void> = Effect.suspend(() => {
          if (queue[0] === waiter && inUse() < max) {
            queue.shift()
            take(fiberId)
            wakeHead()
            // Only waits are observed: an immediate permit is the in-use gauge's business.
            return Metric.update(waitHistogram, now() - at)
          }
          waiter.woken = false
          return Effect.andThen(restore(wait), turn)
        })
        return Effect.andThen(turn, Effect.ensuring(restore(self), release(fiberId)))
      })

    const guard = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | PoolExhausted, R> =>
      Effect.withFiber((fiber): Effect.Effect<A, E | PoolExhausted, R> => {
        if (holders.has(fiber.id)) return self
        if (inUse() < max && queue.length === 0) return runNow(self, fiber.id)
        const at = now()
        if (stalledMs(at) >= settings.exhaustedAfterMs) openUntil = at + settings.openMs
        if (at < openUntil)
          return Effect.fail(
            new PoolExhausted({ stalledMs: stalledMs(at), maxConnections: max, waiting: queue.length })
          )
        return runQueued(self, at, fiber.id)
      })

    const publishMetrics = Effect.suspend(() =>
      Effect.andThen(Metric.update(inUseGauge, inUse()), Metric.update(waitingGauge, queue.length))
    )

    const saturation = Effect.sync((): Saturation => {
      const at = now()
      return {
        inUse: inUse(),
        maxConnections: max,
        waiting: queue.length,
        utilizationPercent: (inUse() / max) * 100,
        stalledMs: stalledMs(at),
        breaker: at < openUntil ? "open" : "closed"
      }
    })

    return PoolGate.of({ guard, saturation, publishMetrics })
  })

/**
 * The pool's signal for `Degradation` (feed it on a schedule beside the service).
 * @example yield* Effect.repeat(Effect.flatMap(PoolGate.degradationSignal("postgres"), degradation.signal), Schedule.spaced("1 second"))
 */
export const degradationSignal = (
  pool: string
): Effect.Effect<Extract<Degradation.Signal, { readonly _tag: "PoolSaturation" }>, never, PoolGate> =>
  Effect.map(
    Effect.flatMap(PoolGate, (gate) => gate.saturation),
    (s): Extract<Degradation.Signal, { readonly _tag: "PoolSaturation" }> => ({
      _tag: "PoolSaturation",
      pool,
      // Callers queueing for a connection is more than full: say so, whatever the in-use count.
      utilizationPercent: s.waiting > 0 ? 100 : s.utilizationPercent
    })
  )
