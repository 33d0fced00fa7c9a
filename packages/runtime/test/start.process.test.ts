/**
 * `till start` as a process: settings errors exit non-zero naming the variable; SIGTERM during a
 * burst of checkouts stops the server gracefully (exit 0, in bounded time, no 5xx) and loses
 * nothing: after a restart on the same Postgres schema and a recovery sweep, every order is
 * terminal, at most one payment of an order succeeded, and stock accounting is exact.
 */
import pg from "pg"
import { expect, it } from "vitest"
import { describeServices, serviceUrl } from "./support/services.js"
import { card } from "./support/http.js"
import { call as callOn, checkoutBurst, secret, startToEnd, till, waitReady } from "./support/process.js"
import { freePort } from "../../adapters/test/support/net.js"

it("a bad setting names its variable and exits 1 before opening a port", async () => {
  const result = await startToEnd({ TILL_HTTP_PORT: "99999" })
  expect(result.code).toBe(1)
  expect(result.output).toContain("TILL_HTTP_PORT")
}, 40_000)

it("outside development, a missing TILL_JWT_SECRET refuses to start", async () => {
  const result = await startToEnd({ TILL_ENV: "production" })
  expect(result.code).toBe(1)
  expect(result.output).toContain("TILL_JWT_SECRET")
}, 40_000)

await describeServices(["postgres"], "till start on Postgres", () => {
  it("SIGTERM during a burst of checkouts: exit 0, no 5xx, and after a restart every order is terminal", async () => {
    const schema = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`
    const port = await freePort()
    const env = {
      DATABASE_URL: serviceUrl("postgres"),
      POSTGRES_SCHEMA: schema,
      TILL_HTTP_PORT: String(port),
      TILL_JWT_SECRET: secret,
      TILL_ENV: "development",
      TILL_SHUTDOWN_GRACE_MS: "15000",
      TILL_RECOVERY_EVERY_MS: "500",
      TILL_CLUSTER_HOST: "127.0.0.1",
      TILL_CLUSTER_PORT: String(await freePort())
    }
    const call = (
      user: string,
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {}
    ) => callOn(port, user, method, path, body, headers)

    const first = till(env)
    await waitReady(port)
    const onHand = 500
    await call("ops", "PUT", "/v1/admin/products/burst", {
      name: "Burst item",
      price: { amount: 999, currency: "USD" },
      on_hand: onHand
    })
    const buyers = Array.from({ length: 120 }, (_, i) => `buyer${i}`)
    const ready = await Promise.all(
      buyers.map(async (user) => {
        const cart = (await (await call(user, "POST", "/v1/carts", {})).json()) as { cart_id: string }
        await call(user, "POST", `/v1/carts/${cart.cart_id}/items`, { sku: "burst", quantity: 2 })
        const method = (await (
          await call(user, "POST", "/v1/payment-methods", card("4242424242424242"))
        ).json()) as {
          payment_method_id: string
        }
        return { user, port, cartId: cart.cart_id, methodId: method.payment_method_id }
      })
    )
    // The burst, and SIGTERM once a few checkouts have answered.
    const { statuses, done, whenAnswered } = checkoutBurst(ready, 15)
    await whenAnswered(5)
    const signalledAt = Date.now()
    first.child.kill("SIGTERM")
    await done
    const code = await first.exited
    expect(code, first.output()).toBe(0)
    expect(Date.now() - signalledAt).toBeLessThan(20_000)
    expect(statuses.filter((s) => typeof s === "number" && s >= 500)).toEqual([])
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(5)
    // The burst outlasted the server: later checkouts found it closed.
    expect(statuses.filter((s) => s === "refused").length).toBeGreaterThan(0)

    // Restart on the same schema; the sweeper drives anything left.
    const second = till(env)
    await waitReady(port)
    await new Promise((res) => setTimeout(res, 3_000))
    const db = new pg.Client({ connectionString: serviceUrl("postgres") })
    await db.connect()
    try {
      const orders = await db.query(`SELECT order_id, status FROM ${schema}.orders`)
      const terminal = new Set(["confirmed", "payment_failed", "cancelled", "expired"])
      expect(orders.rows.filter((o) => !terminal.has(o.status))).toEqual([])
      const doubled = await db.query(
        `SELECT order_id FROM ${schema}.payments WHERE status = 'succeeded' GROUP BY order_id HAVING count(*) > 1`
      )
      expect(doubled.rows).toEqual([])
      const confirmed = orders.rows.filter((o) => o.status === "confirmed").length
      // A checkout answered 201 is confirmed; one cut off by the shutdown may have been too.
      const ok = statuses.filter((s) => s === 201).length
      expect(confirmed).toBeGreaterThanOrEqual(ok)
      expect(confirmed).toBeLessThanOrEqual(ok + statuses.filter((s) => s === "refused").length)
      const stock = await db.query(`SELECT on_hand, reserved FROM ${schema}.stock WHERE sku = 'burst'`)
      expect(stock.rows[0]).toEqual({ on_hand: onHand - 2 * confirmed, reserved: 0 })
      second.child.kill("SIGTERM")
      expect(await second.exited, second.output().slice(-3000)).toBe(0)
    } finally {
      second.child.kill("SIGKILL")
      await db.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined)
      await db.end()
    }
  }, 180_000)
})
