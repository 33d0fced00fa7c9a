import { readFileSync } from "node:fs"
import { join } from "node:path"
import { PromiseClient } from "@till/core"
import { afterAll, describe, expect, it } from "vitest"
import { FakePaymentGateway, TestTill } from "@till/testkit"

const till = PromiseClient.make(TestTill.layer({ seed: 40 }))
afterAll(() => till.dispose())

const shipping_address = {
  name: "Ada",
  line1: "1 Main St",
  city: "Springfield",
  postal_code: "12345",
  country: "US"
}

describe("PromiseClient (no Effect at the call site)", () => {
  it("checks out with plain objects and Promises", async () => {
    // Setup goes through the client's own runtime, so it sees the same stores.
    await till.runtime.runPromise(TestTill.stock("mug", "Till mug", 1_500, 5))
    const cart = await till.carts.create("alice")
    await till.carts.addItem("alice", cart.cart_id, "mug", 2)
    const card = { number: FakePaymentGateway.successCard, exp_month: 12, exp_year: 2030, cvc: "123" }
    const method = await till.payments.tokenize(card)
    const placed = await till.checkout.place("alice", "k1", {
      cart_id: cart.cart_id,
      shipping_address,
      payment_method_id: method.payment_method_id
    })
    expect(placed.status).toBe(201)
    expect((await till.checkout.getOrder("alice", placed.order.order_id)).status).toBe("confirmed")
  })

  it("rejects with the tagged error itself, and bad input with a ValidationError naming the fields", async () => {
    await expect(till.carts.view("alice", "cart_missing")).rejects.toMatchObject({
      _tag: "CartNotFound",
      cartId: "cart_missing"
    })
    const invalid = await till.checkout
      // A caller without types (plain JS) may send anything: the input is decoded all the same.
      .place("alice", "k2", {
        cart_id: "",
        shipping_address: { ...shipping_address, country: "usa" }
      } as never)
      .catch((e: unknown) => e)
    expect(invalid).toMatchObject({ _tag: "ValidationError" })
    const paths = (invalid as { errors: ReadonlyArray<{ path: string }> }).errors.map((e) => e.path)
    expect(paths).toEqual(
      expect.arrayContaining(["cart_id", "shipping_address.country", "payment_method_id"])
    )
    const leaky = await till.payments
      .tokenize({ number: "4242 4242 4242 4242", exp_month: 1, exp_year: 2030, cvc: "12a" })
      .catch((e: unknown) => e)
    expect(leaky).toMatchObject({ _tag: "ValidationError" })
    // Neither the card number nor the CVC may appear in an error, however malformed.
    expect(JSON.stringify(leaky)).not.toMatch(/4242|12a/)
    expect(String(leaky)).not.toMatch(/4242|12a/)
    // Nor when they come as numbers (Effect 3's messages echoed a non-string input).
    const numeric = await till.payments
      .tokenize({ number: 4242424242424242, exp_month: 1, exp_year: 2030, cvc: 987 } as never)
      .catch((e: unknown) => e)
    expect(numeric).toMatchObject({ _tag: "ValidationError" })
    expect(JSON.stringify(numeric)).not.toMatch(/4242|987/)
    expect(String(numeric)).not.toMatch(/4242|987/)
    await expect(
      till.payments.tokenize({ number: "4242424242424241", exp_month: 1, exp_year: 2030, cvc: "1" })
    ).rejects.toMatchObject({
      _tag: "ValidationError"
    })
  })
})

/** The doc example of PromiseClient.ts, line for line (its imports are this file's). */
const docExample = async () => {
  const till = PromiseClient.make(TestTill.layer()) // or Till.layer over your production ports
  await till.runtime.runPromise(TestTill.stock("mug", "Till mug", 1_500, 10))
  const cart = await till.carts.create("alice")
  await till.carts.addItem("alice", cart.cart_id, "mug", 2)
  const card = await till.payments.tokenize({
    number: FakePaymentGateway.successCard,
    exp_month: 12,
    exp_year: 2030,
    cvc: "123"
  })
  const { status, order } = await till.checkout.place("alice", "key-1", {
    cart_id: cart.cart_id,
    shipping_address: {
      name: "Ada Lovelace",
      line1: "12 St James's Square",
      city: "London",
      postal_code: "SW1Y 4JH",
      country: "GB"
    },
    payment_method_id: card.payment_method_id
  })
  console.log(status, order.status, order.total) // 201 "confirmed" { amount: ..., currency: "USD" }
  await till.dispose()
  return { status, order }
}

describe("PromiseClient's doc example", () => {
  it("is this file's `docExample`, line for line", () => {
    const source = readFileSync(join(import.meta.dirname, "../../core/src/PromiseClient.ts"), "utf8")
    const block = /```ts\n([\s\S]*?)```/.exec(source)?.[1] ?? ""
    // Compared as one token stream: the formatter may wrap this file's copy differently.
    const tokens = (text: string) => text.replace(/[\s,]+/g, "")
    const example = block
      .split("\n")
      .map((line) => line.replace(/^\s*\* ?/, ""))
      .filter((line) => !line.startsWith("import "))
      .join("\n")
    expect(example.length).toBeGreaterThan(200)
    const mine = readFileSync(import.meta.filename, "utf8")
    const body = mine.slice(mine.indexOf("const docExample"), mine.indexOf("  return { status, order }"))
    expect(tokens(body)).toContain(tokens(example))
  })

  it("runs as written: a confirmed order in API.md's JSON", async () => {
    const { status, order } = await docExample()
    expect(status).toBe(201)
    expect(order.status).toBe("confirmed")
    expect(order.total).toEqual({ amount: 3_000 + order.tax.amount + order.shipping.amount, currency: "USD" })
    expect(Object.keys(order)).not.toContain("version")
    expect(order.payment).toEqual({ status: "succeeded", brand: expect.any(String), last4: "4242" })
  })
})
