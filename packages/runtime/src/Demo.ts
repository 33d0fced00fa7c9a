/**
 * `till demo`: the seed's two checkout journeys on the embedded in-memory ports, printed as
 * a table. It needs nothing but Node: no Postgres, Redis or Kafka.
 */
import { Address, Carts, Checkout, InventoryStore, Outbox, Payments, Sku } from "@till/core"
import { FakePaymentGateway, InMemoryEventPublisher, TestTill } from "@till/testkit"
import { Effect, Option, Schema } from "effect"

const address = Schema.decodeUnknownSync(Address.Address)({
  name: "Ada Lovelace",
  line1: "12 St James's Square",
  city: "London",
  postal_code: "SW1Y 4JH",
  country: "GB"
})

const card = FakePaymentGateway.card

const money = (m: { amount: number; currency: string }) => `${(m.amount / 100).toFixed(2)} ${m.currency}`

const table = (rows: ReadonlyArray<ReadonlyArray<string>>): ReadonlyArray<string> => {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  const line = (r: ReadonlyArray<string>) => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(" | ")} |`
  return [line(rows[0]!), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.slice(1).map(line)]
}

const program = Effect.gen(function* () {
  const carts = yield* Carts.Carts
  const payments = yield* Payments.Payments
  const checkout = yield* Checkout.Checkout
  const inventory = yield* InventoryStore.InventoryStore
  yield* TestTill.stock("mug", "Till mug", 1_500, 10)
  yield* TestTill.stock("lamp", "Desk lamp", 4_000, 3)
  const rows: Array<Array<string>> = [["step", "answer", "order status", "total", "stock (available)"]]
  const stockOf = (sku: string) =>
    Effect.map(inventory.level(Sku.make(sku)), (l) => `${sku}: ${Option.getOrThrow(l).available}`)

  // Journey 1: add items, check out, confirmed.
  const cart = yield* carts.create("alice")
  yield* carts.addItem("alice", cart.cart_id, Sku.make("mug"), 2)
  const visa = yield* payments.tokenize(card(FakePaymentGateway.successCard))
  const placed = yield* checkout.place({
    userId: "alice",
    idempotencyKey: "demo-1",
    request: new Checkout.CheckoutRequest({
      cart_id: cart.cart_id,
      shipping_address: address,
      payment_method_id: visa.payment_method_id
    })
  })
  rows.push([
    "1. alice checks out 2 mugs",
    `${placed.status}`,
    placed.order.status,
    money(placed.order.total),
    yield* stockOf("mug")
  ])

  // Journey 2: declined, stock released, paid again with another card.
  const cart2 = yield* carts.create("bob")
  yield* carts.addItem("bob", cart2.cart_id, Sku.make("lamp"), 2)
  const declining = yield* payments.tokenize(card(FakePaymentGateway.declineCard))
  const declined = yield* Effect.flip(
    checkout.place({
      userId: "bob",
      idempotencyKey: "demo-2",
      request: new Checkout.CheckoutRequest({
        cart_id: cart2.cart_id,
        shipping_address: address,
        payment_method_id: declining.payment_method_id
      })
    })
  )
  const orderId = declined._tag === "PaymentDeclined" ? declined.orderId : ""
  const failed = yield* checkout.getOrder("bob", orderId)
  rows.push([
    "2a. bob's card is declined",
    `402 ${declined._tag}`,
    failed.status,
    money(failed.total),
    yield* stockOf("lamp")
  ])
  const good = yield* payments.tokenize(card("5555555555554444"))
  const retried = yield* checkout.retryPayment({
    userId: "bob",
    orderId,
    idempotencyKey: "demo-3",
    request: new Checkout.PaymentRetryRequest({ payment_method_id: good.payment_method_id })
  })
  rows.push([
    "2b. bob pays again, new card",
    `${retried.status}`,
    retried.order.status,
    money(retried.order.total),
    yield* stockOf("lamp")
  ])

  yield* Outbox.drain()
  const events = yield* (yield* InMemoryEventPublisher.Inspector).published
  return [
    "Till demo — embedded in-memory ports (no Postgres, Redis or Kafka needed)",
    "",
    ...table(rows),
    "",
    `events published: ${events.map((e) => e.type).join(", ")}`
  ]
})

// A fresh in-memory world on every run (TestTill's layers are fresh whenever provided): the
// journeys assume the seed's stock, so a second demo in the same run must not see the first one's.
export const runDemo: Effect.Effect<ReadonlyArray<string>, unknown> = program.pipe(
  Effect.provide(TestTill.layer({ seed: 2026 }))
)
