/**
 * POST /v1/checkout of the baseline: the same durable work as Till's checkout saga, in as few
 * round trips as a careful team would make it (independent calls at once):
 *
 *   1 claim the idempotency key (Postgres)    | read the cart (Redis)           (at once)
 *   2 the rate limit, 10 a minute (Redis)     | the lines' prices (Postgres)    (at once)
 *   3 claim the cart for the order: compare-and-set on its version (Redis)
 *   4 create: order + hold + reservation + payment row (sealed token) + audit + 2 events (Postgres)
 *   5 charge (the fake gateway, keyed by order id)
 *   6 settle: order confirmed + hold committed + payment row + audit + 2 events + the key completed
 *     with the sealed answer (Postgres)
 *
 * 4 Postgres and 3 Redis round trips in 5 waits, against Till's 7 and 3 in 10 (it also reads the
 * order before creating it and before confirming it, and completes the key on its own). Failures
 * a client must see again (empty or foreign cart, out of stock, a decline) are stored under the
 * key; anything transient ends the key's lease so a retry takes over, as in Till.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Cart, Carts } from "./carts.ts"
import type { Store } from "./store.ts"
import { fingerprint, type Gateway, newId, problem, type Sealer, send } from "./support.ts"

export interface Deps {
  readonly store: Store
  readonly carts: Carts
  readonly gateway: Gateway
  readonly sealer: Sealer
  readonly keyId: string
}

interface Address {
  readonly name: string
  readonly line1: string
  readonly line2?: string
  readonly city: string
  readonly region?: string
  readonly postal_code: string
  readonly country: string
}

const text = (v: unknown, max = 200): v is string => typeof v === "string" && v.length >= 1 && v.length <= max

/** The address as API.md has it, or undefined. */
const address = (v: unknown): Address | undefined => {
  if (typeof v !== "object" || v === null) return undefined
  const a = v as Record<string, unknown>
  const optional = (k: string) => a[k] === undefined || text(a[k])
  if (!text(a["name"]) || !text(a["line1"]) || !text(a["city"]) || !text(a["postal_code"], 32))
    return undefined
  if (typeof a["country"] !== "string" || !/^[A-Z]{2}$/.test(a["country"])) return undefined
  if (!optional("line2") || !optional("region")) return undefined
  return {
    name: a["name"],
    line1: a["line1"],
    ...(a["line2"] === undefined ? {} : { line2: a["line2"] as string }),
    city: a["city"],
    ...(a["region"] === undefined ? {} : { region: a["region"] as string }),
    postal_code: a["postal_code"],
    country: a["country"]
  }
}

const money = (amount: number, currency: string) => ({ amount, currency })

const shippingMinor = 599

