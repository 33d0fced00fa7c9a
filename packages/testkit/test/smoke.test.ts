import { describe, expect, it } from "@effect/vitest"
import {
  FakePaymentGateway,
  InMemoryCartStore,
  InMemoryCatalog,
  InMemoryEventPublisher,
  InMemoryIdempotencyStore,
  InMemoryInventoryStore,
  InMemoryNotifier,
  InMemoryOrderStore,
  InMemoryShippingQuoter,
  InMemoryTaxCalculator,
  version
} from "@till/testkit"
import {
  cartStoreContract,
  catalogContract,
  eventPublisherContract,
  idempotencyStoreContract,
  inventoryStoreContract,
  notifierContract,
  orderStoreContract,
  paymentGatewayContract,
  shippingQuoterContract,
  taxCalculatorContract
} from "@till/testkit/contracts"
import { Layer } from "effect"

const inMemory = {
  InMemoryCartStore,
  InMemoryCatalog,
  InMemoryEventPublisher,
  InMemoryIdempotencyStore,
  InMemoryInventoryStore,
  InMemoryNotifier,
  InMemoryOrderStore,
  InMemoryShippingQuoter,
  InMemoryTaxCalculator
}

const contracts = {
  cartStoreContract,
  catalogContract,
  eventPublisherContract,
  idempotencyStoreContract,
  inventoryStoreContract,
  notifierContract,
  orderStoreContract,
  paymentGatewayContract,
  shippingQuoterContract,
  taxCalculatorContract
}

describe("@till/testkit exports", () => {
  it("a version", () => {
    expect(typeof version).toBe("string")
  })

  it.each(Object.entries(inMemory))("%s has make and a Layer", (_, module) => {
    expect(typeof module.make).toBe("function")
    expect(Layer.isLayer(module.layer)).toBe(true)
  })

  it("FakePaymentGateway has make, layer(seed), Inspector and Control", () => {
    expect(typeof FakePaymentGateway.make).toBe("function")
    expect(Layer.isLayer(FakePaymentGateway.layer(1))).toBe(true)
    expect(FakePaymentGateway.Inspector.key).toBe("@till/testkit/FakePaymentGateway/Inspector")
    expect(FakePaymentGateway.Control.key).toBe("@till/testkit/FakePaymentGateway/Control")
  })

  it("the planted inventory bug is exported for the simulator", () => {
    expect(Layer.isLayer(InMemoryInventoryStore.layerUnconditional)).toBe(true)
  })

  it.each(Object.entries(contracts))("%s is a suite registrar", (_, register) => {
    expect(typeof register).toBe("function")
  })

  it("the in-memory layers compose into one", () => {
    const all = Layer.mergeAll(
      InMemoryCartStore.layer,
      InMemoryCatalog.layer,
      InMemoryEventPublisher.layer,
      InMemoryIdempotencyStore.layer,
      InMemoryInventoryStore.layer,
      InMemoryNotifier.layer,
      InMemoryOrderStore.layer,
      InMemoryShippingQuoter.layer,
      InMemoryTaxCalculator.layer,
      FakePaymentGateway.layer()
    )
    expect(Layer.isLayer(all)).toBe(true)
  })
})
