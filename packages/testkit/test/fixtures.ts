import { Address, Carts, Checkout, Payments, Sku } from "@till/core"
import { Effect, Schema } from "effect"
import { FakePaymentGateway } from "@till/testkit"

export const address = Schema.decodeUnknownSync(Address.Address)({
  name: "Ada Lovelace",
  line1: "12 St James's Square",
  city: "London",
  postal_code: "SW1Y 4JH",
  country: "GB"
})

export const card = FakePaymentGateway.card

/** A shopper's cart with these lines, and a tokenized card. */
export const cartWith = (
  userId: string,
  lines: ReadonlyArray<readonly [string, number]>,
  cardNumber = FakePaymentGateway.successCard
) =>
  Effect.gen(function* () {
    const carts = yield* Carts.Carts
    const payments = yield* Payments.Payments
    const cart = yield* carts.create(userId)
    for (const [sku, quantity] of lines) yield* carts.addItem(userId, cart.cart_id, Sku.make(sku), quantity)
    const method = yield* payments.tokenize(card(cardNumber))
    return { cartId: cart.cart_id, paymentMethodId: method.payment_method_id }
  })

export const checkoutRequest = (cartId: string, paymentMethodId: string) =>
  new Checkout.CheckoutRequest({
    cart_id: cartId,
    shipping_address: address,
    payment_method_id: paymentMethodId
  })

export const place = (userId: string, key: string, cartId: string, paymentMethodId: string) =>
  Effect.flatMap(Checkout.Checkout, (checkout) =>
    checkout.place({ userId, idempotencyKey: key, request: checkoutRequest(cartId, paymentMethodId) })
  )
