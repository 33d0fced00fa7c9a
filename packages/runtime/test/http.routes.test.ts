/**
 * Every route and status of API.md, in process (no socket): the answer's status, its body's
 * shape, and for problems their RFC 9457 members and extensions. The same suite runs on the
 * embedded default and on real Postgres, Redis and Kafka (skipped locally when they are not
 * running, failing under CI=true).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type Answer,
  address,
  card,
  checkout,
  type Client,
  key,
  readyToPay,
  start,
  startOnServices,
  token
} from "./support/http.js"
import { describeServices } from "./support/services.js"

/** The whole suite on one Till (fresh state: its own stores). */
const routes = (name: string, open: () => Promise<Client>) =>
  describe(name, () => {
    let till: Client
    beforeAll(async () => {
      till = await open()
    }, 120_000)
    afterAll(() => till?.dispose())

    const expectProblem = (answer: Answer, status: number) => {
      expect(answer.status).toBe(status)
      expect(answer.headers.get("content-type")).toContain("application/problem+json")
      expect(answer.body).toMatchObject({ status, type: expect.stringMatching(/^urn:till:problem:/) })
      expect(typeof answer.body.title).toBe("string")
      expect(answer.body.detail.length).toBeGreaterThan(0)
      expect(JSON.stringify(answer.body)).not.toMatch(/\bat .*\.(ts|js):\d+/)
    }

    describe("carts", () => {
      it("create 201, get 200, add 200, change 200 (0 removes), delete 200", async () => {
        await till.call("PUT", "/v1/admin/products/mug", {
          admin: true,
          body: { name: "Mug", price: { amount: 1500, currency: "USD" }, on_hand: 100 }
        })
        await till.call("PUT", "/v1/admin/products/lamp", {
          admin: true,
          body: { name: "Lamp", price: { amount: 4000, currency: "USD" }, on_hand: 100 }
        })
        const created = await till.call("POST", "/v1/carts", { as: "carol", body: { currency: "USD" } })
        expect(created.status).toBe(201)
        expect(created.body).toEqual({
          cart_id: expect.any(String),
          user_id: "carol",
          status: "active",
          items: [],
          subtotal: { amount: 0, currency: "USD" },
          updated_at: expect.any(String)
        })
        const id = created.body.cart_id
        const added = await till.call("POST", `/v1/carts/${id}/items`, {
          as: "carol",
          body: { sku: "mug", quantity: 2 }
        })
        expect(added.status).toBe(200)
        expect(added.body.items).toEqual([
          {
            sku: "mug",
            name: "Mug",
            quantity: 2,
            unit_price: { amount: 1500, currency: "USD" },
            line_total: { amount: 3000, currency: "USD" }
          }
        ])
        await till.call("POST", `/v1/carts/${id}/items`, { as: "carol", body: { sku: "lamp", quantity: 1 } })
        const changed = await till.call("PATCH", `/v1/carts/${id}/items/mug`, {
          as: "carol",
          body: { quantity: 5 }
        })
        expect(changed.status).toBe(200)
        expect(changed.body.subtotal).toEqual({ amount: 5 * 1500 + 4000, currency: "USD" })
        const zero = await till.call("PATCH", `/v1/carts/${id}/items/mug`, {
          as: "carol",
          body: { quantity: 0 }
        })
        expect(zero.body.items.map((i: { sku: string }) => i.sku)).toEqual(["lamp"])
        const deleted = await till.call("DELETE", `/v1/carts/${id}/items/lamp`, { as: "carol" })
        expect(deleted.status).toBe(200)
        expect(deleted.body.items).toEqual([])
        const got = await till.call("GET", `/v1/carts/${id}`, { as: "carol" })
        expect(got.status).toBe(200)
        expect(got.body.cart_id).toBe(id)
      })

      it("an unknown sku is 404; another user's cart is 404, never 403", async () => {
        const cart = await till.call("POST", "/v1/carts", { as: "dave", body: {} })
        expectProblem(
          await till.call("POST", `/v1/carts/${cart.body.cart_id}/items`, {
            as: "dave",
            body: { sku: "nope", quantity: 1 }
          }),
          404
        )
        expectProblem(await till.call("GET", `/v1/carts/${cart.body.cart_id}`, { as: "mallory" }), 404)
        expectProblem(
          await till.call("POST", `/v1/carts/${cart.body.cart_id}/items`, {
            as: "mallory",
            body: { sku: "mug", quantity: 1 }
          }),
          404
        )
        expectProblem(await till.call("GET", "/v1/carts/cart_that_never_was", { as: "dave" }), 404)
      })

      it("bad bodies are 422 with every offending path, unknown fields included", async () => {
        const cart = await till.call("POST", "/v1/carts", { as: "erin", body: {} })
        const bad = await till.call("POST", `/v1/carts/${cart.body.cart_id}/items`, {
          as: "erin",
          body: { sku: "", quantity: 0, colour: "red" }
        })
        expectProblem(bad, 422)
        const paths = bad.body.errors.map((e: { path: string }) => e.path)
        expect(paths).toEqual(expect.arrayContaining(["body.sku", "body.quantity", "body.colour"]))
        expectProblem(await till.call("POST", "/v1/carts", { as: "erin", raw: "{not json" }), 422)
        expectProblem(
          await till.call("PATCH", `/v1/carts/${cart.body.cart_id}/items/mug`, {
            as: "erin",
            body: { quantity: 1000 }
          }),
          422
        )
      })
    })

    describe("payment methods", () => {
      it("201 with brand and last4, never the number", async () => {
        const answer = await till.call("POST", "/v1/payment-methods", {
          as: "frank",
          body: card("4242424242424242")
        })
        expect(answer.status).toBe(201)
        expect(answer.body).toEqual({ payment_method_id: expect.any(String), brand: "visa", last4: "4242" })
      })

      it("an invalid card is 422 and the answer holds no digits of it", async () => {
        for (const number of ["4242424242424241", "12345", 4242424242424242, "4242 4242 4242 4242 4242"]) {
          const answer = await till.call("POST", "/v1/payment-methods", {
            as: "frank",
            body: card(number as string)
          })
          expectProblem(answer, 422)
          expect(answer.text).not.toMatch(/\d{5,}/)
        }
      })
    })

    describe("checkout", () => {
      it("201 paid and confirmed; the same key and body answers the same again", async () => {
        const ready = await readyToPay(till, "grace", "cup", 2, { onHand: 10 })
        const k = key()
        const first = await checkout(till, "grace", ready, k)
        expect(first.status).toBe(201)
        expect(first.body).toMatchObject({
          user_id: "grace",
          cart_id: ready.cartId,
          status: "confirmed",
          payment: { status: "succeeded", brand: "visa", last4: "4242" },
          shipping_address: address
        })
        expect(Object.keys(first.body).sort()).toEqual(
          [
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
        )
        const again = await checkout(till, "grace", ready, k)
        expect(again.status).toBe(201)
        expect(again.body).toEqual(first.body)
      })

      it("the same key with another body is 422; a second checkout of the cart is 409 with its order", async () => {
        const ready = await readyToPay(till, "heidi", "cup", 1)
        const k = key()
        const first = await checkout(till, "heidi", ready, k)
        expect(first.status).toBe(201)
        const other = await readyToPay(till, "heidi", "cup", 1)
        expectProblem(await checkout(till, "heidi", other, k), 422)
        const second = await checkout(till, "heidi", ready)
        expectProblem(second, 409)
        expect(second.body.order_id).toBe(first.body.order_id)
      })

      it("declined is 402 with order_id and decline_code; paying again with another card is 201", async () => {
        const ready = await readyToPay(till, "ivan", "cup", 1, { cardNumber: "4000000000000002" })
        const declined = await checkout(till, "ivan", ready)
        expectProblem(declined, 402)
        expect(declined.body).toMatchObject({ order_id: expect.any(String), decline_code: "card_declined" })
        const order = await till.call("GET", `/v1/orders/${declined.body.order_id}`, { as: "ivan" })
        expect(order.body.status).toBe("payment_failed")
        const good = await till.call("POST", "/v1/payment-methods", {
          as: "ivan",
          body: card("4242424242424242")
        })
        const paid = await till.call("POST", `/v1/orders/${declined.body.order_id}/payment`, {
          as: "ivan",
          headers: { "idempotency-key": key() },
          body: { payment_method_id: good.body.payment_method_id }
        })
        expect(paid.status).toBe(201)
        expect(paid.body.status).toBe("confirmed")
        const again = await till.call("POST", `/v1/orders/${declined.body.order_id}/payment`, {
          as: "ivan",
          headers: { "idempotency-key": key() },
          body: { payment_method_id: good.body.payment_method_id }
        })
        expectProblem(again, 409)
      })

      it("out of stock is 409 with unavailable", async () => {
        const ready = await readyToPay(till, "judy", "rare", 3, { onHand: 2 })
        const answer = await checkout(till, "judy", ready)
        expectProblem(answer, 409)
        expect(answer.body.unavailable).toEqual([{ sku: "rare", requested: 3, available: 2 }])
      })

      it("an unknown or foreign cart is 404; a missing or too long Idempotency-Key is 422", async () => {
        const ready = await readyToPay(till, "ken", "cup", 1)
        expectProblem(await checkout(till, "mallory", ready), 404)
        expectProblem(await checkout(till, "ken", { ...ready, cartId: "cart_nope" }), 404)
        const noKey = await till.call("POST", "/v1/checkout", {
          as: "ken",
          body: { cart_id: ready.cartId, payment_method_id: ready.methodId, shipping_address: address }
        })
        expectProblem(noKey, 422)
        expectProblem(await checkout(till, "ken", ready, "k".repeat(256)), 422)
        const badAddress = await till.call("POST", "/v1/checkout", {
          as: "ken",
          headers: { "idempotency-key": key() },
          body: {
            cart_id: ready.cartId,
            payment_method_id: ready.methodId,
            shipping_address: { ...address, country: "GBR" }
          }
        })
        expectProblem(badAddress, 422)
        expect(badAddress.body.errors.map((e: { path: string }) => e.path)).toContain(
          "body.shipping_address.country"
        )
      })

      it("more than 10 checkouts a minute is 429 with Retry-After", async () => {
        let limited: Awaited<ReturnType<Client["call"]>> | undefined
        for (let i = 0; i < 12 && limited === undefined; i++) {
          const answer = await checkout(till, "leo", { cartId: `cart_${i}`, methodId: "pm_x" })
          if (answer.status === 429) limited = answer
        }
        expect(limited).toBeDefined()
        expectProblem(limited!, 429)
        expect(Number(limited!.headers.get("retry-after"))).toBeGreaterThan(0)
      })
    })

    describe("orders", () => {
      it("GET one is 200 for its owner, 404 for anyone else; the list pages with next_cursor", async () => {
        const placed: Array<string> = []
        for (let i = 0; i < 3; i++) {
          const ready = await readyToPay(till, "mia", "cup", 1)
          placed.push((await checkout(till, "mia", ready)).body.order_id)
        }
        const one = await till.call("GET", `/v1/orders/${placed[0]}`, { as: "mia" })
        expect(one.status).toBe(200)
        expect(one.body.order_id).toBe(placed[0])
        expectProblem(await till.call("GET", `/v1/orders/${placed[0]}`, { as: "mallory" }), 404)
        const seen: Array<string> = []
        let cursor: string | null = null
        do {
          const page: Answer = await till.call(
            "GET",
            `/v1/orders?limit=2${cursor === null ? "" : `&cursor=${cursor}`}`,
            {
              as: "mia"
            }
          )
          expect(page.status).toBe(200)
          seen.push(...page.body.orders.map((o: { order_id: string }) => o.order_id))
          cursor = page.body.next_cursor
        } while (cursor !== null)
        expect(seen.sort()).toEqual([...placed].sort())
        expectProblem(await till.call("GET", "/v1/orders?limit=0", { as: "mia" }), 422)
        expectProblem(await till.call("GET", "/v1/orders?limit=2&sort=asc", { as: "mia" }), 422)
      })
    })

    describe("auth", () => {
      it("no token, a forged one and an expired one are 401", async () => {
        expectProblem(await till.call("GET", "/v1/orders", { as: null }), 401)
        const forged = `${token("nina").slice(0, -4)}AAAA`
        expectProblem(
          await till.call("GET", "/v1/orders", { as: null, headers: { authorization: `Bearer ${forged}` } }),
          401
        )
        const expired = token("nina", { exp: Math.floor(Date.now() / 1000) - 1 })
        const answer = await till.call("GET", "/v1/orders", {
          as: null,
          headers: { authorization: `Bearer ${expired}` }
        })
        expectProblem(answer, 401)
        expect(answer.body.detail).toContain("expired")
        const none = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from('{"sub":"x","exp":9999999999}').toString("base64url")}.x`
        expectProblem(
          await till.call("GET", "/v1/orders", { as: null, headers: { authorization: `Bearer ${none}` } }),
          401
        )
      })

      it("admin routes are 403 without role admin", async () => {
        expectProblem(await till.call("GET", "/v1/admin/circuit-breakers", { as: "oscar" }), 403)
      })
    })

    describe("admin and operations", () => {
      it("product, inventory, breakers and payment queue", async () => {
        const put = await till.call("PUT", "/v1/admin/products/desk", {
          admin: true,
          body: { name: "Desk", price: { amount: 25_000, currency: "USD" }, on_hand: 7 }
        })
        expect(put.status).toBe(200)
        expect(put.body).toEqual({ sku: "desk", on_hand: 7, reserved: 0, available: 7 })
        const level = await till.call("GET", "/v1/admin/inventory/desk", { admin: true })
        expect(level.body).toEqual({ sku: "desk", on_hand: 7, reserved: 0, available: 7 })
        expectProblem(await till.call("GET", "/v1/admin/inventory/nothing", { admin: true }), 404)
        const breakers = await till.call("GET", "/v1/admin/circuit-breakers", { admin: true })
        expect(breakers.body).toEqual(
          expect.arrayContaining([
            { name: "payment", state: "closed" },
            { name: "store.cart", state: "closed" },
            { name: "store.order", state: "closed" }
          ])
        )
        const queue = await till.call("GET", "/v1/admin/payment-queue", { admin: true })
        expect(queue.body).toEqual({ depth: 0 })
      })

      it("health, metrics, openapi and docs need no token", async () => {
        expect((await till.call("GET", "/health/live", { as: null })).status).toBe(200)
        const ready = await till.call("GET", "/health/ready", { as: null })
        expect(ready.body.status).toBe("ok")
        expect(Object.values(ready.body.checks).every((c) => c === "ok")).toBe(true)
        const metrics = await till.call("GET", "/metrics", { as: null })
        expect(metrics.status).toBe(200)
        expect(metrics.text).toContain("# TYPE till_circuit_breaker_state gauge")
        // The seed's table, from the checkouts of the suites above.
        expect(metrics.text).toMatch(/till_checkouts_total\{outcome="confirmed"\} [1-9]/)
        expect(metrics.text).toMatch(/till_checkouts_total\{outcome="declined"\} [1-9]/)
        expect(metrics.text).toMatch(/till_payments_total\{outcome="succeeded"\} [1-9]/)
        expect(metrics.text).toMatch(/till_order_creation_seconds_bucket\{le="[0-9.]+"\} [1-9]/)
        expect(metrics.text).toMatch(/till_carts_created_total [1-9]/)
        expect(metrics.text).toContain("till_rate_limit_rejections_total")
        expect(metrics.text).toContain("till_degradation_level")
        const openapi = await till.call("GET", "/openapi.json", { as: null })
        expect(openapi.body.openapi).toMatch(/^3\./)
        expect(Object.keys(openapi.body.paths)).toEqual(
          expect.arrayContaining([
            "/v1/carts",
            "/v1/checkout",
            "/v1/orders/{order_id}/payment",
            "/v1/admin/payment-queue"
          ])
        )
        const docs = await till.call("GET", "/docs", { as: null })
        expect(docs.status).toBe(200)
        expect(docs.headers.get("content-type")).toContain("text/html")
        // Scalar's script inline (loaded on the first visit) and the API's paths in its spec.
        expect(docs.text.length).toBeGreaterThan(1_000_000)
        expect(docs.text).toContain("createApiReference")
        expect(docs.text).toContain("/v1/checkout")
        expect((await till.call("GET", "/docs", { as: null })).text).toBe(docs.text)
      })

      it("an unknown route is a 404 problem, a body over the limit a 413 problem; every answer has a request id", async () => {
        const missing = await till.call("GET", "/v2/anything", { as: null })
        expectProblem(missing, 404)
        expect(missing.headers.get("x-request-id")).toMatch(/^req_/)
        const echoed = await till.call("GET", "/health/live", {
          as: null,
          headers: { "x-request-id": "abc-123" }
        })
        expect(echoed.headers.get("x-request-id")).toBe("abc-123")
        expectProblem(
          await till.call("POST", "/v1/carts", { raw: JSON.stringify({ currency: "x".repeat(70_000) }) }),
          413
        )
      })
    })
  })

routes("embedded (in-memory ports)", async () => start())

await describeServices(["postgres", "redis", "kafka"], "real services", () =>
  routes("real services (Postgres, Redis, Kafka)", startOnServices)
)
