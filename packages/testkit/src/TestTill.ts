/**
 * One call wires Till's core services on every in-memory port:
 *
 * ```ts
 * const program = Effect.gen(function* () {
 *   const checkout = yield* Checkout.Checkout
 *   ...
 * }).pipe(Effect.provide(TestTill.layer({ seed: 42 })))
 * ```
 *
 * The ports stay in the output, so a test can reach the stores, the fake gateway's
 * `Control` (faults) and `Inspector` (money that moved), and the published events.
 * All ids come from `seed`; all time from Effect's `Clock` (use `TestClock`).
 *
 * Every layer made here is a new world each time it is provided or built: Effect 4 shares
 * built layers between `Effect.provide` calls of one run (and the in-memory stores are
 * module-level layers), so `layer`, `ports` and `services` each build with a memo map of their
 * own (`Layer.fresh`). Two worlds in one test share nothing, even the same layer value provided
 * inside itself, and a process the simulator restarts gets new services.
 */
import {
  type CartStore,
  Catalog,
  Checkout,
  type DeadLetterStore,
  type Errors,
  type EventPublisher,
  type IdempotencyStore,
  Ids,
  InventoryStore,
  Money,
  type Notifier,
  type OrderStore,
  type PaymentGateway,
  type PaymentRetryQueue,
  type RateLimitStore,
  type ShippingQuoter,
  Sku,
  type TaxCalculator,
  Till
} from "@till/core"
import { Effect, Layer } from "effect"
import * as FakePaymentGateway from "./FakePaymentGateway.js"
import * as InMemoryCartStore from "./InMemoryCartStore.js"
import * as InMemoryCatalog from "./InMemoryCatalog.js"
import * as InMemoryDeadLetterStore from "./InMemoryDeadLetterStore.js"
import * as InMemoryEventPublisher from "./InMemoryEventPublisher.js"
import * as InMemoryIdempotencyStore from "./InMemoryIdempotencyStore.js"
import * as InMemoryInventoryStore from "./InMemoryInventoryStore.js"
import * as InMemoryNotifier from "./InMemoryNotifier.js"
import * as InMemoryOrderStore from "./InMemoryOrderStore.js"
import * as InMemoryPaymentRetryQueue from "./InMemoryPaymentRetryQueue.js"
import * as InMemoryRateLimitStore from "./InMemoryRateLimitStore.js"
import * as InMemoryShippingQuoter from "./InMemoryShippingQuoter.js"
import * as InMemoryTaxCalculator from "./InMemoryTaxCalculator.js"

export interface Options {
  /** Seed of ids and of the fake gateway's random faults. */
  readonly seed?: number | string
  readonly checkout?: Partial<Checkout.Config>
  readonly gateway?: Omit<FakePaymentGateway.Options, "seed">
  /** Replaces the inventory store (e.g. the simulator's planted bug). */
  readonly inventoryStore?: Layer.Layer<
    InventoryStore.InventoryStore | InMemoryInventoryStore.Inspector | InMemoryInventoryStore.Stock
  >
  /** Replaces the order store, built over the inventory store's `Stock` tables (e.g. a slow one). */
  readonly orderStore?: Layer.Layer<
    OrderStore.OrderStore | InMemoryOrderStore.Inspector,
    never,
    InMemoryInventoryStore.Stock
  >
  /** Replaces the idempotency store (the simulator's planted bug, a store that hangs). */
  readonly idempotencyStore?: Layer.Layer<
    IdempotencyStore.IdempotencyStore | InMemoryIdempotencyStore.Inspector
  >
  /** Replaces the rate-limit store (e.g. the simulator's planted bug). */
  readonly rateLimitStore?: Layer.Layer<RateLimitStore.RateLimitStore>
  /** Replaces the cart store (e.g. one that hangs). */
  readonly cartStore?: Layer.Layer<CartStore.CartStore>
}

