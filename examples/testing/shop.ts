/**
 * A product team's code on `@till/core`, the code its tests in `test/` exercise:
 * - `cartWith` (the cart page), `saveCard` (the card form: tokenized by the gateway), `pay` (the
 *   checkout under the client's idempotency key) and `buy` ("buy now": all three);
 * - `recommendations`: a call to the team's own recommendation service, guarded by one of Till's
 *   circuit breakers, with an empty list as the fallback.
 *
 * Nothing here knows whether the ports are the testkit's in-memory ones or the real adapters:
 * the tests provide `TestTill.layer`, production the adapters (see examples/product-team).
 */
import { Address, Carts, Checkout, CircuitBreaker, PaymentMethod, Payments, Sku } from "@till/core"
import { Effect, Redacted, Schema } from "effect"

export const address = Schema.decodeUnknownSync(Address.Address)({
  name: "Ada Lovelace",
  line1: "12 St James's Square",
  city: "London",
  postal_code: "SW1Y 4JH",
  country: "GB"
})

export interface Purchase {
  readonly userId: string
  /** The client's idempotency key: a double click or a retry sends the same one. */
  readonly key: string
  readonly lines: ReadonlyArray<readonly [sku: string, quantity: number]>
  readonly cardNumber: string
}

/** What the "pay" button sends: the cart and the tokenized card. */
export interface ReadyToPay {
  readonly cartId: string
  readonly paymentMethodId: string
}

/** The cart page: a cart of `userId` with `lines`. */
export const cartWith = Effect.fn("Shop.cartWith")(function* (
  userId: string,
  lines: ReadonlyArray<readonly [sku: string, quantity: number]>
) {
  const carts = yield* Carts.Carts
  const cart = yield* carts.create(userId)
  for (const [sku, quantity] of lines) yield* carts.addItem(userId, cart.cart_id, Sku.make(sku), quantity)
  return cart.cart_id
})

/** The "save this card" form: the card tokenized by the gateway; Till keeps only the token. */
export const saveCard = (cardNumber: string) =>
  Effect.map(
    Effect.flatMap(Payments.Payments, (payments) =>
      payments.tokenize(
        new PaymentMethod.CardInput({
          number: Redacted.make(cardNumber),
          exp_month: 12,
          exp_year: 2030,
          cvc: Redacted.make("123")
        })
      )
    ),
    (method) => method.payment_method_id
  )

/** A cart with `lines` and the card tokenized: what the "pay" button needs. */
export const readyToPay = (purchase: Omit<Purchase, "key">) =>
  Effect.all({
    cartId: cartWith(purchase.userId, purchase.lines),
    paymentMethodId: saveCard(purchase.cardNumber)
  })

/** The "pay" button: the checkout under the client's key; `Checkout.place`'s answer. */
export const pay = (userId: string, key: string, ready: ReadyToPay) =>
  Effect.flatMap(Checkout.Checkout, (checkout) =>
    checkout.place({
      userId,
      idempotencyKey: key,
      request: new Checkout.CheckoutRequest({
        cart_id: ready.cartId,
        shipping_address: address,
        payment_method_id: ready.paymentMethodId
      })
    })
  )

/** "Buy now": `readyToPay`, then `pay`. */
export const buy = (purchase: Purchase) =>
  Effect.flatMap(readyToPay(purchase), (ready) => pay(purchase.userId, purchase.key, ready))

/**
 * The breaker of the recommendation service: judged on its last 10 calls once 5 were made, open
 * at 50 % failures for 30 s, then 2 probe calls decide.
 */
export const recommendationsBreaker = CircuitBreaker.make({
  ...CircuitBreaker.defaultSettings,
  name: "recommendations",
  slidingWindowSize: 10,
  minimumNumberOfCalls: 5,
  failureRateThreshold: 50,
  waitDurationInOpenStateMs: 30_000,
  permittedNumberOfCallsInHalfOpenState: 2,
  // Every failure of the service counts (the default counts only Till's transient errors).
  isFailure: () => true
})

/** Recommendations for `sku` from `fetch`, or none while the service fails or its breaker is open. */
export const recommendations = (
  breaker: CircuitBreaker.Service,
  fetch: (sku: string) => Effect.Effect<ReadonlyArray<string>, Error>,
  sku: string
): Effect.Effect<ReadonlyArray<string>> =>
  breaker.execute(fetch(sku)).pipe(Effect.orElseSucceed((): ReadonlyArray<string> => []))
