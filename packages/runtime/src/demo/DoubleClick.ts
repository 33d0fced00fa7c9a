/**
 * Scenario 3: a double (triple) click. The same checkout, with the same Idempotency-Key, three
 * times at once while the gateway takes 200 ms: one order, one charge; the copies are told the
 * first is still in flight (409), and a retry afterwards gets the first answer again.
 */
import { FakePaymentGateway, InMemoryOrderStore } from "@till/testkit"
import { Effect } from "effect"
import { expect, type Scenario } from "./Scenario.js"
import { checkout, ready } from "./Shop.js"

const gatewayLatencyMs = 200

export const scenario: Scenario = {
  name: "double-click",
  title: "3. double click: the same checkout (same Idempotency-Key) three times at once",
  world: { stores: { gateway: { faults: { latencyMs: gatewayLatencyMs } } } },
  run: ({ client, out, stock, world }) =>
    Effect.gen(function* () {
      yield* stock("mug", "Till mug", 1_500, 5)
      const carol = yield* ready(client, "carol", [["mug", 1]])
      const key = "carol-checkout-1"
      const clicks = yield* Effect.all(
        [1, 2, 3].map(() => checkout(client, carol, key)),
        {
          concurrency: "unbounded"
        }
      )
      yield* out.line(
        `   3 at once  → ${clicks.map((c) => `${c.status}${c.status === 409 ? " (in flight)" : ` ${c.body?.status}`}`).join(", ")}` +
          ` (gateway latency ${gatewayLatencyMs} ms)`
      )
      const retry = yield* checkout(client, carol, key)
      const created = [...clicks, retry].filter((c) => c.status === 201)
      const orderIds = new Set(created.map((c) => c.body.order_id as string))
      yield* out.line(
        `   retry      same key → ${retry.status} ${retry.body?.status}, the same order: ${orderIds.size === 1}`
      )
      const orders = yield* world.inspect(
        Effect.map(
          Effect.flatMap(InMemoryOrderStore.Inspector, (s) => s.orders),
          (all) => all.filter((o) => o.cart_id === carol.cartId)
        )
      )
      const charges = yield* world.inspect(
        Effect.flatMap(FakePaymentGateway.Inspector, (g) => g.chargesFor(orders[0]?.order_id ?? ""))
      )
      yield* out.line(
        `   stores     orders for the cart: ${orders.length}, money movements for it: ${charges.length}`
      )
      return [
        expect(
          "one order, one charge",
          orders.length === 1 && charges.length === 1 && orderIds.size === 1,
          `${orders.length} order, ${charges.length} charge, ${orderIds.size} order id answered`
        ),
        expect(
          "copies answered honestly",
          clicks.every((c) => c.status === 201 || c.status === 409) && retry.status === 201,
          clicks.map((c) => c.status).join(", ")
        )
      ]
    })
}