/** What `ports` provides: every port, and the test handles of the fake gateway, stock, orders and events. */
export type Ports =
  | Catalog.Catalog
  | CartStore.CartStore
  | InventoryStore.InventoryStore
  | InMemoryInventoryStore.Inspector
  | OrderStore.OrderStore
  | InMemoryOrderStore.Inspector
  | IdempotencyStore.IdempotencyStore
  | InMemoryIdempotencyStore.Inspector
  | ShippingQuoter.ShippingQuoter
  | InMemoryShippingQuoter.Control
  | TaxCalculator.TaxCalculator
  | EventPublisher.EventPublisher
  | InMemoryEventPublisher.Inspector
  | InMemoryEventPublisher.Control
  | Notifier.Notifier
  | InMemoryNotifier.Inspector
  | InMemoryNotifier.Control
  | PaymentGateway.PaymentGateway
  | FakePaymentGateway.Inspector
  | FakePaymentGateway.Control
  | RateLimitStore.RateLimitStore
  | PaymentRetryQueue.PaymentRetryQueue
  | InMemoryPaymentRetryQueue.Inspector
  | DeadLetterStore.DeadLetterStore
  | Ids.Ids

/** What `layer` provides: the core services on top of `Ports` (`Till.Services`). */
export type Services = Till.Services

/** Every in-memory port, with the fake gateway's Control and Inspector. */
export const ports = (options: Options = {}): Layer.Layer<Ports> => {
  const seed = options.seed ?? 0
  return Layer.fresh(
    Layer.mergeAll(
      InMemoryCatalog.layer,
      options.cartStore ?? InMemoryCartStore.layer,
      // One set of stock tables behind both ports: order steps move the stock they hold.
      (options.orderStore ?? InMemoryOrderStore.layer).pipe(
        Layer.provideMerge(options.inventoryStore ?? InMemoryInventoryStore.layer)
      ),
      options.idempotencyStore ?? InMemoryIdempotencyStore.layer,
      InMemoryShippingQuoter.layer,
      InMemoryTaxCalculator.layer,
      InMemoryEventPublisher.layer,
      InMemoryNotifier.layer,
      FakePaymentGateway.layerWith({ ...options.gateway, seed }),
      options.rateLimitStore ?? InMemoryRateLimitStore.layer,
      InMemoryPaymentRetryQueue.layer,
      InMemoryDeadLetterStore.layer,
      Ids.layerSeeded(seed)
    )
  )
}

/** The core services of one process (`Till.layerWith`), needing the ports (the simulator rebuilds them on a crash). */
export const services = (
  config: Partial<Checkout.Config> = Checkout.defaults
): Layer.Layer<Services, never, Ports> => Layer.fresh(Till.layerWith({ checkout: config }))

/** Core services over `ports`, with the ports kept in the output. */
export const layer = (options: Options = {}): Layer.Layer<Services | Ports> =>
  // Fresh as a whole too: the composition is itself memoized, so the same value provided inside
  // itself would otherwise answer the outer world.
  Layer.fresh(
    services({ ...Checkout.defaults, ...options.checkout }).pipe(Layer.provideMerge(ports(options)))
  )

/** Adds a product to the catalog with `onHand` units in stock. */
export const stock = (
  sku: string,
  name: string,
  priceMinor: number,
  onHand: number,
  currency = "USD"
): Effect.Effect<
  InventoryStore.StockLevel,
  Errors.OutOfStock | Errors.StoreUnavailable,
  Catalog.Catalog | InventoryStore.InventoryStore
> =>
  Effect.gen(function* () {
    const catalog = yield* Catalog.Catalog
    const inventory = yield* InventoryStore.InventoryStore
    const id = Sku.make(sku)
    yield* catalog.upsert(new Catalog.Product({ sku: id, name, price: Money.make(priceMinor, currency) }))
    return yield* inventory.setOnHand(id, onHand)
  })
