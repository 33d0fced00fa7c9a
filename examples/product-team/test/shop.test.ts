/**
 * Both apps of `shop/` (Effect and Promise facade), each started in-process on a free port and
 * driven over HTTP as a browser would: the shop's old routes still answer, a checkout confirms, a
 * declined card is the shop's 402, a sold-out item its 409, and one idempotency key sent twice
 * (one after the other, or at once) is one order.
 *
 * On the in-memory ports always; on Postgres, Redis and Kafka too (a schema, key prefix and topics
 * of each app's own, removed afterwards) when they answer at TILL_TEST_DATABASE_URL,
 * TILL_TEST_REDIS_URL and TILL_TEST_KAFKA_BROKERS (or the defaults): skipped with a message when
 * not, a failure with CI=true.
 */
import { Kafka, logLevel } from "kafkajs"
import { Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { Topics } from "@till/adapters/kafka"
import { PgLayer } from "@till/adapters/postgres"
import { randomBytes, randomUUID } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readTopic } from "../../../packages/adapters/test/support/kafka.js"
import { deleteRunKeys, rawClient } from "../../../packages/adapters/test/support/redis.js"
import { describeServices, serviceUrl } from "../../../packages/adapters/test/support/services.js"
import * as AppEffect from "../shop/app-effect.js"
import * as AppPromise from "../shop/app-promise.js"
import type { Running, StartOptions } from "../shop/server.js"

type Start = (options: StartOptions) => Promise<Running>

const apps: ReadonlyArray<readonly [string, Start]> = [
  ["the Effect app (ManagedRuntime)", AppEffect.start],
  ["the Promise app (PromiseClient)", AppPromise.start]
]

interface Answer<B> {
  readonly status: number
  readonly headers: Headers
  readonly body: B
}

interface CartBody {
  readonly cart_id: string
  readonly status: string
  readonly items: ReadonlyArray<{ readonly sku: string; readonly quantity: number }>
}

interface OrderBody {
  readonly order_id: string
  readonly status: string
  readonly total: { readonly amount: number; readonly currency: string }
  readonly payment: { readonly status: string; readonly last4: string } | null
}

interface ErrorBody {
  readonly error: string
  readonly message: string
  readonly [detail: string]: unknown
}

const address = {
  name: "Ada Lovelace",
  line1: "12 St James's Square",
  city: "London",
  postal_code: "SW1Y 4JH",
  country: "GB"
}

/** A signed-in customer of the shop at `url` (a new one each time: rate limits are per customer). */
const customer = (url: string, id = `customer-${randomUUID()}`) => {
  const call = async <B>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {}
  ): Promise<Answer<B>> => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { "x-customer-id": id, "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })
    })
    return { status: response.status, headers: response.headers, body: (await response.json()) as B }
  }
  return {
    call,
    /** A new cart holding `quantity` of `sku`. */
    cartWith: async (sku: string, quantity: number): Promise<string> => {
      const cart = await call<CartBody>("POST", "/carts")
      expect(cart.status).toBe(201)
      const added = await call<CartBody>("POST", `/carts/${cart.body.cart_id}/items`, { sku, quantity })
      expect(added.status).toBe(200)
      return cart.body.cart_id
    },
    /** A saved card with this number (the fake gateway's test cards). */
    card: async (number: string): Promise<string> => {
      const saved = await call<{ payment_method_id: string; last4: string }>("POST", "/payment-methods", {
        card: { number, exp_month: 12, exp_year: 2030, cvc: "123" }
      })
      expect(saved.status).toBe(201)
      expect(saved.body.last4).toBe(number.slice(-4))
      return saved.body.payment_method_id
    },
    checkout: <B = OrderBody>(key: string, cartId: string, paymentMethodId: string) =>
      call<B>(
        "POST",
        "/checkout",
        { cart_id: cartId, shipping_address: address, payment_method_id: paymentMethodId },
        { "idempotency-key": key }
      )
  }
}

