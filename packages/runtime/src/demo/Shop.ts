/** A shopper's steps through the API, shared by the scenarios. */
import { Effect } from "effect"
import type { Client } from "./Client.js"
import type { Answer } from "./World.js"

/** The testkit gateway's public test cards (packages/testkit/README.md). */
export const cards = {
  visa: "4242424242424242",
  mastercard: "5555555555554444",
  declined: "4000000000000002"
} as const

export const address = {
  name: "Ada Lovelace",
  line1: "12 St James's Square",
  city: "London",
  postal_code: "SW1Y 4JH",
  country: "GB"
}

/** A cart and a tokenized card, ready to check out. */
export interface Ready {
  readonly user: string
  readonly cartId: string
  readonly methodId: string
}

/** Dies when a step the scenario relies on did not answer as the API promises: a demo bug, or Till's. */
const expectStatus = (what: string, status: number) => (answer: Answer) =>
  answer.status === status
    ? Effect.succeed(answer)
    : Effect.die(
        new Error(`${what} answered ${answer.status}, expected ${status}: ${JSON.stringify(answer.body)}`)
      )

/** Tokenizes `number` for `user`: POST /v1/payment-methods. */
export const addCard = (client: Client, user: string, number: string) =>
  Effect.flatMap(
    client.call("POST", "/v1/payment-methods", {
      as: user,
      body: { card: { number, exp_month: 12, exp_year: 2030, cvc: "123" } }
    }),
    expectStatus("POST /v1/payment-methods", 201)
  )

/** A new cart of `user` with `items`, and a card: POST /v1/carts, POST .../items, POST /v1/payment-methods. */
export const ready = (
  client: Client,
  user: string,
  items: ReadonlyArray<readonly [sku: string, quantity: number]>,
  card: string = cards.visa
): Effect.Effect<Ready> =>
  Effect.gen(function* () {
    const cart = yield* Effect.flatMap(
      client.call("POST", "/v1/carts", { as: user, body: {} }),
      expectStatus("POST /v1/carts", 201)
    )
    for (const [sku, quantity] of items)
      yield* Effect.flatMap(
        client.call("POST", `/v1/carts/${cart.body.cart_id}/items`, { as: user, body: { sku, quantity } }),
        expectStatus("POST /v1/carts/{id}/items", 200)
      )
    const method = yield* addCard(client, user, card)
    return { user, cartId: cart.body.cart_id, methodId: method.body.payment_method_id }
  })

/** POST /v1/checkout with `key`. */
export const checkout = (client: Client, r: Ready, key: string) =>
  client.call("POST", "/v1/checkout", {
    as: r.user,
    key,
    body: { cart_id: r.cartId, payment_method_id: r.methodId, shipping_address: address }
  })

/** GET /v1/admin/inventory/{sku}: `{ sku, on_hand, reserved, available }`. */
export const inventory = (client: Client, sku: string, quiet = false) =>
  Effect.flatMap(
    client.call("GET", `/v1/admin/inventory/${sku}`, { as: "ops", admin: true, quiet }),
    expectStatus(`GET /v1/admin/inventory/${sku}`, 200)
  )
