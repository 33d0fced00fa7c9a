/**
 * The EventPublisher port in memory: records every published event in publish order (at
 * least once, so a relay that republishes shows up as duplicates, as it would in Kafka).
 * `Inspector` reads the record; `Control` takes the "broker" down to exercise the relay's
 * retries. Keeps about the newest `maxRetained` events. `consume` is a consumer over the record,
 * with the Kafka adapter's semantics (at least once, retried, deduplicated by event id).
 */
import { Errors, type Event, EventPublisher } from "@till/core"
import { Context, Effect, Layer, type Scope } from "effect"
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

/**
 * A consumer of the recorded events, from the oldest retained on, as the Kafka adapter's
 * `Consumer` runs one: each event goes to `handle` in record order; a failure is retried (every
 * `pollMs`) before any later event, so nothing is lost or reordered; an event id `handle` already
 * applied for `name` is skipped, so a republished event is applied once. Runs until the scope
 * closes.
 * @example yield* InMemoryEventPublisher.consume("mailer", (event) => send(event))
 */
export const consume = <R>(
  name: string,
  handle: (event: Event.Event) => Effect.Effect<unknown, unknown, R>,
  options: { readonly pollMs?: number; readonly maxApplied?: number } = {}
): Effect.Effect<void, never, Inspector | R | Scope.Scope> =>
  Effect.gen(function* () {
    const inspector = yield* Inspector
    const maxApplied = options.maxApplied ?? 1_000_000
    const applied = new Set<string>()
    let cursor = 0
    const step = Effect.gen(function* () {
      const events = yield* inspector.published
      while (cursor < events.length) {
        const event = events[cursor]!
        if (!applied.has(event.event_id)) {
          yield* handle(event)
          if (applied.size >= maxApplied) applied.delete(applied.values().next().value!)
          applied.add(event.event_id)
        }
        cursor++
      }
    })
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.andThen(
          Effect.catchCause(step, () => Effect.void),
          Effect.sleep(options.pollMs ?? 5)
        )
      )
    )
  }).pipe(Effect.annotateLogs({ consumer: name }))
