/**
 * Scenario 7: a cart left with an item in it is reported abandoned once (`cart.abandoned`, the
 * reminder's trigger), however many rounds the job runs after that; a checked-out cart and an
 * empty one are not reported. The demo's job treats a cart idle for 2 s as abandoned and looks
 * every 500 ms (production: an hour, every hour). Embedded Till has no notifications consumer,
 * so the reminder is the event itself; with KAFKA_BROKERS the notifications consumer sends it
 * through the Notifier.
 */
import { InMemoryEventPublisher, InMemoryNotifier } from "@till/testkit"
import { Effect } from "effect"
import { expect, type Scenario, waitFor } from "./Scenario.js"
import { checkout, ready } from "./Shop.js"
import * as World from "./World.js"

const idleForMs = World.jobs.abandonment?.idleForMs ?? 0
const everyMs = World.jobs.abandonment?.everyMs ?? 0
/** Rounds watched after the first report, to show there is no second one. */
const extraRounds = 3

export const scenario: Scenario = {
  name: "abandoned",
  title: "7. abandoned cart: one reminder",
  run: ({ client, out, stock, world }) =>
    Effect.gen(function* () {
      yield* stock("mug", "Till mug", 1_500, 10)
      const hana = yield* ready(client, "hana", [["mug", 1]])
      const ivan = yield* ready(client, "ivan", [["mug", 1]])
      const paid = yield* checkout(client, ivan, "ivan-checkout-1")
      const judy = yield* client.call("POST", "/v1/carts", { as: "judy", body: {} })
      const t0 = Date.now()
      yield* out.line(
        `   carts      hana: 1 mug, then nothing; ivan: 1 mug, checked out (${paid.status}); judy: empty ` +
          `(idle after ${idleForMs / 1000} s, job every ${everyMs} ms)`
      )
      const abandoned = Effect.map(
        Effect.flatMap(InMemoryEventPublisher.Inspector, (events) => events.published),
        (all) => all.filter((e) => e.type === "cart.abandoned")
      )
      const first = yield* world.inspect(
        waitFor(abandoned, (events) => events.length > 0, { timeoutMs: idleForMs + 10 * everyMs })
      )
      yield* out.line(
        `   t+${((Date.now() - t0) / 1000).toFixed(1)}s    cart.abandoned for ${first.map((e) => (e.aggregate_id === hana.cartId ? "hana's cart" : e.aggregate_id)).join(", ") || "nothing"}`
      )
      yield* Effect.sleep(extraRounds * everyMs)
      const events = yield* world.inspect(abandoned)
      const sent = yield* world.inspect(Effect.flatMap(InMemoryNotifier.Inspector, (n) => n.sent))
      const of = (cartId: string) => events.filter((e) => e.aggregate_id === cartId).length
      yield* out.line(
        `   after      ${extraRounds} more rounds: hana ${of(hana.cartId)}, ivan ${of(ivan.cartId)}, ` +
          `judy ${of(judy.body.cart_id)} cart.abandoned; reminder = the event (no notifications ` +
          `consumer in embedded mode: Notifier sent ${sent.length})`
      )
      return [
        expect(
          "one cart.abandoned for the idle cart",
          of(hana.cartId) === 1,
          `${of(hana.cartId)} for hana's cart`
        ),
        expect(
          "none for a checked-out or an empty cart",
          of(ivan.cartId) === 0 && of(judy.body.cart_id) === 0 && paid.status === 201,
          `ivan ${of(ivan.cartId)}, judy ${of(judy.body.cart_id)}`
        )
      ]
    })
}
