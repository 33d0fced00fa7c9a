/**
 * Three `till start` instances on one Postgres schema and one Redis prefix (issue 17): they form
 * one cluster (beside a neighbour deployment in another schema of the same database, which must
 * not take their shard locks), so each background job runs on exactly one of them; one
 * user's requests served by the instances in turn (a checkout replayed on the others) have single
 * effects; and when the instance
 * running the abandonment job is killed (-9), another takes the job over within the shard locks'
 * expiry, reporting each abandoned cart once across the whole run. And a kill -9 of one of two
 * instances during a burst of checkouts: the recovery sweeper, now on the survivor, drives every
 * order the dead one left to a terminal state, with no oversell and no double charge.
 */
import pg from "pg"
import { expect, it } from "vitest"
import { freePort } from "../../adapters/test/support/net.js"
import { address, card } from "./support/http.js"
import { call, checkoutBurst, metric, secret, type Till, till, waitReady } from "./support/process.js"
import { describeServices, serviceUrl } from "./support/services.js"

const lockExpirationMs = 3_000

/** The environment of instance `i` of a test's cluster on `schema` (ports from `ports`). */
const clusterEnv =
  (
    tag: string,
    ports: ReadonlyArray<number>,
    clusterPorts: ReadonlyArray<number>,
    extra: Record<string, string> = {}
  ) =>
  (i: number) => ({
    DATABASE_URL: serviceUrl("postgres"),
    POSTGRES_SCHEMA: `t_${tag}`,
    REDIS_URL: serviceUrl("redis"),
    REDIS_KEY_PREFIX: `till-cluster-test:${tag}:`,
    TILL_HTTP_PORT: String(ports[i]),
    TILL_CLUSTER_HOST: "127.0.0.1",
    TILL_CLUSTER_PORT: String(clusterPorts[i]),
    TILL_CLUSTER_LOCK_EXPIRATION_MS: String(lockExpirationMs),
    TILL_JWT_SECRET: secret,
    TILL_ENV: "development",
    ...extra
  })

/** `n` fresh ports for the HTTP servers and `n` for the cluster runners. */
const portsFor = async (n: number) => ({
  ports: await Promise.all(Array.from({ length: n }, () => freePort())),
  clusterPorts: await Promise.all(Array.from({ length: n }, () => freePort()))
})

/** The live instances whose log says `job` runs there now: its last start not followed by a stop. */
const runnersOf = (instances: ReadonlyArray<Till>, job: string) =>
  instances.flatMap((instance, i) => {
    if (instance.child.exitCode !== null || instance.child.signalCode !== null) return []
    const lines = instance
      .output()
      .split("\n")
      .filter((line) => line.includes(`"${job}"`) && line.includes("on this instance"))
    return lines.at(-1)?.includes("job started") ? [i] : []
  })

const until = async (what: string, check: () => Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`timed out waiting for ${what}`)
}

