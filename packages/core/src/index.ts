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
