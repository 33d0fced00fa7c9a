/**
 * The event loop delay gauges: a loop blocked for 150 ms shows as a max of about that much in the
 * next window, and a quiet window after it shows far less (each window is measured afresh).
 */
import { it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { expect } from "vitest"
import * as EventLoopDelay from "../src/EventLoopDelay.js"

const gauge = (metric: typeof EventLoopDelay.max) => Effect.map(Metric.value(metric), (state) => state.value)

const blockFor = (ms: number) =>
  Effect.sync(() => {
    const until = performance.now() + ms
    while (performance.now() < until) {
      // the event loop stalls: no timer runs
    }
  })

/** The highest values the gauges showed while watched every 10 ms for `ms`. */
const watch = (ms: number) =>
  Effect.gen(function* () {
    const seen = { max: 0, p99: 0 }
    for (let waited = 0; waited < ms; waited += 10) {
      yield* Effect.sleep(10)
      seen.max = Math.max(seen.max, yield* gauge(EventLoopDelay.max))
      seen.p99 = Math.max(seen.p99, yield* gauge(EventLoopDelay.p99))
    }
    return seen
  })

it.live("a stalled loop shows in the window's max and p99, and a quiet window after it does not", () =>
  Effect.gen(function* () {
    yield* Effect.sleep(250) // a first window of samples
    yield* blockFor(150)
    const stalled = yield* watch(300) // the window holding the stall is published
    expect(stalled.max).toBeGreaterThanOrEqual(100)
    expect(stalled.p99).toBeGreaterThanOrEqual(100)
    yield* Effect.sleep(500) // quiet windows since
    expect(yield* gauge(EventLoopDelay.max)).toBeLessThan(100)
  }).pipe(Effect.provide(EventLoopDelay.layer(200)))
)
