import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Result, Schema } from "effect"
import { Cart, Money, Sku } from "@till/core"

const prices: Record<string, number> = { A: 1999, B: 250, C: 100_000, D: 1 }
const op = Arbitrary.all({
  sku: Arbitrary.schema(Schema.Literals(["A", "B", "C", "D"])),
  quantity: Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: Sku.maxQuantity })))
})

const apply = (cart: Cart.Cart, ops: ReadonlyArray<{ sku: string; quantity: number }>) => {
  let current = cart
  for (const { sku, quantity } of ops) {
    const s = Sku.make(sku)
    const item = quantity === 0 ? undefined : Cart.line(s, sku, quantity, Money.make(prices[sku]!, "USD"))
    current = Result.getOrThrow(Cart.withItems(current, Cart.setLine(current.items, item, s), "t"))
  }
  return current
}

// Effect's arbitraries grow arrays up to the run's size (10 by default): let them reach maxLength.
const fullLength = (maxLength: number) => ({ arbitrary: { size: maxLength } })

describe("Cart arithmetic", () => {
  const empty = Cart.empty("cart_1", "user_1", Money.currency("USD"), "t0")

  it.prop(
    "the subtotal is always the sum of unit price × quantity over the lines",
    [Arbitrary.array(op, { maxLength: 40 })],
    ([ops]) => {
      const cart = apply(empty, ops)
      const expected = cart.items.reduce((n, i) => n + prices[i.sku]! * i.quantity, 0)
      expect(cart.subtotal.amount).toBe(expected)
      for (const item of cart.items)
        expect(item.line_total.amount).toBe(item.unit_price.amount * item.quantity)
    },
    fullLength(40)
  )

  it.prop(
    "each SKU appears on at most one line, with the last quantity set",
    [Arbitrary.array(op, { maxLength: 40 })],
    ([ops]) => {
      const cart = apply(empty, ops)
      const skus = cart.items.map((i) => i.sku)
      expect(new Set(skus).size).toBe(skus.length)
      const last = new Map<string, number>()
      for (const o of ops) last.set(o.sku, o.quantity)
      for (const [sku, q] of last) expect(Cart.quantityOf(cart, Sku.make(sku))).toBe(q)
    },
    fullLength(40)
  )

  it("refuses a line in another currency", () => {
    const eur = Cart.line(Sku.make("A"), "A", 1, Money.make(100, "EUR"))
    const result = Cart.withItems(empty, [eur], "t")
    expect(Result.isFailure(result) && result.failure._tag).toBe("CurrencyMismatch")
  })
})

describe("Cart constructors validate", () => {
  it("an empty cart for an over-long user id or an empty cart id throws, naming the field", () => {
    const usd = Money.currency("USD")
    expect(Cart.empty("cart_1", "u1", usd, "2025-01-01T00:00:00.000Z").user_id).toBe("u1")
    expect(() => Cart.empty("cart_1", "u".repeat(256), usd, "2025-01-01T00:00:00.000Z")).toThrow(/user_id/)
    expect(() => Cart.empty("", "u1", usd, "2025-01-01T00:00:00.000Z")).toThrow(/cart_id/)
  })
})