export const checkout = async (
  deps: Deps,
  req: IncomingMessage,
  res: ServerResponse,
  userId: string,
  body: unknown
): Promise<void> => {
  const { store, carts, gateway, sealer } = deps
  const key = req.headers["idempotency-key"]
  if (typeof key !== "string" || key.length < 1 || key.length > 255)
    return send(res, 422, problem(422, "Invalid request", "Idempotency-Key must be 1-255 characters"))
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>
  const shipTo = address(b["shipping_address"])
  if (!text(b["cart_id"], 64) || !text(b["payment_method_id"], 64) || shipTo === undefined)
    return send(res, 422, problem(422, "Invalid request", "cart_id, shipping_address and payment_method_id"))
  const cartId = b["cart_id"]
  const methodId = b["payment_method_id"]
  const request = JSON.stringify({ cart_id: cartId, payment_method_id: methodId, shipping_address: shipTo })
  const answerAad = `${userId}/${key}`

  // 1 the key and the cart, at once.
  const minted = newId("ord")
  const [claim, found] = await Promise.all([
    store.claim(userId, key, fingerprint(request), minted, Date.now()),
    carts.get(cartId)
  ])
  if (claim === undefined) return replay(deps, res, userId, key, request, answerAad)
  const token = claim.token
  const orderId = claim.resource_id
  const refuse = async (status: number, answer: unknown) => {
    await store.completeKey(
      userId,
      key,
      token,
      status,
      sealer.seal(JSON.stringify({ status, answer }), answerAad)
    )
    send(res, status, answer)
  }
  try {
    if (orderId !== minted) {
      // A retry after a lapsed lease: the first attempt's order, if it got that far, answers.
      const existing = await store.orderDoc(orderId)
      if (existing !== undefined) {
        const status =
          existing.status === "confirmed" ? 201 : existing.status === "payment_failed" ? 402 : 409
        return send(res, status, existing.doc)
      }
    }
    // 2 the limit and the prices, at once.
    const cart = found?.cart
    const skus = cart?.items.map((i) => i.sku) ?? []
    const [admitted, prices] = await Promise.all([
      carts.admit(`checkout:${userId}`, 10, 60_000),
      skus.length === 0 ? Promise.resolve([]) : store.prices(skus)
    ])
    if (!admitted) {
      await store.abandonKey(userId, key, token)
      return send(res, 429, problem(429, "Too many requests", "checkout: 10 a minute"), {
        "retry-after": "60"
      })
    }
    if (found === undefined || cart === undefined || cart.user_id !== userId)
      return refuse(404, problem(404, "Cart not found", `no cart ${cartId}`))
    if (cart.status !== "active")
      return refuse(409, problem(409, "Cart not active", "already checked out", { order_id: cart.order_id }))
    if (cart.items.length === 0) return refuse(422, problem(422, "Empty cart", `cart ${cartId} is empty`))
    const bySku = new Map(prices.map((p) => [p.sku, p]))
    const items = []
    let subtotal = 0
    for (const line of cart.items) {
      const p = bySku.get(line.sku)
      if (p === undefined) return refuse(404, problem(404, "Unknown SKU", line.sku))
      const unit = Number(p.price_minor)
      subtotal += unit * line.quantity
      items.push({
        sku: line.sku,
        name: p.name,
        quantity: line.quantity,
        unit_price: money(unit, cart.currency),
        line_total: money(unit * line.quantity, cart.currency)
      })
    }
    const at = new Date().toISOString()
    // 3 the cart, claimed for this order (one order per cart, whatever the keys).
    const claimed: Cart = { ...cart, status: "checked_out", order_id: orderId, updated_at: at }
    if (!(await carts.write(claimed, found.version)))
      return refuse(409, problem(409, "Cart changed", "the cart changed during checkout: check out again"))
    const total = subtotal + shippingMinor
    const order = {
      order_id: orderId,
      user_id: userId,
      cart_id: cartId,
      status: "pending",
      items,
      subtotal: money(subtotal, cart.currency),
      tax: money(0, cart.currency),
      shipping: money(shippingMinor, cart.currency),
      total: money(total, cart.currency),
      shipping_address: shipTo,
      payment: null as null | { status: string; brand: string | null; last4: string | null },
      created_at: at,
      updated_at: at
    }
    const event = (type: string, o: typeof order, extra: Record<string, unknown> = {}) => ({
      event_id: `${orderId}/${type}/1`,
      type,
      occurred_at: o.updated_at,
      aggregate_id: orderId,
      data: { order_id: orderId, user_id: userId, status: o.status, total: o.total, ...extra }
    })
    const lines = items.map((i) => ({ sku: i.sku, quantity: i.quantity }))
    // 4 the order, its hold, payment row, audit row and events: one statement.
    const created = await store.create([
      lines.map((l) => l.sku),
      lines.map((l) => l.quantity),
      orderId,
      userId,
      cartId,
      total,
      cart.currency,
      at,
      JSON.stringify(order),
      Date.now() + 15 * 60_000,
      JSON.stringify(lines),
      deps.keyId,
      sealer.seal(methodId, `${orderId}/1`),
      JSON.stringify([event("order.created", order), event("inventory.reserved", order, { lines })])
    ])
    if (created.inserted !== 1) {
      // Out of stock: the cart goes back to its owner to change and try again.
      await carts.write({ ...cart, updated_at: new Date().toISOString() }, String(Number(found.version) + 1))
      return refuse(
        409,
        problem(409, "Out of stock", "some lines are not available", { unavailable: created.short })
      )
    }
    // 5 the charge, keyed by the order (a retry never charges twice).
    const charge = await gateway.charge(`${orderId}/1`, methodId)
    const settledAt = new Date().toISOString()
    const done = charge.ok
      ? {
          ...order,
          status: "confirmed",
          payment: { status: "succeeded", brand: charge.brand, last4: charge.last4 },
          updated_at: settledAt
        }
      : {
          ...order,
          status: "payment_failed",
          payment: { status: "failed", brand: null, last4: null },
          updated_at: settledAt
        }
    const status = charge.ok ? 201 : 402
    const answer = charge.ok
      ? done
      : problem(402, "Payment declined", "the card was declined", {
          order_id: orderId,
          decline_code: charge.declineCode
        })
    const events = charge.ok
      ? [event("order.confirmed", done), event("payment.succeeded", done)]
      : [
          event("order.payment_failed", done),
          event("payment.failed", done),
          event("inventory.released", done, { lines })
        ]
    // 6 the order settled, the hold moved, and the key completed with this answer: one statement.
    const settled = await store.settle([
      orderId,
      done.status,
      settledAt,
      JSON.stringify(done),
      charge.ok ? charge.chargeId : null,
      charge.ok ? charge.brand : null,
      charge.ok ? charge.last4 : null,
      JSON.stringify(events),
      userId,
      key,
      token,
      status,
      sealer.seal(JSON.stringify({ status, answer }), answerAad)
    ])
    if (settled.settled !== 1)
      return send(res, 409, problem(409, "Order changed", `order ${orderId} moved on`))
    send(res, status, answer)
  } catch (error) {
    // Transient (a store down, a timeout): the lease ends so a retry with the key takes over.
    await store.abandonKey(userId, key, token).catch(() => undefined)
    throw error
  }
}

/** The key was taken: its stored answer, or why not. */
const replay = async (
  deps: Deps,
  res: ServerResponse,
  userId: string,
  key: string,
  request: string,
  aad: string
): Promise<void> => {
  const row = await deps.store.readKey(userId, key)
  if (row === undefined || Number(row.expires_at) <= Date.now())
    return send(res, 409, problem(409, "Request in flight", `key ${key} is in use`))
  if (row.fingerprint !== fingerprint(request))
    return send(res, 422, problem(422, "Idempotency key reused", `key ${key} was used with another request`))
  if (row.state !== "completed" || row.answer_sealed === null)
    return send(res, 409, problem(409, "Request in flight", `key ${key} is in use`))
  const stored = JSON.parse(deps.sealer.open(row.answer_sealed, aad)) as { status: number; answer: unknown }
  send(res, stored.status, stored.answer)
}
