/**
 * Till in two layers, for a product team that wants checkout without learning its internals:
 *
 * - `layer` wires every core service (Checkout, Carts, Pricing, Inventory, Payments, Idempotency,
 *   RateLimiter, Resilience) from the ports (`Ports`): provide it your stores and gateway
 *   (the Postgres/Redis adapters, or `@till/testkit`'s in-memory ports).
 * - `layerJobs` starts the background work as scoped fibers: the payment retry drainer (which
 *   completes a 202's payment once the gateway is back), the recovery sweeper (which drives any
 *   order a crash left behind), the outbox relay (which publishes events) and the cart-abandonment
 *   job (hourly: `cart.abandoned` for carts idle for an hour) and the payment reconciliation
 *   (every minute: each capture the gateway made is checked against its order; a stray one is
 *   refunded). They stop with the layer's scope.
 *   Every job is safe to run on every instance at once (claims and compare-and-set steps), so
 *   each instance may run them.
 *
 * ```ts
 * const TillLive = Till.layerJobs.pipe(Layer.provideMerge(Till.layer), Layer.provideMerge(ports))
 * ```
 *
 * Layers take one form in every service module: `layer` (defaults), `layerWith(settings)`
 * (settings in code), `layerConfig(config?)` (settings from Effect `Config`).
 */
import { type Config as EffectConfig, Effect, Layer, Schedule } from "effect"
import * as Abandonment from "./Abandonment.js"
import * as Carts from "./Carts.js"
import type { Catalog } from "./Catalog.js"
import type { CartStore } from "./CartStore.js"
import * as Checkout from "./Checkout.js"
import type { DeadLetterStore } from "./DeadLetterStore.js"
import type { EventPublisher } from "./EventPublisher.js"
import * as Idempotency from "./Idempotency.js"
import type { IdempotencyStore } from "./IdempotencyStore.js"
import type { Ids } from "./Ids.js"
import * as Inventory from "./Inventory.js"
import type { InventoryStore } from "./InventoryStore.js"
import type { OrderStore } from "./OrderStore.js"
import * as Outbox from "./Outbox.js"
import type { PaymentGateway } from "./PaymentGateway.js"
import type { PaymentRetryQueue } from "./PaymentRetryQueue.js"
import * as Payments from "./Payments.js"
import type * as Policy from "./Policy.js"
import * as Pricing from "./Pricing.js"
import * as RateLimiter from "./RateLimiter.js"
import * as Reconciliation from "./Reconciliation.js"
import type { RateLimitStore } from "./RateLimitStore.js"
import * as Recovery from "./Recovery.js"
import * as Resilience from "./Resilience.js"
import * as RetryDrainer from "./RetryDrainer.js"
import type { ShippingQuoter } from "./ShippingQuoter.js"
import type { TaxCalculator } from "./TaxCalculator.js"

/** The ports the core services need. */
export type Ports =
  | CartStore
  | Catalog
  | Ids
  | IdempotencyStore
  | InventoryStore
  | OrderStore
  | PaymentGateway
  | PaymentRetryQueue
  | RateLimitStore
  | ShippingQuoter
  | TaxCalculator

/** What `layer` provides. */
export type Services =
  | Checkout.Checkout
  | Carts.Carts
  | Pricing.Pricing
  | Inventory.Inventory
  | Payments.Payments
  | Idempotency.Idempotency
  | RateLimiter.RateLimiter
  | Resilience.Resilience

/** Settings of each service, each part defaulting to that module's `defaults`. */
export interface Settings {
  readonly checkout?: Partial<Checkout.Config> | undefined
  readonly carts?: Partial<Carts.Config> | undefined
  readonly idempotency?: Partial<Idempotency.Config> | undefined
  readonly pricing?: Partial<Pricing.Config> | undefined
  readonly rateLimits?: Partial<RateLimiter.Limits> | undefined
  readonly policies?: Partial<Policy.Policies> | undefined
}

/** One service layer each, wired together: the shared part of `layer`, `layerWith`, `layerConfig`. */
const wire = <E>(parts: {
  readonly checkout: Layer.Layer<Checkout.Checkout, E, Checkout.Requirements>
  readonly carts: Layer.Layer<Carts.Carts, E, Carts.Requirements>
  readonly idempotency: Layer.Layer<Idempotency.Idempotency, E, Idempotency.Requirements>
  readonly pricing: Layer.Layer<Pricing.Pricing, E, Pricing.Requirements>
  readonly rateLimiter: Layer.Layer<RateLimiter.RateLimiter, E, RateLimiter.Requirements>
  readonly resilience: Layer.Layer<Resilience.Resilience, E>
}): Layer.Layer<Services, E, Ports> =>
  parts.checkout.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        parts.carts,
        parts.pricing,
        Inventory.layer,
        Payments.layer,
        parts.idempotency,
        parts.rateLimiter
      )
    ),
    Layer.provideMerge(parts.resilience)
  )

/**
 * Every core service with its default settings, from the ports.
 * @category layers
 */
