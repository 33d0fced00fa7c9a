/**
 * The actors of a simulated world: shoppers and an operator. Each draws from its own PRNG
 * stream (`user/17`, `operator`), does a bounded number of things, and reaches Till only
 * through `World.call`, as an HTTP client would.
 *
 * A shopper creates a cart, adds and removes items, and abandons it or checks out with a good
 * or a declining card. Like real clients, some double-click (the same request, same key, 2-3
 * times at once), a few hammer (a burst of 8-14, each with a key of its own: one cart, many
 * keys, at most one order), some replay a request later, some reuse a key
 * with another body; every client retries a transient failure with the same key, and some edit
 * the cart before that retry. After a decline a shopper may pay the order again with another
 * card (`retryPayment`); after out-of-stock, drop the missing lines and check out again. Every
 * answer is recorded, so the idempotency invariants can compare replays with first answers.
 */
import { type Address, Carts, Checkout, Inventory, Payments, type Sku } from "@till/core"
import { Clock, Effect, Result } from "effect"
import * as FakePaymentGateway from "../FakePaymentGateway.js"
import type { Checker } from "./simInvariants.js"
import { finalAnswer } from "./simInvariants.js"
import type { Prng } from "./simPrng.js"
import type { Scenario } from "./simScenario.js"
import type { Trace } from "./simTrace.js"
import type { ProcessContext, World } from "./simWorld.js"

export const goodCards: ReadonlyArray<string> = [
  FakePaymentGateway.successCard,
  "5555555555554444",
  "378282246310005",
  "6011111111111117"
]
export const decliningCards: ReadonlyArray<string> = [...FakePaymentGateway.declineCards.keys()]
/** Fails Luhn: refused at tokenization. */
export const invalidCard = "4242424242424241"
/** Every number a shopper may type: none may ever be found in Till's data. */
export const cardNumbers: ReadonlyArray<string> = [...goodCards, ...decliningCards, invalidCard]

export interface Env {
  readonly world: World
  readonly trace: Trace
  readonly checker: Checker
  readonly scenario: Scenario
  readonly root: Prng
  readonly skus: ReadonlyArray<Sku.Sku>
  /** Cumulative popularity weights of `skus`. */
  readonly popularity: ReadonlyArray<number>
  readonly address: Address.Address
  readonly startMs: number
  /** Waits `ms` of virtual time, rounded to a whole ms (store faults are drawn per millisecond). */
  readonly sleep: (ms: number) => Effect.Effect<void>
}

type Style = "normal" | "doubleClick" | "hammer" | "keyReuser"

const transientTags: ReadonlySet<string> = new Set([
  "StoreUnavailable",
  "GatewayUnavailable",
  "OperationTimedOut",
  "CallNotPermitted",
  "RequestInFlight",
  "RateLimited",
  "Unreachable"
])

const tagOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "unknown"

const isTransient = (r: Result.Result<unknown, unknown>) =>
  Result.isFailure(r) && transientTags.has(tagOf(r.failure))

/** A short, deterministic account of an error for the trace. */
const describeError = (error: unknown): string => {
  const e = error as Record<string, unknown>
  switch (tagOf(error)) {
    case "RateLimited":
      return `RateLimited(${e["retryAfterSeconds"]}s)`
    case "Unreachable":
      return `Unreachable(${e["reason"]})`
    case "PaymentDeclined":
      return `PaymentDeclined(${e["orderId"]}, ${e["declineCode"]})`
    case "OutOfStock":
      return `OutOfStock(${(
        e["unavailable"] as ReadonlyArray<{ sku: string; requested: number; available: number }>
      )
        .map((u) => `${u.sku} ${u.requested}>${u.available}`)
        .join(", ")})`
    case "StoreUnavailable":
      return `StoreUnavailable(${e["store"]})`
    case "CallNotPermitted":
      return `CallNotPermitted(${e["breaker"]})`
    case "OperationTimedOut":
      return `OperationTimedOut(${e["operation"]})`
    default:
      return tagOf(error)
  }
}

