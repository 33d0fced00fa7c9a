/**
 * Scenario 2: a declined card releases the stock at once, and the same order is paid again with
 * another card (`POST /v1/orders/{id}/payment`), which takes the stock again first.
 */
import { Effect } from "effect"
import { expect, type Scenario } from "./Scenario.js"
import { addCard, cards, checkout, inventory, ready } from "./Shop.js"

export const scenario: Scenario = {
  name: "declined",
  title: "2. declined card: stock released, paid again with another card",
  run: ({ client, out, stock }) =>
    Effect.gen(function* () {
      yield* stock("lamp", "Desk lamp", 4_000, 3)
      const bob = yield* ready(client, "bob", [["lamp", 2]], cards.declined)
      const declined = yield* checkout(client, bob, "bob-checkout-1")
      const orderId: string = declined.body?.order_id ?? ""
      const afterDecline = yield* inventory(client, "lamp")
      yield* out.line(
        `   checkout   card 4000 0000 0000 0002 → ${declined.status} ${declined.body?.decline_code ?? ""}, ` +
          `lamp available ${afterDecline.body.available} of 3 (released)`
      )
      const failed = yield* client.call("GET", `/v1/orders/${orderId}`, { as: "bob" })
      const card = yield* addCard(client, "bob", cards.mastercard)
      const paid = yield* client.call("POST", `/v1/orders/${orderId}/payment`, {
        as: "bob",
        key: "bob-pay-2",
        body: { payment_method_id: card.body.payment_method_id }
      })
      const afterPay = yield* inventory(client, "lamp")
      yield* out.line(
        `   pay again  order ${failed.body?.status}; POST /v1/orders/{id}/payment, card 5555 …4444 → ` +
          `${paid.status} ${paid.body?.status}, lamp available ${afterPay.body.available}`
      )
      return [
        expect(
          "declined, stock released",
          declined.status === 402 &&
            failed.body?.status === "payment_failed" &&
            afterDecline.body.available === 3,
          `${declined.status} ${failed.body?.status}, ${afterDecline.body.available} available`
        ),
        expect(
          "paid again, confirmed",
          paid.status === 201 && paid.body?.status === "confirmed" && afterPay.body.available === 1,
          `${paid.status} ${paid.body?.status}, ${afterPay.body.available} available`
        )
      ]
    })
}
