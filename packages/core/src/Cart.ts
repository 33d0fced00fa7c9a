/**
 * Carts and their arithmetic. A cart holds at most `maxLines` lines, each priced on the
 * server from the Catalog when it is added; its subtotal is always the sum of its line
 * totals, in the cart's one currency (checked in `reprice`).
 */
import { Result, Schema, SchemaIssue } from "effect"
import type { CurrencyMismatch } from "./Errors.js"
import * as Money from "./Money.js"
import { Quantity, Sku } from "./Sku.js"

export const maxLines = 100

export const CartId = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64))
export const UserId = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(255))

export const CartStatus = Schema.Literals(["active", "checked_out"])
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
  /** Views counted by the store apart from the cart's writes (a view never conflicts with an edit). */
  views: Schema.Int,
  /** The order that claimed the cart at checkout (set with status `checked_out`). */
  order_id: Schema.optional(Schema.String),
  created_at: Schema.String,
  updated_at: Schema.String,
  /** 1 when created; every write adds one (the compare-and-set of `CartStore.update`). */
  version: Schema.Int
}) {}

/** A new cart; an invalid id is a bug of the caller, and the constructor throws naming which. */
export const empty = (cartId: string, userId: string, currency: Money.Currency, nowIso: string): Cart =>
  naming(
    () =>
      new Cart({
        cart_id: cartId,
        user_id: userId,
        currency,
        status: "active",
        items: [],
        subtotal: Money.zero(currency),
        views: 0,
        created_at: nowIso,
        updated_at: nowIso,
        version: 1
      })
  )

export const line = (sku: Sku, name: string, quantity: number, unitPrice: Money.Money): CartItem =>
  naming(
    () =>
      new CartItem({
        sku,
        name,
        quantity,
        unit_price: unitPrice,
        line_total: Money.times(unitPrice, quantity)
      })
  )

/**
 * @deprecated Use `line`, which this now is. The unvalidated line was an Effect 3 speed-up; on
 * Effect 4 validating the line and the cart adds 2-20 % to a cart update (measured: best of 101
 * interleaved rounds, four runs), under the 20 % that would justify skipping it.
 */
export const unsafeLine = line

/**
 * Runs a Schema class constructor, rethrowing its failure as a `Schema.SchemaError`: Effect 4's
 * constructors throw a bare "Schema validation failed" (the issue in `cause`), which names no field.
 */
const naming = <A>(construct: () => A): A => {
  try {
    return construct()
  } catch (error) {
    if (error instanceof Error && SchemaIssue.isIssue(error.cause)) throw new Schema.SchemaError(error.cause)
    throw error
  }
}

/** Recomputes the subtotal from the lines (the only way a subtotal is ever set). */
export const withItems = (
  cart: Cart,
  items: ReadonlyArray<CartItem>,
  nowIso: string
): Result.Result<Cart, CurrencyMismatch> =>
  Result.map(
    Money.sum(
      cart.currency,
      items.map((i) => i.line_total)
    ),
    (subtotal) => new Cart({ ...cart, items, subtotal, updated_at: nowIso })
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