// A shopper types one of a few numbers: each card input is built (and validated) once per worker.
const cardInputs = new Map(cardNumbers.map((number) => [number, FakePaymentGateway.card(number)]))
const card = (number: string) => cardInputs.get(number) ?? FakePaymentGateway.card(number)

export const shopper = (env: Env, index: number) =>
  Effect.gen(function* () {
    const p = env.root.fork(`user/${index}`)
    const user = `u${String(index).padStart(3, "0")}`
    const roll = p.float()
    const style: Style =
      roll < 0.8 ? "normal" : roll < 0.92 ? "doubleClick" : roll < 0.96 ? "hammer" : "keyReuser"
    yield* env.sleep(p.float() * env.scenario.durationMs * 0.8)
    let sessions = 1
    while (sessions < env.scenario.sessionsMax && p.chance(0.3)) sessions++
    for (let s = 1; s <= sessions; s++) {
      yield* session(env, p, user, style, s, patience(env, index), env.root.fork(`user/${index}/follow/${s}`))
      if ((yield* Clock.currentTimeMillis) - env.startMs > env.scenario.durationMs * 0.9) break
      yield* env.sleep(p.exponential(60_000))
    }
  })

type Placed = Checkout.Placed

/**
 * A client's patience: most wait for their answer; 30 % stop waiting after 2-8 s and retry
 * with the same key while the first request still runs (slower than the lease, it is taken over).
 * Drawn from a stream of its own, so it changes no other draw of the shopper.
 */
const patience = (env: Env, index: number): number | undefined => {
  const p = env.root.fork(`user/${index}/patience`)
  return p.chance(env.scenario.impatientShare) ? p.int(2_000, 8_000) : undefined
}

