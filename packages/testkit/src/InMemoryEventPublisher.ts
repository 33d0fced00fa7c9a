/**
 * The EventPublisher port in memory: records every published event in publish order (at
 * least once, so a relay that republishes shows up as duplicates, as it would in Kafka).
 * `Inspector` reads the record; `Control` takes the "broker" down to exercise the relay's
 * retries. Keeps about the newest `maxRetained` events.
 */
import { Errors, type Event, EventPublisher } from "@till/core"
import { Context, Effect, Layer } from "effect"
import * as Recorder from "./internal/recorder.js"

export interface Options {
  readonly maxRetained?: number
}

export const defaultMaxRetained = 1_000_000

export class Inspector extends Context.Service<
  Inspector,
  {
    /** Events published so far, oldest first (duplicates included). */
    readonly published: Effect.Effect<ReadonlyArray<Event.Event>>
    readonly clear: Effect.Effect<void>
  }
>()("@till/testkit/InMemoryEventPublisher/Inspector") {}

export class Control extends Context.Service<
  Control,
  {
    /** While true every publish fails `StoreUnavailable` and records nothing. */
    readonly setUnavailable: (unavailable: boolean) => Effect.Effect<void>
  }
>()("@till/testkit/InMemoryEventPublisher/Control") {}

export const make = (
  options: Options = {}
): Effect.Effect<EventPublisher.EventPublisher["Service"] & Inspector["Service"] & Control["Service"]> =>
  Effect.sync(() => {
    const recorder = Recorder.make<Event.Event, Errors.StoreUnavailable>(
      options.maxRetained ?? defaultMaxRetained,
      () => new Errors.StoreUnavailable({ store: "events", reason: "broker unavailable (injected)" })
    )
    return {
      publish: (events) => recorder.record(events),
      published: recorder.items,
      clear: recorder.clear,
      setUnavailable: recorder.setUnavailable
    }
  })

const context = (options: Options) =>
  Layer.effectContext(
    Effect.map(make(options), (publisher) =>
      Context.make(EventPublisher.EventPublisher, publisher).pipe(
        Context.add(Inspector, publisher),
        Context.add(Control, publisher)
      )
    )
  )

/** Provides `EventPublisher`, its `Inspector` and `Control` (one recorder behind all three). */
export const layer: Layer.Layer<EventPublisher.EventPublisher | Inspector | Control> = context({})

export const layerWith = (
  options: Options
): Layer.Layer<EventPublisher.EventPublisher | Inspector | Control> => context(options)
