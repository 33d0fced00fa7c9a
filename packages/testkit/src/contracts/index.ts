/**
 * `@till/testkit/contracts`: one contract suite per port. Each is a function that takes a
 * Layer and registers vitest cases, so the in-memory and the real implementation of a port
 * run the same cases. A separate entry point because it imports vitest: the main entry must
 * load anywhere (the runtime embeds the in-memory ports).
 *
 * Most suites build their Layer once, with a memo map of their own (`@effect/vitest`'s
 * `layer`): the cases of one suite share one store, as they would share a real database, and
 * no two suites (nor a case's own `Effect.provide(layer, { local: true })`) ever share one.
 * The CartStore, InventoryStore and OrderStore suites build it afresh for every case (cases
 * never share rows or an outbox); the last two take one layer providing both ports over one
 * set of stock tables, since reservations are made only by order steps.
 */
export { cartStoreContract, type CartStoreContractOptions } from "./CartStoreContract.js"
export { catalogContract } from "./CatalogContract.js"
export { eventPublisherContract } from "./EventPublisherContract.js"
export { idempotencyStoreContract } from "./IdempotencyStoreContract.js"
export { inventoryStoreContract } from "./InventoryStoreContract.js"
export { notifierContract } from "./NotifierContract.js"
export { orderStoreContract } from "./OrderStoreContract.js"
export { paymentGatewayContract } from "./PaymentGatewayContract.js"
export { shippingQuoterContract } from "./ShippingQuoterContract.js"
export { taxCalculatorContract } from "./TaxCalculatorContract.js"
export { deadLetterStoreContract } from "./DeadLetterStoreContract.js"
export { paymentRetryQueueContract } from "./PaymentRetryQueueContract.js"
export { rateLimitStoreContract } from "./RateLimitStoreContract.js"
/** The orders and events the OrderStore suites write, for an adapter's own tests of its stores. */
export { makeEvent, makeOrder, moved, type OrderFixture } from "./OrderStoreFixtures.js"