export const layer: Layer.Layer<Services, never, Ports> = wire({
  checkout: Checkout.layer,
  carts: Carts.layer,
  idempotency: Idempotency.layer,
  pricing: Pricing.layer,
  rateLimiter: RateLimiter.layer,
  resilience: Resilience.layer
})

/**
 * Every core service with settings given in code (each module's `layerWith`).
 * @example Till.layerWith({ checkout: { holdMs: 5 * 60_000 }, rateLimits: { checkout: { limit: 20, windowMs: 60_000 } } })
 * @category layers
 */
export const layerWith = (settings: Settings): Layer.Layer<Services, never, Ports> =>
  wire({
    checkout: Checkout.layerWith(settings.checkout ?? {}),
    carts: Carts.layerWith(settings.carts ?? {}),
    idempotency: Idempotency.layerWith(settings.idempotency ?? {}),
    pricing: Pricing.layerWith(settings.pricing ?? {}),
    rateLimiter: RateLimiter.layerWith(settings.rateLimits ?? {}),
    resilience: Resilience.layerWith(settings.policies ?? {})
  })

/**
 * Every core service with settings read from Effect `Config` (each module's `layerConfig`, keys
 * `checkout.*`, `carts.*`, `idempotency.*`, `rateLimits.*`, `resilience.*`); an invalid value
 * fails at startup with a `ConfigError` naming its key.
 * @category layers
 */
export const layerConfig: Layer.Layer<Services, EffectConfig.ConfigError, Ports> = wire({
  checkout: Checkout.layerConfig(),
  carts: Carts.layerConfig(),
  idempotency: Idempotency.layerConfig(),
  pricing: Pricing.layer,
  rateLimiter: RateLimiter.layerConfig(),
  resilience: Resilience.layerConfig()
})

/** How often each background job runs. */
export interface JobSettings {
  /** The retry drainer's settings (poll interval, backoff, dead-lettering). */
  readonly retryDrainer: RetryDrainer.Settings
  /** Pause between two recovery sweeps. */
  readonly recoveryEveryMs: number
  readonly recovery: Partial<Recovery.Options>
  /** Pause between two outbox relay drains. */
  readonly outboxEveryMs: number
  /** The cart-abandonment job: idle threshold, pause between rounds (both an hour by default). */
  readonly abandonment: Partial<Abandonment.Settings>
  /** Pause between two reconciliation runs (each reads up to `pagesPerRun` pages of captures). */
  readonly reconciliationEveryMs: number
  readonly reconciliation: Partial<Reconciliation.Options>
}

export const jobDefaults: JobSettings = {
  retryDrainer: RetryDrainer.defaults,
  recoveryEveryMs: 30_000,
  recovery: {},
  outboxEveryMs: 200,
  abandonment: {},
  reconciliationEveryMs: 60_000,
  reconciliation: {}
}

/**
 * What the jobs need: the checkout (to resume orders), payments (the gateway's captures, for the
 * reconciliation), the stores they work through, the publisher.
 */
export type JobRequirements =
  | Checkout.Checkout
  | Payments.Payments
  | CartStore
  | OrderStore
  | PaymentRetryQueue
  | DeadLetterStore
  | EventPublisher
  | Resilience.Resilience

/**
 * Each background job as an effect that runs until interrupted, by name: what `layerJobsWith`
 * forks, and what a runtime registers as cluster singletons (one instance runs each).
 */
export const jobs = (
  settings: Partial<JobSettings> = {}
): Readonly<
  Record<
    "retryDrainer" | "recovery" | "outboxRelay" | "abandonment" | "reconciliation",
    Effect.Effect<void, never, JobRequirements>
  >
> => {
  const s = { ...jobDefaults, ...settings }
  return {
    retryDrainer: Effect.flatMap(Checkout.Checkout, (checkout) =>
      RetryDrainer.run((orderId) => checkout.resume(orderId), s.retryDrainer)
    ),
    recovery: Recovery.runEvery(Schedule.spaced(s.recoveryEveryMs), s.recovery),
    outboxRelay: Outbox.runEvery(Schedule.spaced(s.outboxEveryMs)),
    abandonment: Abandonment.run(s.abandonment),
    reconciliation: Reconciliation.runEvery(Schedule.spaced(s.reconciliationEveryMs), s.reconciliation)
  }
}

/**
 * The background jobs with settings given in code, each defaulting to `jobDefaults`.
 * @category layers
 */
export const layerJobsWith = (
  settings: Partial<JobSettings> = {}
): Layer.Layer<never, never, JobRequirements> =>
  Layer.effectDiscard(Effect.forEach(Object.values(jobs(settings)), (job) => Effect.forkScoped(job)))

/**
 * The background jobs (retry drainer, recovery sweeper, outbox relay, cart abandonment, payment
 * reconciliation) as fibers of the layer's scope, with the default settings: a payment queued
 * with a 202 completes by itself once the gateway answers again.
 * @category layers
 */
export const layerJobs: Layer.Layer<never, never, JobRequirements> = layerJobsWith()
