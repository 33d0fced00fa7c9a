/**
 * What the in-memory "sending" ports (EventPublisher, Notifier) share: a bounded record of
 * what was sent, and a switch that takes the far side down (every send fails, nothing is
 * recorded).
 */
import { Effect } from "effect"
import { requireCapacity } from "./limits.js"
import * as Retained from "./retained.js"

export interface Recorder<A, E> {
  readonly record: (items: Iterable<A>) => Effect.Effect<void, E>
  readonly items: Effect.Effect<ReadonlyArray<A>>
  readonly clear: Effect.Effect<void>
  readonly setUnavailable: (unavailable: boolean) => Effect.Effect<void>
}

export const make = <A, E>(maxRetained: number, unavailableError: () => E): Recorder<A, E> => {
  const log = Retained.make<A>(requireCapacity("maxRetained", maxRetained))
  let unavailable = false
  return {
    record: (items) =>
      Effect.suspend(() => {
        if (unavailable) return Effect.fail(unavailableError())
        log.append(items)
        return Effect.void
      }),
    items: Effect.sync(log.items),
    clear: Effect.sync(log.clear),
    setUnavailable: (value) =>
      Effect.sync(() => {
        unavailable = value
      })
  }
}
