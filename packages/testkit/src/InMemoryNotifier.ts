/**
 * The Notifier port in memory: records every notification in send order. `Inspector` reads
 * the record; `Control` takes the mail provider down. Keeps about the newest `maxRetained`.
 */
import { Errors, Notifier } from "@till/core"
import { Context, Effect, Layer } from "effect"
import * as Recorder from "./internal/recorder.js"

export interface Options {
  readonly maxRetained?: number
}

export const defaultMaxRetained = 100_000

export class Inspector extends Context.Service<
  Inspector,
  {
    /** Notifications sent so far, oldest first. */
    readonly sent: Effect.Effect<ReadonlyArray<Notifier.Notification>>
    readonly clear: Effect.Effect<void>
  }
>()("@till/testkit/InMemoryNotifier/Inspector") {}

export class Control extends Context.Service<
  Control,
  {
    /** While true every notify fails `GatewayUnavailable` and records nothing. */
    readonly setUnavailable: (unavailable: boolean) => Effect.Effect<void>
  }
>()("@till/testkit/InMemoryNotifier/Control") {}

export const make = (
  options: Options = {}
): Effect.Effect<Notifier.Notifier["Service"] & Inspector["Service"] & Control["Service"]> =>
  Effect.sync(() => {
    const recorder = Recorder.make<Notifier.Notification, Errors.GatewayUnavailable>(
      options.maxRetained ?? defaultMaxRetained,
      () => new Errors.GatewayUnavailable({ reason: "notifier unavailable (injected)" })
    )
    return {
      notify: (notification) => recorder.record([notification]),
      sent: recorder.items,
      clear: recorder.clear,
      setUnavailable: recorder.setUnavailable
    }
  })

const context = (options: Options) =>
  Layer.effectContext(
    Effect.map(make(options), (notifier) =>
      Context.make(Notifier.Notifier, notifier).pipe(
        Context.add(Inspector, notifier),
        Context.add(Control, notifier)
      )
    )
  )

/** Provides `Notifier`, its `Inspector` and `Control` (one recorder behind all three). */
export const layer: Layer.Layer<Notifier.Notifier | Inspector | Control> = context({})

export const layerWith = (options: Options): Layer.Layer<Notifier.Notifier | Inspector | Control> =>
  context(options)