await describeServices(["postgres", "redis"], "three till start instances on one Postgres and Redis", () => {
  it("one cluster: each job on one instance, single effects across instances, the abandonment job moves after kill -9", async () => {
    const tag = crypto.randomUUID().replaceAll("-", "").slice(0, 12)
    const schema = `t_${tag}`
    const { ports, clusterPorts } = await portsFor(3)
    const env = clusterEnv(tag, ports, clusterPorts, {
      TILL_ABANDONMENT_EVERY_MS: "300",
      TILL_ABANDONED_AFTER_MS: "1500"
    })
    // A neighbour: another deployment in another schema of the same database, already running.
    const neighbourTag = crypto.randomUUID().replaceAll("-", "").slice(0, 12)
    const neighbourPorts = await portsFor(1)
    const neighbour = till(clusterEnv(neighbourTag, neighbourPorts.ports, neighbourPorts.clusterPorts)(0))
    await waitReady(neighbourPorts.ports[0]!)
    await until(
      "the neighbour's jobs",
      async () => runnersOf([neighbour], "till/outbox-relay").length === 1,
      30_000
    )
    // The first creates the schema alone (migrations), then the other two join.
    const instances = [till(env(0))]
    await waitReady(ports[0]!)
    instances.push(till(env(1)), till(env(2)))
    await Promise.all([waitReady(ports[1]!), waitReady(ports[2]!)])
    const db = new pg.Client({ connectionString: serviceUrl("postgres") })
    await db.connect()
    try {
      // One user, served by the three instances in turn.
      await call(ports[0]!, "ops", "PUT", "/v1/admin/products/mug", {
        name: "Mug",
        price: { amount: 1_500, currency: "USD" },
        on_hand: 10
      })
      const cart = (await (await call(ports[1]!, "alice", "POST", "/v1/carts", {})).json()) as {
        cart_id: string
      }
      expect(
        (
          await call(ports[2]!, "alice", "POST", `/v1/carts/${cart.cart_id}/items`, {
            sku: "mug",
            quantity: 2
          })
        ).status
      ).toBe(200)
      expect(
        (
          await call(ports[0]!, "alice", "POST", `/v1/carts/${cart.cart_id}/items`, {
            sku: "mug",
            quantity: 1
          })
        ).status
      ).toBe(200)
      const method = (await (
        await call(ports[1]!, "alice", "POST", "/v1/payment-methods", card("4242424242424242"))
      ).json()) as {
        payment_method_id: string
      }
      // The checkout on one instance, then the same request (same key) to the other two at once:
      // they answer the stored order from the shared store. One order, one charge. (The fake
      // gateway of each process holds its own tokens, so the first try goes where the card was
      // tokenized; a real gateway's tokens are everyone's.)
      const checkout = (port: number) =>
        call(
          port,
          "alice",
          "POST",
          "/v1/checkout",
          { cart_id: cart.cart_id, payment_method_id: method.payment_method_id, shipping_address: address },
          { "idempotency-key": `cluster-${tag}` }
        )
      const first = await checkout(ports[1]!)
      expect(first.status).toBe(201)
      const orderId = ((await first.json()) as { order_id: string }).order_id
      const replays = await Promise.all([checkout(ports[0]!), checkout(ports[2]!)])
      for (const replay of replays) {
        expect(replay.status).toBe(201)
        expect(((await replay.json()) as { order_id: string }).order_id).toBe(orderId)
      }
      const orders = new Set([orderId])
      const charged = await db.query(`SELECT order_id FROM ${schema}.payments WHERE status = 'succeeded'`)
      expect(charged.rows.map((r) => r.order_id)).toEqual([...orders])
      expect((await db.query(`SELECT on_hand FROM ${schema}.stock WHERE sku = 'mug'`)).rows[0]).toEqual({
        on_hand: 7
      })

      // Each job runs on exactly one instance.
      await until(
        "every job to start",
        async () =>
          [
            "till/payment-retry-drainer",
            "till/recovery-sweeper",
            "till/outbox-relay",
            "till/cart-abandonment",
            "till/payment-reconciliation",
            "till/housekeeping"
          ].every((job) => runnersOf(instances, job).length === 1),
        30_000
      )

      // Abandoned carts: six left by six users on the three instances, each reported once.
      // An edit goes through the cart's entity; while its shard is moving (after a kill, until the
      // dead instance's locks expire) it answers 503 with Retry-After, and the client tries again.
      const leave = async (users: ReadonlyArray<string>, on: ReadonlyArray<number>) => {
        for (const [i, user] of users.entries()) {
          const port = ports[on[i % on.length]!]!
          const c = (await (await call(port, user, "POST", "/v1/carts", {})).json()) as { cart_id: string }
          const deadline = Date.now() + 30_000
          let answer = await call(port, user, "POST", `/v1/carts/${c.cart_id}/items`, {
            sku: "mug",
            quantity: 1
          })
          while (answer.status === 503 && Date.now() < deadline) {
            expect(answer.headers.get("retry-after")).not.toBeNull()
            await new Promise((r) => setTimeout(r, 500))
            answer = await call(port, user, "POST", `/v1/carts/${c.cart_id}/items`, {
              sku: "mug",
              quantity: 1
            })
          }
          expect(answer.status).toBe(200)
        }
      }
      const reported = async (live: ReadonlyArray<number>) => {
        let sum = 0
        for (const i of live) sum += await metric(ports[i]!, "till_carts_abandoned_total")
        return sum
      }
      await leave(["u1", "u2", "u3", "u4", "u5", "u6"], [0, 1, 2])
      await until("six abandoned carts", async () => (await reported([0, 1, 2])) >= 6, 20_000)
      await new Promise((r) => setTimeout(r, 1_500)) // rounds keep running: nothing more
      expect(await reported([0, 1, 2])).toBe(6)
      // Each report came from an instance the job ran on. Not necessarily the one it runs on now:
      // the job may move once more while the three instances' shards settle (a CI run saw the six
      // reported by one instance and the job on another a moment later).
      const before: Array<number> = []
      for (const i of [0, 1, 2]) {
        before[i] = await metric(ports[i]!, "till_carts_abandoned_total")
        if (before[i] > 0)
          expect(instances[i]!.output()).toMatch(/job started on this instance.*till\/cart-abandonment/)
      }
      const [owner] = runnersOf(instances, "till/cart-abandonment")

      // kill -9 the job's instance; three more carts are left; a survivor takes the job over.
      instances[owner!]!.child.kill("SIGKILL")
      await instances[owner!]!.exited
      const killedAt = Date.now()
      const survivors = [0, 1, 2].filter((i) => i !== owner)
      await leave(["u7", "u8", "u9"], survivors)
      // What the survivors report from now on (one of them may have reported some of the six).
      const reportedSince = async () =>
        (await reported(survivors)) - survivors.reduce((sum, i) => sum + before[i]!, 0)
      await until(
        "the three new carts reported by a survivor",
        async () => (await reportedSince()) >= 3,
        30_000
      )
      const movedAfterMs = Date.now() - killedAt
      // On exactly one survivor, once a move in flight has landed (between one instance's "stopped"
      // and the next one's "started" neither runs it: a local run caught that moment).
      await until(
        "the job on one survivor",
        async () => runnersOf(instances, "till/cart-abandonment").filter((i) => i !== owner).length === 1,
        10_000
      )
      await new Promise((r) => setTimeout(r, 1_500))
      // The six reported before the kill are not reported again.
      expect(await reportedSince()).toBe(3)
      console.info(
        `cart-abandonment job moved ${movedAfterMs} ms after kill -9 (lock expiry ${lockExpirationMs} ms)`
      )
      // A rolling stop: each survivor in turn hands its shards over and exits 0.
      for (const i of survivors) {
        instances[i]!.child.kill("SIGTERM")
        expect(await instances[i]!.exited, instances[i]!.output().slice(-2_000)).toBe(0)
      }
    } finally {
      if (process.env["TILL_DEBUG_CLUSTER"])
        for (const [i, instance] of instances.entries())
          (await import("node:fs")).writeFileSync(`/tmp/cluster-${i}.log`, instance.output())
      for (const instance of [...instances, neighbour]) instance.child.kill("SIGKILL")
      await db.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined)
      await db.query(`DROP SCHEMA t_${neighbourTag} CASCADE`).catch(() => undefined)
      await db.end()
    }
  }, 180_000)

  it("kill -9 of an instance during a burst of checkouts: every order ends terminal, no oversell, no double charge", async () => {
    const tag = crypto.randomUUID().replaceAll("-", "").slice(0, 12)
    const schema = `t_${tag}`
    const { ports, clusterPorts } = await portsFor(2)
    const env = clusterEnv(tag, ports, clusterPorts, {
      TILL_RECOVERY_EVERY_MS: "500",
      TILL_RECOVERY_STALE_AFTER_MS: "2000"
    })
    const instances = [till(env(0))]
    await waitReady(ports[0]!)
    instances.push(till(env(1)))
    await waitReady(ports[1]!)
    const db = new pg.Client({ connectionString: serviceUrl("postgres") })
    await db.connect()
    try {
      const onHand = 60
      await call(ports[0]!, "ops", "PUT", "/v1/admin/products/burst", {
        name: "Burst item",
        price: { amount: 999, currency: "USD" },
        on_hand: onHand
      })
      // 80 buyers of one unit each for 60 units, half on each instance (where their card is).
      const buyers = await Promise.all(
        Array.from({ length: 80 }, async (_, i) => {
          const user = `buyer${i}`
          const port = ports[i % 2]!
          const cart = (await (await call(port, user, "POST", "/v1/carts", {})).json()) as { cart_id: string }
          await call(port, user, "POST", `/v1/carts/${cart.cart_id}/items`, { sku: "burst", quantity: 1 })
          const method = (await (
            await call(port, user, "POST", "/v1/payment-methods", card("4242424242424242"))
          ).json()) as {
            payment_method_id: string
          }
          return { user, port, cartId: cart.cart_id, methodId: method.payment_method_id }
        })
      )
      const { statuses, done, whenAnswered } = checkoutBurst(buyers, 10)
      await whenAnswered(10)
      instances[0]!.child.kill("SIGKILL")
      await done
      // Only the dead instance's connections fail; the survivor answers honestly.
      expect(statuses.filter((s) => typeof s === "number" && s >= 500)).toEqual([])
      expect(statuses.filter((s) => s === "refused").length).toBeGreaterThan(0)

      const terminal = ["confirmed", "payment_failed", "cancelled", "expired"]
      let stuck: Array<{ order_id: string; status: string }> = []
      await until(
        "every order terminal",
        async () => {
          stuck = (
            await db.query(`SELECT order_id, status FROM ${schema}.orders WHERE NOT (status = ANY($1))`, [
              terminal
            ])
          ).rows
          return stuck.length === 0
        },
        60_000
      ).catch((error) => {
        throw new Error(`${error}: ${JSON.stringify(stuck)}\n${instances[1]!.output().slice(-3_000)}`)
      })
      const doubled = await db.query(
        `SELECT order_id FROM ${schema}.payments WHERE status = 'succeeded' GROUP BY order_id HAVING count(*) > 1`
      )
      expect(doubled.rows).toEqual([])
      const confirmed = Number(
        (await db.query(`SELECT count(*) AS n FROM ${schema}.orders WHERE status = 'confirmed'`)).rows[0].n
      )
      expect(confirmed).toBeGreaterThan(0)
      expect(confirmed).toBeLessThanOrEqual(onHand)
      const stock = await db.query(`SELECT on_hand, reserved FROM ${schema}.stock WHERE sku = 'burst'`)
      expect(stock.rows[0]).toEqual({ on_hand: onHand - confirmed, reserved: 0 })
      // The sweeper moves to the survivor once the dead runner's shard locks expire; the orders
      // may all be terminal before that (their requests ended them), so wait for it.
      await until(
        "the recovery sweeper running on the survivor",
        async () => runnersOf(instances, "till/recovery-sweeper").join() === "1",
        lockExpirationMs + 30_000
      )
    } finally {
      if (process.env["TILL_DEBUG_CLUSTER"])
        for (const [i, instance] of instances.entries())
          (await import("node:fs")).writeFileSync(`/tmp/burst-${i}.log`, instance.output())
      for (const instance of instances) instance.child.kill("SIGKILL")
      await db.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined)
      await db.end()
    }
  }, 180_000)
})
