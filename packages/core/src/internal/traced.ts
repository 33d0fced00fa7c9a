/**
 * `Effect.withSpan(name)` for Till's hot paths, skipped when the tracer is disabled.
 *
 * Effect's `withSpan` does its work even under `Effect.withTracerEnabled(false)`: it captures a
 * stack trace and builds a no-op span, about 10 µs per span on this class of machine, and a
 * checkout opens a dozen. Here, a disabled tracer costs one fiber-ref read. With the tracer on
 * (Effect's default), the span is exactly `Effect.withSpan`'s, minus the captured call site.
 */
import { Effect, FiberRef } from "effect"

export const traced =
  (name: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withFiberRuntime((fiber) =>
      fiber.getFiberRef(FiberRef.currentTracerEnabled)
        ? Effect.withSpan(effect, name, { captureStackTrace: false })
        : effect
    )
