/** An in-process Till: the HTTP app on the embedded ports, called as `fetch` would be. */
import { freePort } from "../../../adapters/test/support/net.js"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { App, Auth, Embedded, Health, Jwt, Settings, Start } from "@till/runtime"
import { serviceUrl } from "./services.js"
import type { TestTill } from "@till/testkit"

export const secret = "test-secret-0123456789abcdef0123456789"

export const token = (sub: string, extra: { readonly role?: "admin"; readonly exp?: number } = {}) =>
  Jwt.sign(secret, { sub, exp: extra.exp ?? Math.floor(Date.now() / 1000) + 3600, role: extra.role })

export interface Answer {
  readonly status: number
  readonly headers: Headers
  // biome-ignore lint/suspicious/noExplicitAny: a JSON answer read loosely; each test asserts the shape it needs
  readonly body: any
  readonly text: string
}

export interface Client {
  readonly call: (
    method: string,
    path: string,
    options?: {
      readonly as?: string | null
      readonly admin?: boolean
      readonly body?: unknown
      readonly raw?: string
      readonly headers?: Record<string, string>
    }
  ) => Promise<Answer>
  readonly dispose: () => Promise<void>
}

/** A fresh embedded Till. `as` is the caller's user id (null: no token). */
export const start = (
  options: TestTill.Options = {},
  more: { readonly checks?: ReadonlyArray<Health.Check>; readonly layer?: Layer.Layer<never> } = {}
): Client =>
  client(
    App.webHandler(
      Layer.mergeAll(
        Embedded.layer(options),
        Layer.succeed(Auth.JwtSecret, Redacted.make(secret)),
        Health.layer(more.checks ?? []),
        more.layer ?? Layer.empty
      )
    )
  )

/**
 * A fresh Till on the real services, as `till start` builds it (Start.services), isolated from
 * any other run: its own Postgres schema, Redis key prefix, Kafka topics and consumer groups.
 */
export const startOnServices = async (more: Record<string, string> = {}): Promise<Client> => {
  const run = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`
  const env = {
    // Its own cluster port: two files starting a Till at once must not take each other's.
    TILL_CLUSTER_PORT: String(await freePort()),
    DATABASE_URL: serviceUrl("postgres"),
    POSTGRES_SCHEMA: run,
    REDIS_URL: serviceUrl("redis"),
    REDIS_KEY_PREFIX: `${run}:`,
    KAFKA_BROKERS: serviceUrl("kafka"),
    KAFKA_TOPICS_ORDERS: `${run}.orders`,
    KAFKA_TOPICS_CARTS: `${run}.carts`,
    KAFKA_GROUP_PREFIX: run,
    TILL_ENV: "development",
    TILL_JWT_SECRET: secret,
    ...more
  }
  const provider = ConfigProvider.layer(Settings.provider(env))
  const settings = await Effect.runPromise(
    Effect.provide(
      Effect.gen(function* () {
        return yield* Settings.config
      }),
      provider
    )
  )
  return client(App.webHandler(Start.services(settings, Redacted.make(secret)).pipe(Layer.provide(provider))))
}

const client = ({
  handler,
  dispose
}: {
  readonly handler: (request: Request) => Promise<Response>
  readonly dispose: () => Promise<void>
}): Client => {
  return {
    call: async (method, path, options = {}) => {
      const headers: Record<string, string> = { ...options.headers }
      const as = options.as === undefined ? "alice" : options.as
      if (as !== null)
        headers["authorization"] = `Bearer ${token(as, options.admin ? { role: "admin" } : {})}`
      let body: string | undefined
      if (options.raw !== undefined) body = options.raw
      else if (options.body !== undefined) body = JSON.stringify(options.body)
      if (body !== undefined && headers["content-type"] === undefined)
        headers["content-type"] = "application/json"
      const init: RequestInit = body === undefined ? { method, headers } : { method, headers, body }
      const response = await handler(new Request(`http://till.test${path}`, init))
      const text = await response.text()
      let parsed: unknown
      try {
        parsed = text.length > 0 ? JSON.parse(text) : undefined
      } catch {
        parsed = undefined
      }
      return { status: response.status, headers: response.headers, body: parsed, text }
    },
    dispose
  }
}

export const address = {
  name: "Ada Lovelace",
  line1: "12 St James's Square",
  city: "London",
  postal_code: "SW1Y 4JH",
  country: "GB"
}

export const card = (number: string) => ({ card: { number, exp_month: 12, exp_year: 2030, cvc: "123" } })

let keys = 0
/** A fresh idempotency key. */
export const key = () => `key-${Date.now()}-${++keys}`

/** Stocks `sku` (admin route), then gives `user` a cart with `quantity` of it and a tokenized card. */
export const readyToPay = async (
  till: Client,
  user: string,
  sku: string,
  quantity: number,
  options: { readonly onHand?: number; readonly cardNumber?: string } = {}
) => {
  if (options.onHand !== undefined)
    await till.call("PUT", `/v1/admin/products/${sku}`, {
      admin: true,
      as: "ops",
      body: { name: `Item ${sku}`, price: { amount: 1500, currency: "USD" }, on_hand: options.onHand }
    })
  const cart = await till.call("POST", "/v1/carts", { as: user, body: {} })
  await till.call("POST", `/v1/carts/${cart.body.cart_id}/items`, { as: user, body: { sku, quantity } })
  const method = await till.call("POST", "/v1/payment-methods", {
    as: user,
    body: card(options.cardNumber ?? "4242424242424242")
  })
  return { cartId: cart.body.cart_id as string, methodId: method.body.payment_method_id as string }
}

export const checkout = (
  till: Client,
  user: string,
  body: { readonly cartId: string; readonly methodId: string },
  idempotencyKey = key()
) =>
  till.call("POST", "/v1/checkout", {
    as: user,
    headers: { "idempotency-key": idempotencyKey },
    body: { cart_id: body.cartId, payment_method_id: body.methodId, shipping_address: address }
  })
