/**
 * What moves the runtime's degradation level (core's Degradation.ts, DESIGN.md §4) by itself: with
 * nothing feeding it the level stayed 0 whatever happened, so order history was never shed while
 * the payment gateway was down and new orders were never refused at once while the inventory's
 * breaker was open. Two sources, each lowering only its own contribution when it recovers:
 *
 * - **breakers**: every breaker (the policies' and the stores'), each subscribed when the layer is
 *   built so no transition is missed: while one is open, for at most its wait in the open state
 *   (`followBreaker` says why), payment asks for 2, shipping 3, inventory or order creation 4;
 * - **the Postgres pool** (when configured): its saturation every second, 70 % -> 1 ... 97 % -> 4
 *   (Ports.ts feeds it, where the pool is).
 *
 * Not fed: the checkouts' own latency. It includes the payment gateway's (about a second in the
 * seed's case), so a p99 threshold of 1 s would shed order history whenever the gateway is merely
 * slow; a slow gateway is the payment breaker's slow-call rule, and Till's own stress shows in the
 * pool first.
 */
import { type CircuitBreaker, Degradation, Policy, Resilience } from "@till/core"
import { Effect, Layer, PubSub } from "effect"

/**
 * Follows one breaker: shed while it is open, for at most its wait in the open state. Shedding
 * what a breaker guards stops the calls that would probe it (shipping open sheds the live quotes,
 * so no quote reaches the shipping breaker; order creation or inventory open asks for new orders to
 * be shed), and an open breaker turns half-open only on a call after its wait: followed as it is,
 * the level would stay up for good once such a breaker opened (tested). So the level is lifted when
 * the wait ends and while the breaker is half-open; a failing probe opens it, and the shedding,
 * again.
 */
const followBreaker = (breaker: CircuitBreaker.Service, waitMs: number) =>
  Effect.gen(function* () {
    const degradation = yield* Degradation.Degradation
    const transitions = yield* breaker.subscribe // now, so no transition is missed
    let epoch = 0
    const signal = (name: string, state: CircuitBreaker.State) =>
      degradation.signal({ _tag: "BreakerState", breaker: name, state })
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.flatMap(PubSub.take(transitions), (t) => {
          const mine = ++epoch
          if (t.to !== "open") return signal(t.breaker, "closed")
          const lift = Effect.andThen(
            Effect.sleep(waitMs),
            Effect.suspend(() => (epoch === mine ? signal(t.breaker, "closed") : Effect.void))
          )
          return Effect.andThen(signal(t.breaker, "open"), Effect.forkScoped(lift))
        })
      )
    )
  })

const followBreakers = Effect.gen(function* () {
  const resilience = yield* Resilience.Resilience
  const waitOf = (policy: Policy.PolicyName) =>
    resilience.policies[policy].breaker?.waitDurationInOpenStateMs ?? 0
  for (const name of Policy.names) yield* followBreaker(resilience.breaker(name), waitOf(name))
  for (const store of Resilience.storeNames)
    yield* followBreaker(resilience.storeBreaker(store), waitOf("store"))
})

/** The breakers' feed, as fibers of the layer's scope. */
export const layer: Layer.Layer<never, never, Degradation.Degradation | Resilience.Resilience> =
  Layer.effectDiscard(followBreakers)
