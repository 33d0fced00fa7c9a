/**
 * Scenario 6: the process dies in the middle of checkouts, and a new one starts on the same
 * stores. 20 buyers check out at once while the gateway takes 100-500 ms a call and the first 5
 * charges' responses are lost (the money moves, the caller hears nothing). Once those 5 have
 * moved money, the process is killed: every in-flight request interrupted where it stands, its
 * jobs and services gone; the stores and the gateway live on. A new process is started on them;
 * its recovery sweep asks the gateway what happened to each unfinished order before charging, so
 * every order ends terminal and none is charged twice (counted from the gateway's own records).
 */
import { FakePaymentGateway, InMemoryOrderStore } from "@till/testkit"
import { Effect, Fiber } from "effect"
import { expect, type Scenario, waitFor } from "./Scenario.js"
import { checkout, ready } from "./Shop.js"

export const buyers = 20
export const lostResponses = 5
const terminal = new Set(["confirmed", "payment_failed", "cancelled", "expired"])

const orders = Effect.flatMap(InMemoryOrderStore.Inspector, (store) => store.orders)
const charges = Effect.flatMap(FakePaymentGateway.Inspector, (gateway) => gateway.allCharges)

export const scenario: Scenario = {
  name: "crash",
  title: `6. crash and restart: ${buyers} checkouts cut off, recovered on the same stores`,
  world: { stores: { gateway: { faults: { latencyMs: 100, latencyJitterMs: 400 } } } },
  run: ({ client, out, stock, world }) =>
    Effect.gen(function* () {
      yield* stock("lamp", "Desk lamp", 4_000, 50)
      const carts = yield* Effect.forEach(
        Array.from({ length: buyers }, (_, i) => `crash-buyer-${i + 1}`),
        (user) => ready(client, user, [["lamp", 1]]),
        { concurrency: "unbounded" }
      )
      yield* world.inspect(
        Effect.flatMap(FakePaymentGateway.Control, (gateway) =>
          gateway.setFaults({ lostResponseNext: lostResponses, lostResponseAs: "hang" })
        )
      )
      const inFlight = yield* Effect.forkChild(
        Effect.forEach(carts, (r) => checkout(client, r, `${r.user}-checkout`), { concurrency: "unbounded" })
      )
      yield* world.inspect(waitFor(charges, (all) => all.length >= lostResponses, { timeoutMs: 5_000 }))
      yield* world.crash
      const answers = yield* Fiber.join(inFlight)
      const cut = answers.filter((a) => a.status === 0).length
      const atCrash = yield* world.inspect(orders)
      const chargedAtCrash = new Set((yield* world.inspect(charges)).map((c) => c.idempotency_key))
      const unfinished = atCrash.filter((o) => !terminal.has(o.status))
      const chargedUnfinished = unfinished.filter((o) => chargedAtCrash.has(o.order_id)).length
      yield* out.line(
        `   crash      ${buyers - cut} answered before it (${answers.filter((a) => a.status === 201).length} × 201), ` +
          `${cut} cut off; orders: ${atCrash.length - unfinished.length} confirmed, ${unfinished.length} unfinished, ` +
          `${chargedUnfinished} of them already charged (response lost)`
      )

      yield* world.inspect(Effect.flatMap(FakePaymentGateway.Control, (gateway) => gateway.reset))
      // Every order left is the dead process's: the new one's sweep takes them at once.
      yield* world.restart({ recovery: { staleAfterMs: 0 } })
      const started = Date.now()
      const after = yield* world.inspect(
        waitFor(orders, (all) => all.every((o) => terminal.has(o.status)), { timeoutMs: 10_000 })
      )
      const perOrder = new Map<string, number>()
      for (const c of yield* world.inspect(charges)) {
        const order = c.idempotency_key.replace(/:[1-9][0-9]*$/, "")
        perOrder.set(order, (perOrder.get(order) ?? 0) + 1)
      }
      const mostCharges = Math.max(0, ...perOrder.values())
      const confirmed = after.filter((o) => o.status === "confirmed").length
      yield* out.line(
        `   restart    new process on the same stores; its recovery sweep (at start) finished ` +
          `${unfinished.length} orders in ${Date.now() - started} ms`
      )
      yield* out.line(
        `   after      ${confirmed} of ${after.length} orders confirmed; gateway: ${perOrder.size} orders charged, ` +
          `at most ${mostCharges} money movement per order`
      )
      return [
        expect(
          "the crash cut checkouts off mid-payment",
          cut > 0 && chargedUnfinished > 0,
          `${cut} requests cut off, ${chargedUnfinished} orders charged but unconfirmed`
        ),
        expect(
          "every order confirmed after the restart, none charged twice",
          after.length > 0 && confirmed === after.length && mostCharges === 1,
          `${confirmed}/${after.length} confirmed, at most ${mostCharges} charge per order`
        )
      ]
    })
}
