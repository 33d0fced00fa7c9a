/**
 * The hand-written baseline of the end-to-end bench: a plain Node HTTP server (`node:http`, `pg`,
 * `ioredis`, `kafkajs`, no framework) serving the part of API.md the bench drives, doing the same
 * durable work per checkout as `till start` on the same services (see checkout.ts for the steps,
 * store.ts, carts.ts and events.ts for each service). Run by Node's own type stripping:
 *
 *   node bench/e2e/baseline/server.ts   (settings below, from the environment)
 *
 * Routes: POST /v1/carts, POST /v1/carts/{id}/items, POST /v1/payment-methods, POST /v1/checkout,
 * PUT /v1/admin/products/{sku} (admin token), GET /health/ready. Not built, because the bench never
 * calls them: cart reads and edits other than adding, order reads, payment retries, the retry
 * queue of an unavailable gateway, the recovery sweeper, metrics.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import * as Carts from "./carts.ts"
import { checkout } from "./checkout.ts"
import * as Events from "./events.ts"
import * as Store from "./store.ts"
import { gateway as makeGateway, newId, problem, sealer as makeSealer, send, verifyToken } from "./support.ts"

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback
  if (value === undefined) throw new Error(`${name} is required`)
  return value
}

const maxBodyBytes = 64 * 1024

const readBody = (req: IncomingMessage): Promise<unknown> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBodyBytes) reject(new Error("body too large"))
      else chunks.push(chunk)
    })
    req.on("end", () => {
      if (size === 0) return resolve({})
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")))
      } catch {
        resolve(undefined)
      }
    })
    req.on("error", reject)
  })

const main = async () => {
  const secret = env("BASELINE_JWT_SECRET")
  const store = await Store.open(env("DATABASE_URL"), env("BASELINE_SCHEMA"))
  const carts = await Carts.open(env("REDIS_URL"), env("BASELINE_REDIS_PREFIX"))
  const events = await Events.start({
    brokers: env("KAFKA_BROKERS").split(","),
    ordersTopic: env("BASELINE_TOPIC_ORDERS"),
    cartsTopic: env("BASELINE_TOPIC_CARTS"),
    groupPrefix: env("BASELINE_GROUP_PREFIX"),
    pool: store.pool
  })
  const gateway = makeGateway(Number(env("BASELINE_GATEWAY_LATENCY_MS", "0")))
  const deps = { store, carts, gateway, sealer: makeSealer(env("BASELINE_SEAL_KEY")), keyId: "k1" }

  const cartJson = (cart: Carts.Cart) => {
    const items = cart.items.map((i) => ({
      sku: i.sku,
      name: i.name,
      quantity: i.quantity,
      unit_price: { amount: i.unit_price, currency: cart.currency },
      line_total: { amount: i.unit_price * i.quantity, currency: cart.currency }
    }))
    const subtotal = items.reduce((sum, i) => sum + i.line_total.amount, 0)
    return {
      cart_id: cart.cart_id,
      user_id: cart.user_id,
      status: cart.status,
      items,
      subtotal: { amount: subtotal, currency: cart.currency },
      updated_at: cart.updated_at
    }
  }

  const addItem = async (
    res: ServerResponse,
    userId: string,
    cartId: string,
    body: Record<string, unknown>
  ) => {
    const sku = body["sku"]
    const quantity = body["quantity"]
    if (typeof sku !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(sku))
      return send(res, 422, problem(422, "Invalid request", "sku"))
    if (typeof quantity !== "number" || !Number.isInteger(quantity) || quantity < 1 || quantity > 999)
      return send(res, 422, problem(422, "Invalid request", "quantity must be 1-999"))
    let [found, product] = await Promise.all([carts.get(cartId), store.product(sku)])
    for (let attempt = 0; attempt < 8; attempt++) {
      if (found === undefined || found.cart.user_id !== userId)
        return send(res, 404, problem(404, "Cart not found", `no cart ${cartId}`))
      if (found.cart.status !== "active") return send(res, 409, problem(409, "Cart not active", cartId))
      if (product === undefined) return send(res, 404, problem(404, "Unknown SKU", sku))
      const line = found.cart.items.find((i) => i.sku === sku)
      const items = line
        ? found.cart.items.map((i) => (i.sku === sku ? { ...i, quantity: i.quantity + quantity } : i))
        : [
            ...found.cart.items,
            { sku, name: product.name, quantity, unit_price: Number(product.price_minor) }
          ]
      const next = { ...found.cart, items, updated_at: new Date().toISOString() }
      if (await carts.write(next, found.version)) return send(res, 200, cartJson(next))
      found = await carts.get(cartId)
    }
    send(res, 503, problem(503, "Cart busy", "too many concurrent edits"), { "retry-after": "1" })
  }

  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? "/"
    if (req.method === "GET" && path === "/health/ready") {
      await Promise.all([store.ping(), carts.redis.ping()])
      return send(res, events.connected() ? 200 : 503, { status: events.connected() ? "ok" : "unavailable" })
    }
    const body = req.method === "POST" || req.method === "PUT" ? await readBody(req) : {}
    if (typeof body !== "object" || body === null)
      return send(res, 422, problem(422, "Invalid request", "the body is not a JSON object"))
    const b = body as Record<string, unknown>
    const caller = verifyToken(secret, req.headers.authorization)
    if (caller === undefined)
      return send(res, 401, problem(401, "Unauthorized", "a valid bearer token is required"))
    const parts = path.split("/")
    if (req.method === "POST" && path === "/v1/checkout") return checkout(deps, req, res, caller.sub, b)
    if (req.method === "POST" && path === "/v1/carts") {
      const cart: Carts.Cart = {
        cart_id: newId("cart"),
        user_id: caller.sub,
        status: "active",
        currency: typeof b["currency"] === "string" ? b["currency"] : "USD",
        items: [],
        order_id: null,
        updated_at: new Date().toISOString()
      }
      await carts.insert(cart)
      return send(res, 201, cartJson(cart))
    }
    if (req.method === "POST" && parts.length === 5 && parts[2] === "carts" && parts[4] === "items")
      return addItem(res, caller.sub, parts[3]!, b)
    if (req.method === "POST" && path === "/v1/payment-methods") {
      const card = b["card"] as Record<string, unknown> | undefined
      const valid =
        typeof card === "object" &&
        card !== null &&
        typeof card["number"] === "string" &&
        typeof card["cvc"] === "string" &&
        Number.isInteger(card["exp_month"]) &&
        Number.isInteger(card["exp_year"])
      const method = valid
        ? await gateway.tokenize(card as { number: string; exp_month: number; exp_year: number; cvc: string })
        : undefined
      if (method === undefined) return send(res, 422, problem(422, "Invalid card", "the card was refused"))
      return send(res, 201, { payment_method_id: method.id, brand: method.brand, last4: method.last4 })
    }
    if (req.method === "PUT" && parts.length === 5 && parts[2] === "admin" && parts[3] === "products") {
      if (!caller.admin) return send(res, 404, problem(404, "Not found", path))
      const price = b["price"] as { amount?: unknown; currency?: unknown } | undefined
      if (
        typeof b["name"] !== "string" ||
        typeof price?.amount !== "number" ||
        typeof b["on_hand"] !== "number"
      )
        return send(res, 422, problem(422, "Invalid request", "name, price, on_hand"))
      await store.putProduct(
        parts[4]!,
        b["name"],
        price.amount,
        String(price.currency ?? "USD"),
        b["on_hand"]
      )
      return send(res, 200, { sku: parts[4], on_hand: b["on_hand"] })
    }
    send(res, 404, problem(404, "Not found", path))
  }

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      console.error(`[baseline] ${req.method} ${req.url}: ${String(error)}`)
      if (!res.headersSent) send(res, 503, problem(503, "Unavailable", "try again"), { "retry-after": "1" })
    })
  })
  server.listen(Number(env("BASELINE_PORT")), "127.0.0.1")
  const stop = () => {
    server.close()
    server.closeIdleConnections()
    void events
      .stop()
      .then(() => Promise.allSettled([store.pool.end(), carts.redis.quit()]))
      .finally(() => process.exit(0))
  }
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
}

main().catch((error: unknown) => {
  console.error(`[baseline] failed to start: ${error instanceof Error ? error.stack : String(error)}`)
  process.exit(1)
})
