/**
 * A flash sale through the HTTP API on the real services, as `till start` builds it, with the SKU
 * configured hot (`TILL_HOT_SKUS`): 64 buyers check out one SKU of 20 units at once. Exactly 20
 * orders are confirmed, every other answer is an honest 409, none is anything but 201/402/409, and
 * the stock ends with 20 units sold and nothing left reserved.
 */
import { afterAll, beforeAll, expect, it } from "vitest"
import { type Client, checkout, readyToPay, startOnServices } from "./support/http.js"
import { describeServices } from "./support/services.js"

const units = 20
const buyers = 64

await describeServices(["postgres", "redis", "kafka"], "the flash sale over HTTP", () => {
  let till: Client
  const sku = `flash-${crypto.randomUUID().slice(0, 8)}`
  beforeAll(async () => {
    till = await startOnServices({ TILL_HOT_SKUS: sku })
  }, 120_000)
  afterAll(() => till?.dispose())

  it("64 buyers for 20 units of a hot SKU: 20 confirmed, the rest 409, nothing else", async () => {
    await till.call("PUT", `/v1/admin/products/${sku}`, {
      admin: true,
      as: "ops",
      body: { name: "Flash item", price: { amount: 1500, currency: "USD" }, on_hand: units }
    })
    const ready = await Promise.all(
      Array.from({ length: buyers }, (_, i) => readyToPay(till, `buyer-${i}`, sku, 1))
    )
    const answers = await Promise.all(ready.map((r, i) => checkout(till, `buyer-${i}`, r)))
    const statuses = answers.map((a) => a.status)
    expect(statuses.filter((s) => s !== 201 && s !== 402 && s !== 409)).toEqual([])
    const confirmed = answers.filter((a) => a.status === 201 && a.body.status === "confirmed")
    expect(confirmed).toHaveLength(units)
    expect(statuses.filter((s) => s === 409)).toHaveLength(buyers - units)
    const stock = await till.call("GET", `/v1/admin/inventory/${sku}`, { admin: true, as: "ops" })
    expect(stock.status).toBe(200)
    expect(stock.body).toMatchObject({ on_hand: 0, reserved: 0, available: 0 })
    // The entity did batch: its histogram counted transactions for these 64 creates.
    const metrics = await till.call("GET", "/metrics", { admin: true, as: "ops" })
    const count = Number(/till_hot_sku_batch_size_count(?:\{[^}]*\})? (\d+)/.exec(metrics.text)?.[1] ?? "0")
    expect(count).toBeGreaterThan(0)
    expect(count).toBeLessThanOrEqual(buyers)
  })
})
