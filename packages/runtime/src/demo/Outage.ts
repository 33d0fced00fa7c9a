/**
 * Scenario 5: the seed's payment-gateway outage, compressed in time. The fake gateway answers
 * 503 for 4 s while a buyer checks out every 200 ms. The payment breaker opens, checkouts answer
 * 202 (payment queued, stock held), the gateway recovers, the breaker half-opens and closes, and
 * the retry drainer confirms every queued order. The timeline is printed as it happens, from the
 * admin routes (`GET /v1/admin/circuit-breakers`, `GET /v1/admin/payment-queue`) polled every
 * 50 ms, so a state shorter than that may not show.
 */
import { FakePaymentGateway, InMemoryOrderStore } from "@till/testkit"
import { Effect, Fiber } from "effect"
import { expect, type Scenario, waitFor } from "./Scenario.js"
import { checkout, ready } from "./Shop.js"

export const outageMs = 4_000
export const buyers = 30
export const checkoutEveryMs = 200
const pollEveryMs = 50
const drainTimeoutMs = 20_000

export const scenario: Scenario = {
  name: "outage",
  title: `5. gateway outage: 503 for ${outageMs / 1000} s, breaker opens, 202s queued, drained`,
  run: ({ client, out, stock, world }) =>
    Effect.gen(function* () {
      yield* stock("kettle", "Kettle", 3_000, 100)
      const carts = yield* Effect.forEach(
        Array.from({ length: buyers }, (_, i) => `outage-buyer-${i + 1}`),
        (user) => ready(client, user, [["kettle", 1]]),
        { concurrency: 10 }
      )
      const t0 = Date.now()
      const note = (text: string) =>
        Effect.suspend(() => out.line(`   t+${((Date.now() - t0) / 1000).toFixed(1).padStart(4)}s  ${text}`))
      yield* world.inspect(
        Effect.flatMap(FakePaymentGateway.Control, (gateway) => gateway.unavailableBetween(t0, t0 + outageMs))
      )
      yield* note(
        `gateway answers 503 until t+${outageMs / 1000}s; ${buyers} buyers check out, one every ${checkoutEveryMs} ms`
      )

      // The watcher: the breaker and the queue as an operator sees them, through the admin routes.
      let breaker = "closed"
      let depth = 0
      let maxDepth = 0
      let sawOpen = false
      const watch = Effect.gen(function* () {
        const breakers = yield* client.call("GET", "/v1/admin/circuit-breakers", {
          as: "ops",
          admin: true,
          quiet: true
        })
        const queue = yield* client.call("GET", "/v1/admin/payment-queue", {
          as: "ops",
          admin: true,
          quiet: true
        })
        const state: string = breakers.body?.find((b: { name: string }) => b.name === "payment")?.state ?? "?"
        depth = queue.body?.depth ?? depth
        maxDepth = Math.max(maxDepth, depth)
        if (state !== breaker) {
          yield* note(`breaker payment ${breaker} → ${state}, queue depth ${depth}`)
          breaker = state
          if (state === "open") sawOpen = true
        }
        yield* out.progress(`outage: breaker ${breaker}, queue depth ${depth}`)
      })
      const watcher = yield* Effect.forkChild(
        Effect.forever(Effect.andThen(watch, Effect.sleep(pollEveryMs)))
      )
      const recovery = yield* Effect.forkChild(
        Effect.andThen(Effect.sleep(outageMs), note("gateway answers again"))
      )

      let last = 0
      const answers = yield* Effect.forEach(
        carts,
        (r, i) =>
          Effect.gen(function* () {
            yield* Effect.sleep(i * checkoutEveryMs)
            const answer = yield* checkout(client, r, `${r.user}-checkout`)
            if (answer.status !== last) {
              last = answer.status
              yield* note(
                `checkout #${i + 1} → ${answer.status} ${answer.body?.status ?? answer.body?.type}` +
                  (answer.status === 202 ? " (payment queued, stock held)" : "")
              )
            }
            return answer
          }),
        { concurrency: "unbounded" }
      )
      yield* Fiber.join(recovery)
      const queued = answers.filter((a) => a.status === 202).map((a) => a.body.order_id as string)
      const orders = yield* world.inspect(
        Effect.flatMap(InMemoryOrderStore.Inspector, (store) =>
          waitFor(
            store.orders,
            (all) =>
              depth === 0 && all.every((o) => o.status === "confirmed" || o.status === "payment_failed"),
            { timeoutMs: drainTimeoutMs }
          )
        )
      )
      // One more look, so the timeline ends with the breaker as it is.
      yield* watch
      yield* Fiber.interrupt(watcher)
      const confirmedLater = queued.filter(
        (id) => orders.find((o) => o.order_id === id)?.status === "confirmed"
      )
      yield* note(
        `queue depth ${depth} (peak ${maxDepth}): ${confirmedLater.length} of ${queued.length} queued orders confirmed by the drainer`
      )
      const count = (status: number) => answers.filter((a) => a.status === status).length
      const errors = answers.length - count(201) - count(202)
      return [
        expect(
          "breaker opened, then closed",
          sawOpen && breaker === "closed",
          `seen open: ${sawOpen}, now ${breaker}`
        ),
        expect(
          "202s queued, then all confirmed",
          queued.length > 0 && confirmedLater.length === queued.length && depth === 0,
          `${count(201)} × 201, ${queued.length} × 202, ${confirmedLater.length} confirmed later, ${errors} errors`
        ),
        expect("0 errors", errors === 0, `${errors} answers other than 201/202`)
      ]
    })
}
