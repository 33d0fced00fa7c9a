/**
 * What moves the runtime's degradation level (core's Degradation.ts, DESIGN.md §4) by itself: with
 * nothing feeding it the level stayed 0 whatever happened, so order history was never shed while
 * the payment gateway was down and new orders were never refused at once while the inventory's
 * breaker was open. Two sources, each lowering only its own contribution when it recovers:
 *
 * - **breakers**: every transition of every breaker (the policies' and the stores'), each
 *   subscribed when the layer is built so none is missed (a stream subscribes only once its fiber
 *   runs): payment open -> 2, shipping -> 3, inventory or order creation -> 4;
 * - **the Postgres pool** (when configured): its saturation every second, 70 % -> 1 ... 97 % -> 4
 *   (Ports.ts feeds it, where the pool is).
 *
 * Not fed: the checkouts' own latency. It includes the payment gateway's (about a second in the
 * seed's case), so a p99 threshold of 1 s would shed order history whenever the gateway is merely
 * slow; a slow gateway is the payment breaker's slow-call rule, and Till's own stress shows in the
 * pool first.
 */
import { Degradation, Policy, Resilience } from "@till/core"
import { Effect, Layer, PubSub } from "effect"

const followBreakers = Effect.gen(function* () {
  const resilience = yield* Resilience.Resilience
  const degradation = yield* Degradation.Degradation
  const breakers = [
    ...Policy.names.map((name) => resilience.breaker(name)),
    ...Resilience.storeNames.map((store) => resilience.storeBreaker(store))
  ]
  for (const breaker of breakers) {
    const transitions = yield* breaker.subscribe
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.flatMap(PubSub.take(transitions), (t) =>
          degradation.signal({ _tag: "BreakerState", breaker: t.breaker, state: t.to })
        )
      )
    )
  }
})

/** The breakers' feed, as fibers of the layer's scope. */
export const layer: Layer.Layer<never, never, Degradation.Degradation | Resilience.Resilience> =
  Layer.effectDiscard(followBreakers)
