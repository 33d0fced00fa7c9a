export const version = "0.1.0"

// In-memory ports (one module per port: `make`, `layer`, and `Inspector`/`Control` where tests need them)
export * as FakePaymentGateway from "./FakePaymentGateway.js"
export * as InMemoryCartStore from "./InMemoryCartStore.js"
export * as InMemoryCatalog from "./InMemoryCatalog.js"
export * as InMemoryEventPublisher from "./InMemoryEventPublisher.js"
export * as InMemoryIdempotencyStore from "./InMemoryIdempotencyStore.js"
export * as InMemoryInventoryStore from "./InMemoryInventoryStore.js"
export * as InMemoryNotifier from "./InMemoryNotifier.js"
export * as InMemoryOrderStore from "./InMemoryOrderStore.js"
export * as InMemoryShippingQuoter from "./InMemoryShippingQuoter.js"
export * as InMemoryTaxCalculator from "./InMemoryTaxCalculator.js"

// One call: core services on every in-memory port
export * as TestTill from "./TestTill.js"

// Resilience ports in memory
export * as InMemoryDeadLetterStore from "./InMemoryDeadLetterStore.js"
export * as InMemoryPaymentRetryQueue from "./InMemoryPaymentRetryQueue.js"
export * as InMemoryRateLimitStore from "./InMemoryRateLimitStore.js"
export * as Simulator from "./Simulator.js"
