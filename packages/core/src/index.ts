/**
 * @till/core — Till's checkout domain, services, ports and resilience, on Effect.
 * Every module is a namespace: `Money.add`, `Checkout.Checkout`, `OrderStore.OrderStore`.
 */
export const version = "0.1.0"

// Domain
export * as Address from "./Address.js"
export * as Cart from "./Cart.js"
export * as Errors from "./Errors.js"
export * as Event from "./Event.js"
export * as Money from "./Money.js"
export * as Order from "./Order.js"
export * as PaymentMethod from "./PaymentMethod.js"
export * as Sku from "./Sku.js"

// Ports
export * as CartStore from "./CartStore.js"
export * as Catalog from "./Catalog.js"
export * as EventPublisher from "./EventPublisher.js"
export * as IdempotencyStore from "./IdempotencyStore.js"
export * as Ids from "./Ids.js"
export * as InventoryStore from "./InventoryStore.js"
export * as Notifier from "./Notifier.js"
export * as OrderStore from "./OrderStore.js"
export * as PaymentGateway from "./PaymentGateway.js"
export * as ShippingQuoter from "./ShippingQuoter.js"
export * as TaxCalculator from "./TaxCalculator.js"

// Services
export * as Abandonment from "./Abandonment.js"
export * as Carts from "./Carts.js"
export * as Checkout from "./Checkout.js"
export * as Idempotency from "./Idempotency.js"
export * as Inventory from "./Inventory.js"
export * as Outbox from "./Outbox.js"
export * as PromiseClient from "./PromiseClient.js"
export * as Payments from "./Payments.js"
export * as Pricing from "./Pricing.js"
export * as Reconciliation from "./Reconciliation.js"
export * as Recovery from "./Recovery.js"
export * as Till from "./Till.js"

// Resilience
export * as CircuitBreaker from "./CircuitBreaker.js"
export * as DeadLetterStore from "./DeadLetterStore.js"
export * as PaymentRetryQueue from "./PaymentRetryQueue.js"
export * as Policy from "./Policy.js"
export * as RateLimiter from "./RateLimiter.js"
export * as RateLimitStore from "./RateLimitStore.js"
export * as Resilience from "./Resilience.js"
export * as RetryDrainer from "./RetryDrainer.js"
export * as Degradation from "./Degradation.js"