const session = (
  env: Env,
  p: Prng,
  user: string,
  style: Style,
  s: number,
  clientTimeoutMs: number | undefined,
  followP: Prng
) =>
  Effect.gen(function* () {
    const { world, trace } = env
    const tag = `${user}/s${s}`

    /** A request retried on transient failures (a client's own retry), traced once per try. */
    const request = <A, E>(
      label: string,
      effect: Effect.Effect<A, E, ProcessContext>,
      show: (a: A) => string,
      tries = 3
    ) =>
      Effect.gen(function* () {
        let result: Result.Result<A, E | unknown> = Result.fail("not tried")
        for (let i = 0; i < tries; i++) {
          result = yield* Effect.result(world.call(effect))
          trace.add(
            `${tag} ${label} -> ${Result.isSuccess(result) ? show(result.success) : describeError(result.failure)}`
          )
          if (!isTransient(result)) break
          yield* env.sleep(backoffMs(p, Result.isFailure(result) ? result.failure : undefined))
        }
        return result
      })

    const cart = yield* request(
      "create cart",
      Effect.flatMap(Carts.Carts, (c) => c.create(user)),
      (c) => c.cart_id
    )
    if (Result.isFailure(cart)) return trace.add(`${tag} gives up (no cart)`)
    const cartId = cart.success.cart_id

    const chosen: Array<Sku.Sku> = []
    for (let i = p.int(1, 3); i > 0; i--) {
      const sku = env.skus[p.weighted(env.popularity)]!
      const quantity = p.chance(0.85) ? 1 : p.int(2, 4)
      const added = yield* request(
        `add ${sku} x${quantity}`,
        Effect.flatMap(Carts.Carts, (c) => c.addItem(user, cartId, sku, quantity)),
        (c) => `${c.items.length} lines`
      )
      if (Result.isSuccess(added)) chosen.push(sku)
      yield* env.sleep(p.exponential(5_000))
    }
    if (chosen.length > 1 && p.chance(0.2)) {
      const sku = p.pick(chosen)
      yield* request(
        `remove ${sku}`,
        Effect.flatMap(Carts.Carts, (c) => c.removeItem(user, cartId, sku)),
        (c) => `${c.items.length} lines`
      )
    }
    if (p.chance(0.15)) return trace.add(`${tag} abandons ${cartId}`)

    const tokenize = (number: string) =>
      request(
        `tokenize ${number.slice(-4)}`,
        Effect.flatMap(Payments.Payments, (pay) => pay.tokenize(card(number))),
        (m) => m.payment_method_id
      )
    const firstCard = p.chance(0.03)
      ? invalidCard
      : p.chance(0.22)
        ? p.pick(decliningCards)
        : p.pick(goodCards)
    const method = yield* tokenize(firstCard)
    if (Result.isFailure(method)) return trace.add(`${tag} gives up (no payment method)`)

    const place = (key: string, cart_id: string, payment_method_id: string) => {
      const body = `${cart_id}|${payment_method_id}`
      const req = new Checkout.CheckoutRequest({ cart_id, shipping_address: env.address, payment_method_id })
      return Effect.flatMap(Clock.currentTimeMillis, (sentAtMs) => {
        env.checker.sent(user, "place", key, sentAtMs)
        return world
          .call(
            Effect.flatMap(Checkout.Checkout, (c) =>
              c.place({ userId: user, idempotencyKey: key, request: req })
            ),
            clientTimeoutMs
          )
          .pipe(
            Effect.result,
            Effect.tap((r) => record("place", key, body, r, sentAtMs))
          )
      })
    }
    const pay = (key: string, orderId: string, payment_method_id: string) => {
      const body = `${orderId}|${payment_method_id}`
      const req = new Checkout.PaymentRetryRequest({ payment_method_id })
      return Effect.flatMap(Clock.currentTimeMillis, (sentAtMs) => {
        env.checker.sent(user, "pay", key, sentAtMs)
        return world
          .call(
            Effect.flatMap(Checkout.Checkout, (c) =>
              c.retryPayment({ userId: user, orderId, idempotencyKey: key, request: req })
            ),
            clientTimeoutMs
          )
          .pipe(
            Effect.result,
            Effect.tap((r) => record("pay", key, body, r, sentAtMs))
          )
      })
    }
    const record = (
      op: "place" | "pay",
      key: string,
      body: string,
      r: Result.Result<Placed, unknown>,
      sentAtMs: number
    ) => Effect.sync(() => recordAnswer(env, tag, user, op, key, body, r, sentAtMs))

    /**
     * Sends a request as this client does: a burst at first (the i-th extra copy is
     * `copy(i)`), then retries with the first one's key while transient.
     */
    const submit = (
      send: Effect.Effect<Result.Result<Placed, unknown>>,
      burst: number,
      beforeRetry: Effect.Effect<void>,
      copy: (i: number) => Effect.Effect<Result.Result<Placed, unknown>> = () => send
    ) =>
      Effect.gen(function* () {
        let result: Result.Result<Placed, unknown>
        if (burst > 1) {
          const all = yield* Effect.all(
            Array.from({ length: burst }, (_, i) => (i === 0 ? send : copy(i))),
            { concurrency: "unbounded" }
          )
          result = all.find(Result.isSuccess) ?? all.find((r) => !isTransient(r)) ?? all[all.length - 1]!
        } else result = yield* send
        for (let i = 0; i < 4 && isTransient(result); i++) {
          yield* env.sleep(backoffMs(p, Result.isFailure(result) ? result.failure : undefined))
          if (i === 0) yield* beforeRetry
          result = yield* send
        }
        if (isTransient(result)) trace.add(`${tag} gives up waiting`)
        return result
      })

    // Edits the cart between a failed try and its retry (another tab): same key, same body, other contents.
    // Drawn whether or not the scenario allows it, so the flag changes nothing else in the run.
    const edits = p.chance(0.08)
    const editCart =
      edits && env.scenario.editCartBeforeRetry
        ? Effect.asVoid(
            request(
              "edits cart before retrying",
              Effect.flatMap(Carts.Carts, (c) =>
                c.addItem(user, cartId, env.skus[p.weighted(env.popularity)]!, 1)
              ),
              (c) => `${c.items.length} lines`,
              1
            )
          )
        : Effect.void
    const burst = style === "hammer" ? p.int(8, 14) : style === "doubleClick" ? p.int(2, 3) : 1
    const key = `${user}-s${s}-c1`
    let placed = yield* submit(
      place(key, cartId, method.success.payment_method_id),
      burst,
      editCart,
      style === "hammer"
        ? (i) => place(`${key}-copy${i}`, cartId, method.success.payment_method_id)
        : undefined
    )

    if (Result.isFailure(placed) && tagOf(placed.failure) === "OutOfStock" && p.chance(0.5)) {
      const missing = (placed.failure as { readonly unavailable: ReadonlyArray<{ readonly sku: Sku.Sku }> })
        .unavailable
      for (const u of missing) {
        yield* request(
          `drops ${u.sku}`,
          Effect.flatMap(Carts.Carts, (c) => c.setQuantity(user, cartId, u.sku, 0)),
          (c) => `${c.items.length} lines`
        )
      }
      placed = yield* submit(
        place(`${user}-s${s}-c2`, cartId, method.success.payment_method_id),
        1,
        Effect.void
      )
    }

    if (style === "keyReuser" && !isTransient(placed)) {
      const other = yield* tokenize(p.pick(goodCards))
      if (Result.isSuccess(other)) yield* place(key, cartId, other.success.payment_method_id)
    }
    if (!isTransient(placed) && p.chance(0.15)) {
      yield* env.sleep(p.int(1_000, 60_000))
      yield* place(key, cartId, method.success.payment_method_id)
    }

    // After a 202 the shopper watches the order; if the retry drainer declines it, the shopper
    // pays again at once with a good card, while drainers and sweepers still work on the order.
    const payAgainAtOnce = (orderId: string) =>
      Effect.gen(function* () {
        const next = yield* tokenize(followP.pick(goodCards))
        if (Result.isSuccess(next))
          yield* submit(pay(`${user}-s${s}-f`, orderId, next.success.payment_method_id), 1, Effect.void)
      })
    if (Result.isSuccess(placed)) {
      if (placed.success.status === 202)
        yield* follow(env, followP, tag, user, placed.success.order.order_id, payAgainAtOnce)
      return
    }
    if (tagOf(placed.failure) !== "PaymentDeclined" || !p.chance(0.7)) return
    const orderId = (placed.failure as { readonly orderId: string }).orderId
    for (let n = 1; n <= 2; n++) {
      yield* env.sleep(p.exponential(20_000))
      const next = yield* tokenize(p.chance(0.8) ? p.pick(goodCards) : p.pick(decliningCards))
      if (Result.isFailure(next)) return
      const paid = yield* submit(
        pay(`${user}-s${s}-p${n}`, orderId, next.success.payment_method_id),
        p.chance(0.1) ? 2 : 1,
        Effect.void
      )
      if (Result.isSuccess(paid)) {
        if (paid.success.status === 202) yield* follow(env, followP, tag, user, orderId, () => Effect.void)
        return
      }
      if (tagOf(paid.failure) !== "PaymentDeclined") return
    }
  })

