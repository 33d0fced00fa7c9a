/**
 * Scenario 1: one shopper's checkout from end to end, and what the event stream shows after it.
 * Embedded Till has no fulfillment or notifications consumer (they are Kafka consumers), so the
 * scenario says what is there instead of a shipment: the order's events as published.
 */
import { InMemoryEventPublisher, InMemoryNotifier } from "@till/testkit"
import { Effect } from "effect"
import { expect, type Scenario, waitFor } from "./Scenario.js"
import { cards, inventory, ready, checkout } from "./Shop.js"
import { money } from "./Output.js"

export const scenario: Scenario = {
  name: "journey",
  title: "1. checkout journey: browse → cart → checkout → confirmed → events",
  run: ({ client, out, stock, world }) =>
    Effect.gen(function* () {
      yield* stock("mug", "Till mug", 1_500, 10)
      yield* stock("lamp", "Desk lamp", 4_000, 3)
      const mug = yield* inventory(client, "mug")
      const lamp = yield* inventory(client, "lamp")
      yield* out.line(
        `   browse     mug ${mug.body.available} available, lamp ${lamp.body.available} ` +
          "(GET /v1/admin/inventory/{sku}: API v1 has no public product listing)"
      )
      const alice = yield* ready(
        client,
        "alice",
        [
          ["mug", 2],
          ["lamp", 1]
        ],
        cards.visa
      )
      const cart = yield* client.call("GET", `/v1/carts/${alice.cartId}`, { as: "alice" })
      yield* out.line(
        `   cart       POST /v1/carts → 201, 2 × mug + 1 × lamp → 200, subtotal ${money(cart.body.subtotal)}; ` +
          "card 4242 → 201"
      )
      const placed = yield* checkout(client, alice, "alice-checkout-1")
      const orderId: string = placed.body?.order_id ?? ""
      yield* out.line(
        `   checkout   POST /v1/checkout → ${placed.status} ${placed.body?.status}, total ${money(placed.body.total)} ` +
          `(tax ${money(placed.body.tax)}, shipping ${money(placed.body.shipping)})`
      )
      const order = yield* client.call("GET", `/v1/orders/${orderId}`, { as: "alice" })
      yield* out.line(
        `   order      GET /v1/orders/{id} → ${order.status} ${order.body?.status}, ` +
          `payment ${order.body?.payment?.status} ${order.body?.payment?.brand} ·${order.body?.payment?.last4}`
      )
      // The outbox relay publishes the order's events within its 100 ms poll.
      const published = yield* world.inspect(
        Effect.flatMap(InMemoryEventPublisher.Inspector, (events) =>
          waitFor(
            Effect.map(events.published, (all) => all.filter((e) => e.aggregate_id === orderId)),
            (mine) => mine.some((e) => e.type === "order.confirmed"),
            { timeoutMs: 3_000 }
          )
        )
      )
      yield* out.line(
        `   events     ${published.map((e) => e.type).join(" → ")} (the outbox relay, published)`
      )
      const sent = yield* world.inspect(Effect.flatMap(InMemoryNotifier.Inspector, (n) => n.sent))
      yield* out.line(
        "   shipment   none in embedded mode: fulfillment (shipment.created) and notifications (the confirmation)"
      )
      yield* out.line(
        `              are Kafka consumers (KAFKA_BROKERS); here order.confirmed is the end, Notifier sent ${sent.length}`
      )
      const confirmedEvents = published.filter((e) => e.type === "order.confirmed").length
      return [
        expect(
          "confirmed at checkout",
          placed.status === 201 && placed.body?.status === "confirmed" && order.body?.status === "confirmed",
          `checkout ${placed.status} ${placed.body?.status}, order ${order.body?.status}`
        ),
        expect("order.confirmed published once", confirmedEvents === 1, `${confirmedEvents} published`)
      ]
    })
}
