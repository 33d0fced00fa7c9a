/**
 * What moves the runtime's degradation level (core's Degradation.ts, DESIGN.md §4) by itself: with
 * nothing feeding it the level stayed 0 whatever happened, so order history was never shed while
 * the payment gateway was down and new orders were never refused at once while the inventory's
 * breaker was open. Two sources, each lowering only its own contribution when it recovers:
 *
 * - **breakers**: every breaker (the policies' and the stores'), through core's
 *   `Degradation.followBreaker`: while one is open, for at most its wait in the open state (it says
 *   why), payment asks for 2, shipping 3, inventory or order creation 4;
 * - **the Postgres pool** (when configured): its mean load over 5 s, 80 % -> 1, 95 % -> 2, never
 *   more (Ports.ts feeds it, where the pool is; Start.ts sets the thresholds).
 *
 * Not fed: the checkouts' own latency. It includes the payment gateway's (about a second in the
 * seed's case), so a p99 threshold of 1 s would shed order history whenever the gateway is merely
 * slow; a slow gateway is the payment breaker's slow-call rule, and Till's own stress shows in the
 * pool first.
 */
import { Degradation, Policy, Resilience } from "@till/core"
import { Effect, Layer } from "effect"

const followBreakers = Effect.gen(function* () {
  const resilience = yield* Resilience.Resilience
  const waitOf = (policy: Policy.PolicyName) =>
    resilience.policies[policy].breaker?.waitDurationInOpenStateMs ?? 0
  for (const name of Policy.names) yield* Degradation.followBreaker(resilience.breaker(name), waitOf(name))
  for (const store of Resilience.storeNames)
    yield* Degradation.followBreaker(resilience.storeBreaker(store), waitOf("store"))
})

/** The breakers' feed, as fibers of the layer's scope. */
export const layer: Layer.Layer<never, never, Degradation.Degradation | Resilience.Resilience> =
  Layer.effectDiscard(followBreakers)