/**
 * A shopper with a 202 polls the order, as a client would: every 0.5-2 s for up to a minute, then
 * stops. Once it is declined (`payment_failed`, by a retry drainer), `onDeclined` runs at once.
 */
const follow = <E, R>(
  env: Env,
  p: Prng,
  tag: string,
  user: string,
  orderId: string,
  onDeclined: (orderId: string) => Effect.Effect<unknown, E, R>
) =>
  Effect.gen(function* () {
    for (let waited = 0; waited < 60_000; ) {
      const pause = p.int(500, 2_000)
      waited += pause
      yield* env.sleep(pause)
      const order = yield* Effect.result(
        env.world.call(Effect.flatMap(Checkout.Checkout, (c) => c.getOrder(user, orderId)))
      )
      const status = Result.isSuccess(order) ? order.success.status : undefined
      env.trace.add(`${tag} looks at ${orderId} -> ${status ?? describeError(Result.getFailure(order))}`)
      if (status === "payment_failed") return yield* onDeclined(orderId)
      if (status !== undefined && status !== "pending" && status !== "payment_pending") return
    }
  })

/** Waits as told by a 429, else 0.5-4 s. */
const backoffMs = (p: Prng, error: unknown): number => {
  if (tagOf(error) === "RateLimited")
    return (error as { readonly retryAfterSeconds: number }).retryAfterSeconds * 1_000
  return p.int(500, 4_000)
}

