import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Schema } from "effect"
import { Order } from "@till/core"

const statuses = Order.OrderStatus.literals
const status = Arbitrary.schema(Order.OrderStatus)

describe("Order state machine", () => {
  it("has the transitions of DESIGN.md and no others", () => {
    expect(Order.transitions).toEqual({
      pending: ["payment_pending", "confirmed", "payment_failed", "cancelled", "expired"],
      payment_pending: ["confirmed", "payment_failed", "cancelled", "expired"],
      payment_failed: ["pending", "cancelled"],
      confirmed: [],
      cancelled: [],
      expired: []
    })
  })

  it.prop("no status moves to itself, and terminal statuses never move", [status, status], ([from, to]) => {
    expect(Order.canTransition(from, from)).toBe(false)
    if (from === "confirmed" || from === "cancelled" || from === "expired")
      expect(Order.canTransition(from, to)).toBe(false)
  })

  it.prop("only pending and payment_pending hold stock", [status], ([s]) => {
    expect(Order.holdsStock(s)).toBe(s === "pending" || s === "payment_pending")
  })

  it.prop(
    "every random walk along allowed edges ends in a state that holds stock or is settled, and reaches confirmed at most once",
    [
      Arbitrary.array(Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 10 }))), {
        maxLength: 30
      })
    ],
    ([choices]) => {
      let current: Order.OrderStatus = "pending"
      let confirmations = 0
      for (const choice of choices) {
        const next: ReadonlyArray<Order.OrderStatus> = Order.transitions[current]
        if (next.length === 0) break
        current = next[choice % next.length]!
        if (current === "confirmed") confirmations++
      }
      expect(confirmations).toBeLessThanOrEqual(1)
      expect(statuses).toContain(current)
    },
    { arbitrary: { size: 30 } } // arrays grow up to the run's size, 10 by default
  )

  it("derives one gateway idempotency key per payment attempt", () => {
    expect(Order.paymentKey({ order_id: "ord_1", payment_attempt: 1 })).toBe("ord_1")
    expect(Order.paymentKey({ order_id: "ord_1", payment_attempt: 3 })).toBe("ord_1:3")
  })
})