const payingCard = "4242424242424242"
const declinedCard = "4000000000000002"

interface Backend {
  /** The app's settings (its `env`), read once per app. */
  readonly env: () => Record<string, string>
  /** Makes ready what the app needs before it starts. */
  readonly prepare?: (env: Record<string, string>) => Promise<void>
  /** Removes what the app left behind, after it closed. */
  readonly cleanUp?: (env: Record<string, string>) => Promise<void>
  /** Cases of the backend's own. */
  readonly more?: (shop: () => Shop) => void
}

type Shop = Running & { readonly env: Record<string, string> }

/** The cases, against the app `start` answers on `backend`. */
const shopCases = (start: Start, backend: Backend) => {
  let shop: Shop | undefined
  let env: Record<string, string> | undefined
  const running = () => {
    if (shop === undefined) throw new Error("the shop did not start")
    return shop
  }
  beforeAll(async () => {
    env = backend.env()
    await backend.prepare?.(env)
    shop = { ...(await start({ port: 0, env })), env }
  })
  afterAll(async () => {
    await shop?.close()
    if (env !== undefined) await backend.cleanUp?.(env)
  })

  it("the shop's own routes answer as before", async () => {
    const alice = customer(running().url)
    expect(await alice.call("GET", "/health")).toMatchObject({ status: 200, body: { status: "ok" } })
    const products = await alice.call<{ products: ReadonlyArray<{ sku: string }> }>("GET", "/products")
    expect(products.status).toBe(200)
    expect(products.body.products.map((p) => p.sku)).toEqual(["mug", "tee", "poster-signed"])
  })

  it("a checkout confirms (201), and its order and cart read back", async () => {
    const alice = customer(running().url)
    const cartId = await alice.cartWith("mug", 2)
    const placed = await alice.checkout("order-1", cartId, await alice.card(payingCard))
    expect(placed.status).toBe(201)
    expect(placed.body).toMatchObject({
      status: "confirmed",
      payment: { status: "succeeded", last4: "4242" }
    })
    expect(placed.body.total.amount).toBeGreaterThanOrEqual(3_000) // 2 x 15.00 USD, plus shipping and tax
    const order = await alice.call<OrderBody>("GET", `/orders/${placed.body.order_id}`)
    expect(order).toMatchObject({
      status: 200,
      body: { order_id: placed.body.order_id, status: "confirmed" }
    })
    const cart = await alice.call<CartBody>("GET", `/carts/${cartId}`)
    expect(cart.body.status).toBe("checked_out")
    // Another customer's order does not exist for them.
    expect((await customer(running().url).call("GET", `/orders/${placed.body.order_id}`)).status).toBe(404)
  })

  it("a declined card answers the shop's 402 with the order and the decline code", async () => {
    const bob = customer(running().url)
    const cartId = await bob.cartWith("tee", 1)
    const declined = await bob.checkout<ErrorBody>("order-1", cartId, await bob.card(declinedCard))
    expect(declined.status).toBe(402)
    expect(declined.body).toMatchObject({ error: "payment_declined", decline_code: "card_declined" })
    const order = await bob.call<OrderBody>("GET", `/orders/${String(declined.body["order_id"])}`)
    expect(order.body).toMatchObject({ status: "payment_failed", payment: { status: "failed" } })
  })

  it("a sold-out item answers the shop's 409 with what is short", async () => {
    const carol = customer(running().url)
    const cartId = await carol.cartWith("poster-signed", 5) // 3 in stock
    const refused = await carol.checkout<ErrorBody>("order-1", cartId, await carol.card(payingCard))
    expect(refused.status).toBe(409)
    expect(refused.body).toMatchObject({
      error: "out_of_stock",
      items: [{ sku: "poster-signed", requested: 5, available: 3 }]
    })
  })

  it("one idempotency key sent twice, one after the other or at once, is one order", async () => {
    const dave = customer(running().url)
    const card = await dave.card(payingCard)
    // A double click: the second submission answers the first's order.
    const cartId = await dave.cartWith("mug", 1)
    const first = await dave.checkout("double-click", cartId, card)
    const again = await dave.checkout("double-click", cartId, card)
    expect(first.status).toBe(201)
    expect(again).toMatchObject({ status: 201, body: { order_id: first.body.order_id } })
    // Two at once: each is the order, or "still in progress" (then sent again, as a client would).
    const racedCart = await dave.cartWith("mug", 1)
    const raced = await Promise.all([1, 2].map(() => dave.checkout("raced", racedCart, card)))
    for (const answer of raced) expect([201, 409]).toContain(answer.status)
    const settled = await Promise.all(
      raced.map(async (answer) => {
        let current = answer
        for (let attempt = 0; current.status === 409 && attempt < 50; attempt++) {
          expect((current.body as unknown as ErrorBody).error).toBe("checkout_in_progress")
          expect(current.headers.get("retry-after")).toBe("1")
          await new Promise((resolve) => setTimeout(resolve, 100))
          current = await dave.checkout("raced", racedCart, card)
        }
        return current
      })
    )
    expect(settled.map((a) => a.status)).toEqual([201, 201])
    expect(settled[0]?.body.order_id).toBe(settled[1]?.body.order_id)
    // And the cart is paid once whatever the key: a new key for it is refused.
    const newKey = await dave.checkout<ErrorBody>("another-key", racedCart, card)
    expect(newKey).toMatchObject({ status: 409, body: { error: "cart_not_active" } })
  })

  it("bad requests get the shop's own 4xx answers", async () => {
    const erin = customer(running().url)
    const anonymous = await fetch(`${running().url}/carts`, { method: "POST" })
    expect(anonymous.status).toBe(401)
    expect(await anonymous.json()).toMatchObject({ error: "sign_in_required" })
    expect((await erin.call<ErrorBody>("GET", "/carts/cart_unknown")).body.error).toBe("not_found")
    expect((await erin.call<ErrorBody>("POST", "/carts/x/items", "{not json")).body.error).toBe(
      "invalid_json"
    )
    const cartId = await erin.cartWith("mug", 1)
    const noSuchSku = await erin.call<ErrorBody>("POST", `/carts/${cartId}/items`, {
      sku: "hat",
      quantity: 1
    })
    expect(noSuchSku).toMatchObject({ status: 404, body: { error: "sku_not_found" } })
    const badQuantity = await erin.call<ErrorBody>("POST", `/carts/${cartId}/items`, {
      sku: "mug",
      quantity: 0
    })
    expect(badQuantity).toMatchObject({ status: 400, body: { error: "invalid_request" } })
    const noKey = await erin.call<ErrorBody>("POST", "/checkout", {
      cart_id: cartId,
      shipping_address: address,
      payment_method_id: await erin.card(payingCard)
    })
    expect(noKey).toMatchObject({ status: 400, body: { error: "invalid_request" } })
    const badCard = await erin.call<ErrorBody>("POST", "/payment-methods", {
      card: { number: "4242424242424241", exp_month: 12, exp_year: 2030, cvc: "123" }
    })
    expect(badCard).toMatchObject({ status: 422, body: { error: "payment_method_invalid" } })
  })

  backend.more?.(running)
}