/** Restocks a SKU every 20-60 s while the shop is open. */
export const operator = (env: Env) =>
  Effect.gen(function* () {
    const p = env.root.fork("operator")
    for (;;) {
      yield* env.sleep(p.int(20_000, 60_000))
      const sku = env.skus[p.weighted(env.popularity)]!
      const units = p.int(1, 8)
      const result = yield* Effect.result(
        env.world.call(
          Effect.flatMap(Inventory.Inventory, (inventory) =>
            inventory.restock(sku, units, `restock-${p.int(0, 2 ** 30)}`)
          )
        )
      )
      env.trace.add(
        `operator restocks ${sku} +${units} -> ${Result.isSuccess(result) ? `on hand ${result.success.on_hand}` : describeError(result.failure)}`
      )
    }
  })

/** Traces a checkout or payment answer and hands it to the checker (the idempotency and limit checks). */
const recordAnswer = (
  env: Env,
  tag: string,
  user: string,
  op: "place" | "pay",
  key: string,
  body: string,
  r: Result.Result<Placed, unknown>,
  sentAtMs: number
) => {
  env.trace.add(
    `${tag} ${op} ${key} -> ${Result.isSuccess(r) ? `${r.success.status} ${r.success.order.order_id} ${r.success.order.status}` : describeError(r.failure)}`
  )
  env.checker.answered(
    user,
    op,
    key,
    body,
    finalAnswer(Result.isSuccess(r) ? { _tag: "ok", ...r.success } : { _tag: "error", error: r.failure }),
    sentAtMs
  )
}

/** The flash sale's product. */
export const flashSku = "sku-flash"

/**
 * A flash-sale buyer: at `saleAt` plus a few seconds, a cart with one unit of the flash product,
 * a good card, a checkout (one key; a transient failure is retried with it a few times).
 */
export const flashBuyer = (env: Env, index: number, saleAt: number) =>
  Effect.gen(function* () {
    const p = env.root.fork(`flash/${index}`)
    const user = `f${String(index).padStart(3, "0")}`
    const { world, trace } = env
    yield* env.sleep(saleAt - (yield* Clock.currentTimeMillis) + p.int(0, 3_000))
    const sku = flashSku as Sku.Sku
    const cart = yield* Effect.result(
      world.call(
        Effect.gen(function* () {
          const carts = yield* Carts.Carts
          const created = yield* carts.create(user)
          return yield* carts.addItem(user, created.cart_id, sku, 1)
        })
      )
    )
    if (Result.isFailure(cart)) return trace.add(`${user} (flash) gives up: ${describeError(cart.failure)}`)
    const method = yield* Effect.result(
      world.call(Effect.flatMap(Payments.Payments, (pay) => pay.tokenize(card(p.pick(goodCards)))))
    )
    if (Result.isFailure(method))
      return trace.add(`${user} (flash) gives up: ${describeError(method.failure)}`)
    const key = `${user}-flash`
    const request = new Checkout.CheckoutRequest({
      cart_id: cart.success.cart_id,
      shipping_address: env.address,
      payment_method_id: method.success.payment_method_id
    })
    for (let attempt = 0; attempt < 4; attempt++) {
      const sentAtMs = yield* Clock.currentTimeMillis
      env.checker.sent(user, "place", key, sentAtMs)
      const r = yield* Effect.result(
        world.call(
          Effect.flatMap(Checkout.Checkout, (c) => c.place({ userId: user, idempotencyKey: key, request }))
        )
      )
      recordAnswer(
        env,
        `${user} (flash)`,
        user,
        "place",
        key,
        `${request.cart_id}|${request.payment_method_id}`,
        r,
        sentAtMs
      )
      if (!isTransient(r)) return
      yield* env.sleep(backoffMs(p, Result.isFailure(r) ? r.failure : undefined))
    }
  })
