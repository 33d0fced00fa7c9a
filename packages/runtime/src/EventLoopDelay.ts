/**
 * How late the event loop runs, as two gauges: the p99 and the max of its delay over each window
 * (5 s), in ms, from Node's `monitorEventLoopDelay` (a timer every 20 ms, measured against when it
 * was due). A loop that stalls (a long synchronous step, a garbage collector pause, a burst of
 * work) delays every request in flight at once: the tail latency no store call explains shows
 * here first. A window with no sample (the process suspended) publishes nothing.
 */
import { Effect, Layer, Metric, Schedule } from "effect"
import { monitorEventLoopDelay } from "node:perf_hooks"

export const p99 = Metric.gauge("till_event_loop_delay_p99_ms", {
  description: "99th percentile of the event loop's delay over the last window (5 s), ms"
})

export const max = Metric.gauge("till_event_loop_delay_max_ms", {
  description: "Longest event loop delay in the last window (5 s), ms"
})

/** Samples the loop for the life of the layer, publishing both gauges every `windowMs`. */
export const layer = (windowMs = 5_000): Layer.Layer<never> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const histogram = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const made = monitorEventLoopDelay({ resolution: 20 })
          made.enable()
          return made
        }),
        (made) => Effect.sync(() => made.disable())
      )
      const publish = Effect.suspend(() => {
        if (histogram.count === 0) return Effect.void
        // The histogram is in nanoseconds.
        const window = { p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6 }
        histogram.reset()
        return Effect.andThen(Metric.update(p99, window.p99), Metric.update(max, window.max))
      })
      yield* Effect.forkScoped(Effect.repeat(publish, Schedule.spaced(windowMs)))
    })
  )
