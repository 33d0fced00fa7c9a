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

const epochMs = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4_102_444_800_000 }))
const anyOrder = Arbitrary.map(
  Arbitrary.all({
    order: Arbitrary.schema(Order.Order),
    createdMs: Arbitrary.schema(epochMs),
    updatedMs: Arbitrary.schema(epochMs)
  }),
  ({ order, createdMs, updatedMs }) =>
    new Order.Order({
      ...order,
      created_at: new Date(createdMs).toISOString(),
      updated_at: new Date(updatedMs).toISOString()
    })
)

const apiKeys = [
  "order_id",
  "user_id",
  "cart_id",
  "status",
  "items",
  "subtotal",
  "tax",
  "shipping",
  "total",
  "shipping_address",
  "payment",
  "created_at",
  "updated_at"
].sort()
const iso8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/

describe("Order.toJson (API.md's order)", () => {
  it.prop(
    "has exactly API.md's keys, ISO 8601 times, and none of the saga's bookkeeping",
    [anyOrder],
    ([order]) => {
      const json = Order.toJson(order)
      expect(Object.keys(json).sort()).toEqual(apiKeys)
      if (json.payment !== null)
        expect(Object.keys(json.payment).sort()).toEqual(["brand", "last4", "status"])
      for (const time of [json.created_at, json.updated_at]) {
        expect(time).toMatch(iso8601)
        expect(new Date(time).toISOString()).toBe(time)
      }
      const text = JSON.stringify(json)
      for (const hidden of [
        "version",
        "payment_method_id",
        "payment_attempt",
        "hold_expires_at",
        "retry_until",
        "charge_id",
        "decline_code"
      ])
        expect(text).not.toContain(`"${hidden}"`)
      // Plain data: it survives a JSON round trip unchanged and decodes with its schema.
      expect(JSON.parse(text)).toEqual(json)
      expect(Schema.decodeUnknownSync(Order.OrderJson)(JSON.parse(text))).toBeDefined()
    }
  )
})