for (const [name, start] of apps) {
  describe(`${name} on the in-memory ports`, () => shopCases(start, { env: () => ({}) }))
}

// --- on Postgres, Redis and Kafka ------------------------------------------------------------

/** The services' settings, with a schema, key prefix and topics no other run uses. */
const servicesEnv = (): Record<string, string> => {
  const id = randomUUID().replaceAll("-", "").slice(0, 12)
  return {
    DATABASE_URL: serviceUrl("postgres"),
    POSTGRES_SCHEMA: `example_shop_${id}`,
    POSTGRES_MAX_CONNECTIONS: "5",
    PAYMENTS_KEYS: `test=${randomBytes(32).toString("base64")}`,
    PAYMENTS_CURRENT_KEY_ID: "test",
    REDIS_URL: serviceUrl("redis"),
    REDIS_KEY_PREFIX: `example-shop:${id}:`,
    KAFKA_BROKERS: serviceUrl("kafka"),
    KAFKA_TOPICS_ORDERS: `shop${id}.orders`,
    KAFKA_TOPICS_CARTS: `shop${id}.carts`,
    KAFKA_TOPICS_PARTITIONS: "1",
    KAFKA_LOG_LEVEL: "nothing"
  }
}

const kafkaAdmin = (env: Record<string, string>) =>
  new Kafka({ brokers: env["KAFKA_BROKERS"]!.split(","), logLevel: logLevel.NOTHING }).admin()

