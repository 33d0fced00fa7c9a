/**
 * Carts and their arithmetic. A cart holds at most `maxLines` lines, each priced on the
 * server from the Catalog when it is added; its subtotal is always the sum of its line
 * totals, in the cart's one currency (checked in `reprice`).
 */
import { Either, Schema } from "effect"
import type { CurrencyMismatch } from "./Errors.js"
import * as Money from "./Money.js"
import { Quantity, Sku } from "./Sku.js"

export const maxLines = 100

export const CartId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64))
export const UserId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255))

export const CartStatus = Schema.Literal("active", "checked_out")
export type CartStatus = typeof CartStatus.Type

export class CartItem extends Schema.Class<CartItem>("CartItem")({
  sku: Sku,
  name: Schema.String,
  quantity: Quantity,
  unit_price: Money.Money,
  line_total: Money.Money
}) {}

export class Cart extends Schema.Class<Cart>("Cart")({
  cart_id: CartId,
  user_id: UserId,
  currency: Money.Currency,
  status: CartStatus,
  items: Schema.Array(CartItem),
  subtotal: Money.Money,
  views: Schema.Int,
  created_at: Schema.String,
  updated_at: Schema.String
}) {}

const isCartId = Schema.is(CartId)
const isUserId = Schema.is(UserId)

/** A new cart. Only the ids come from outside; when they are valid, nothing else needs checking. */
export const empty = (cartId: string, userId: string, currency: Money.Currency, nowIso: string): Cart =>
  new Cart(
    {
      cart_id: cartId,
      user_id: userId,
      currency,
      status: "active",
      items: [],
      subtotal: new Money.Money({ amount: 0, currency }, true),
      views: 0,
      created_at: nowIso,
      updated_at: nowIso
    },
    // An invalid id is a bug of the caller: validation then throws the ParseError saying which.
    isCartId(cartId) && isUserId(userId)
  )

export const line = (sku: Sku, name: string, quantity: number, unitPrice: Money.Money): CartItem =>
  new CartItem({ sku, name, quantity, unit_price: unitPrice, line_total: Money.times(unitPrice, quantity) })

/**
 * `line` without validation, for inputs already checked: a decoded SKU, a catalog product, and a
 * quantity within `Quantity` (the Carts service checks each before it builds a line).
 */
export const unsafeLine = (sku: Sku, name: string, quantity: number, unitPrice: Money.Money): CartItem =>
  new CartItem(
    { sku, name, quantity, unit_price: unitPrice, line_total: Money.times(unitPrice, quantity) },
    true
  )

/** Recomputes the subtotal from the lines (the only way a subtotal is ever set). */
export const withItems = (
  cart: Cart,
  items: ReadonlyArray<CartItem>,
  nowIso: string
): Either.Either<Cart, CurrencyMismatch> =>
  Either.map(
    Money.sum(
      cart.currency,
      items.map((i) => i.line_total)
    ),
    (subtotal) => new Cart({ ...cart, items, subtotal, updated_at: nowIso }, true)
  )

/** The quantity of a SKU already in the cart (0 when absent). */
export const quantityOf = (cart: Cart, sku: Sku): number =>
  cart.items.find((i) => i.sku === sku)?.quantity ?? 0

/** Sets a line's quantity (0 removes it), keeping the order of the other lines. */
export const setLine = (
  items: ReadonlyArray<CartItem>,
  item: CartItem | undefined,
  sku: Sku
): Array<CartItem> => {
  const index = items.findIndex((i) => i.sku === sku)
  if (item === undefined) return items.filter((i) => i.sku !== sku)
  if (index === -1) return [...items, item]
  return items.map((i, n) => (n === index ? item : i))
}