/** The run's topics and their dead-letter topics (`Topics.all`). */
const topicsOf = (env: Record<string, string>) =>
  [env["KAFKA_TOPICS_ORDERS"]!, env["KAFKA_TOPICS_CARTS"]!].flatMap((topic) => [
    topic,
    Topics.deadLetterOf(topic)
  ])

/**
 * Creates the run's topics and waits for their leaders before the app starts. The app would create
 * them itself (`Topics.layerConfig`), but kafkajs's `createTopics` can fail a creation whose
 * metadata has not reached the broker yet (UNKNOWN_TOPIC_OR_PARTITION), which made a run flaky.
 */
const createTopics = async (env: Record<string, string>) => {
  const admin = kafkaAdmin(env)
  const topics = topicsOf(env)
  await admin.connect()
  try {
    await admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: 1 })),
      waitForLeaders: false
    })
    const ready = () =>
      admin.fetchTopicMetadata({ topics }).then(
        ({ topics: found }) =>
          found.length === topics.length &&
          found.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)),
        () => false // not known to the broker yet
      )
    for (const deadline = Date.now() + 20_000; !(await ready()); ) {
      if (Date.now() > deadline) throw new Error(`topics ${topics.join(", ")} have no leaders after 20 s`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    await admin.disconnect()
  }
}

/** Drops the run's schema, deletes its Redis keys and its topics. */
const cleanUp = async (env: Record<string, string>) => {
  const schema = env["POSTGRES_SCHEMA"]!
  await Effect.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`
    }).pipe(
      Effect.provide(
        PgLayer.layerWith({ url: Redacted.make(env["DATABASE_URL"]!), maxConnections: 1, minConnections: 0 })
      )
    )
  )
  const redis = rawClient(env["REDIS_URL"])
  await deleteRunKeys(redis, env["REDIS_KEY_PREFIX"])
  await redis.quit()
  const admin = kafkaAdmin(env)
  await admin.connect()
  await admin.deleteTopics({ topics: topicsOf(env) })
  await admin.disconnect()
}

await describeServices(["postgres", "redis", "kafka"], "the shop on Postgres, Redis and Kafka", () => {
  for (const [name, start] of apps) {
    describe(name, () =>
      shopCases(start, {
        env: servicesEnv,
        prepare: createTopics,
        cleanUp,
        more: (shop) => {
          it("a confirmed order's order.confirmed reaches Kafka, keyed by the order", async () => {
            const frank = customer(shop().url)
            const cartId = await frank.cartWith("mug", 1)
            const placed = await frank.checkout("order-1", cartId, await frank.card(payingCard))
            expect(placed.status).toBe(201)
            const orderId = placed.body.order_id
            const received = await readTopic(shop().env["KAFKA_TOPICS_ORDERS"]!, (messages) =>
              messages.some((m) => m.key === orderId && m.headers["type"] === "order.confirmed")
            )
            const types = received.filter((m) => m.key === orderId).map((m) => m.headers["type"])
            expect(types.indexOf("order.created")).toBeGreaterThanOrEqual(0)
            expect(types.indexOf("order.created")).toBeLessThan(types.indexOf("order.confirmed"))
          })
        }
      })
    )
  }
})
