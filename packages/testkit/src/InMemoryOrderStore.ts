/**
 * The OrderStore port in memory: an order step writes the order, its stock movement (in the
 * `Stock` tables shared with `InMemoryInventoryStore`), its audit entry and its outbox events
 * inside one synchronous block, the in-memory equivalent of one Postgres transaction. A step
 * is a compare-and-set on the order's version; a status change must be allowed by
 * `Order.canTransition`; an event is in the outbox if and only if its change was written.
 *
 * After every step the store checks that the order and its stock agree (an in-flight order's
 * current attempt is held, a confirmed one's committed, a dead one holds nothing) and dies if
 * not: a service asking for a step that breaks it is a bug, never a race to paper over.
 *
 * `Inspector` lets tests and the simulator read every order (for the money and oversell
 * invariants) without going through paging.
 */
import { Errors, Event, type InventoryStore, Order, OrderStore } from "@till/core"
import { Context, Effect, Layer, Option, Result } from "effect"
import { Base64Url } from "effect/encoding"
import { Stock } from "./InMemoryInventoryStore.js"
import { full, pageLimit, requireCapacity } from "./internal/limits.js"
import type { StockBook } from "./internal/stockBook.js"

export interface Options {
  readonly maxOrders?: number
  /** Most unpublished outbox events; a write that would exceed it fails `StoreUnavailable`. */
  readonly maxPendingEvents?: number
  /** PLANTED BUG, for the simulator's self-check only: a cart may be ordered twice. */
  readonly plantedManyOrdersPerCart?: boolean
  /**
   * PLANTED BUG, for the simulator's self-check only: `claimEvents` skips claimed events but not
   * their order's later events, so competing relays can publish an order's events out of order.
   */
  readonly plantedNoOrderBlocking?: boolean
}

export const defaultMaxOrders = 1_000_000
export const defaultMaxPendingEvents = 1_000_000

/** Read access for tests and the simulator; never used by services. */
export class Inspector extends Context.Service<
  Inspector,
  {
    /** Every order, in creation order. */
    readonly orders: Effect.Effect<ReadonlyArray<Order.Order>>
    /** The outbox from its oldest unpublished event on, in commit order, with whether each was published. */
    readonly outbox: Effect.Effect<
      ReadonlyArray<{ readonly event: Event.Event; readonly published: boolean }>
    >
    /** How many events wait to be published. */
    readonly pending: Effect.Effect<number>
  }
>()("@till/testkit/InMemoryOrderStore/Inspector") {}

interface OutboxEntry {
  readonly event: Event.Event
  published: boolean
  /** The relay claim holding it, until `claimedUntil` (epoch ms). */
  claim: string | null
  claimedUntil: number
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

// A cursor is the sort key of the last order of a page; opaque to callers.
const encodeCursor = (key: readonly [string, string]): string => Base64Url.encode(JSON.stringify(key))

const decodeCursor = (cursor: string): Option.Option<readonly [string, string]> =>
  Result.match(Base64Url.decodeString(cursor), {
    onFailure: () => Option.none(),
    onSuccess: (json) => {
      try {
        const parsed: unknown = JSON.parse(json)
        return Array.isArray(parsed) &&
          parsed.length === 2 &&
          typeof parsed[0] === "string" &&
          typeof parsed[1] === "string"
          ? Option.some([parsed[0], parsed[1]] as const)
          : Option.none()
      } catch {
        return Option.none()
      }
    }
  })

/** The stock lines an order holds: its items' SKUs and quantities. */
const linesOf = (order: Order.Order) => order.items.map((i) => ({ sku: i.sku, quantity: i.quantity }))

/** What the stock of an order's current attempt must be in each status. */
const expectedHold = (status: Order.OrderStatus): InventoryStore.ReservationStatus | "none" =>
  Order.holdsStock(status) ? "held" : status === "confirmed" ? "committed" : "none"

type SortKey = readonly [string, string]

const compareKeys = (a: SortKey, b: SortKey): number => compare(a[0], b[0]) || compare(a[1], b[1])

/**
 * One page of `orders` sorted by `keyOf` (`direction` 1 ascending, -1 descending), after the
 * position `cursor` encodes. An undecodable cursor cannot point anywhere: an empty last page,
 * never a defect.
 */
const pageOf = (
  orders: Array<Order.Order>,
  cursor: string | null,
  limit: number,
  keyOf: (order: Order.Order) => SortKey,
  direction: 1 | -1
): OrderStore.OrderPage => {
  let after: SortKey | undefined
  if (cursor !== null) {
    const decoded = decodeCursor(cursor)
    if (Option.isNone(decoded)) return { orders: [], nextCursor: null }
    after = decoded.value
  }
  orders.sort((a, b) => direction * compareKeys(keyOf(a), keyOf(b)))
  const rest =
    after === undefined ? orders : orders.filter((o) => direction * compareKeys(keyOf(o), after) > 0)
  const page = rest.slice(0, pageLimit(limit, 1))
  const last = page[page.length - 1]
  return {
    orders: page,
    nextCursor: rest.length > page.length && last !== undefined ? encodeCursor(keyOf(last)) : null
  }
}

export const make = (
  stock: StockBook,
  options: Options = {}
): Effect.Effect<OrderStore.OrderStore["Service"] & Inspector["Service"]> =>
  Effect.sync(() => {
    const maxOrders = requireCapacity("maxOrders", options.maxOrders ?? defaultMaxOrders)
    const maxPending = requireCapacity(
      "maxPendingEvents",
      options.maxPendingEvents ?? defaultMaxPendingEvents
    )
    const orders = new Map<string, Order.Order>()
    const orderOfCart = new Map<string, string>()
    // Ids refused for good (OrderStore.create, refuseUnmade): out of stock with the lines, or
    // abandoned (None). Oldest forgotten past `maxOrders`: a copy of a create lands seconds late,
    // not a million refusals late.
    const refusals = new Map<string, ReadonlyArray<typeof Errors.Unavailable.Type> | null>()
    const refuse = (orderId: string, unavailable: ReadonlyArray<typeof Errors.Unavailable.Type> | null) => {
      if (refusals.size >= maxOrders) refusals.delete(refusals.keys().next().value!)
      refusals.set(orderId, unavailable)
    }
    const audits = new Map<string, Array<OrderStore.AuditEntry>>()
    // Outbox in commit order; `head` skips the published prefix, compacted now and then.
    let outbox: Array<OutboxEntry> = []
    let head = 0
    let pending = 0
    let claims = 0
    const byEventId = new Map<string, OutboxEntry>()

    const append = (events: ReadonlyArray<Event.Event>) => {
      for (const event of events) {
        const entry: OutboxEntry = { event, published: false, claim: null, claimedUntil: 0 }
        outbox.push(entry)
        byEventId.set(event.event_id, entry)
        pending++
      }
    }

    const outboxFull = (events: ReadonlyArray<Event.Event>) => pending + events.length > maxPending

    const audit = (order: Order.Order, from: Order.OrderStatus | null) => {
      const entry = {
        order_id: order.order_id,
        from,
        to: order.status,
        version: order.version,
        at: order.updated_at
      }
      const log = audits.get(order.order_id)
      if (log === undefined) audits.set(order.order_id, [entry])
      else log.push(entry)
    }

    const compact = () => {
      while (head < outbox.length && outbox[head]!.published) head++
      if (head > 1_024 && head * 2 > outbox.length) {
        for (const entry of outbox.slice(0, head)) byEventId.delete(entry.event.event_id)
        outbox = outbox.slice(head)
        head = 0
      }
    }

    /**
     * A defect message when `order`, once written with `move`, would disagree with the stock of
     * its current attempt (checked before anything is written).
     */
    const disagreement = (order: Order.Order, move: InventoryStore.StockMove | null): string | undefined => {
      const current = stock.reservation(order.order_id, order.payment_attempt)?.status ?? "none"
      const have =
        move === "hold" ? "held" : move === "commit" ? "committed" : move === "release" ? "released" : current
      const want = expectedHold(order.status)
      const ok = want === "none" ? have !== "held" : have === want
      return ok
        ? undefined
        : `order ${order.order_id} would be ${order.status} with its attempt ${order.payment_attempt} hold ${have}`
    }

    const orDie = <A>(broken: string | undefined, value: A): Effect.Effect<A> =>
      broken === undefined ? Effect.succeed(value) : Effect.die(new Error(broken))

    const create: OrderStore.OrderStore["Service"]["create"] = (order, events) =>
      Effect.suspend(
        (): Effect.Effect<
          Order.Order,
          Errors.OutOfStock | Errors.CartNotActive | Errors.StoreUnavailable
        > => {
          const existing = orders.get(order.order_id)
          if (existing !== undefined) return Effect.succeed(existing)
          const other = orderOfCart.get(order.cart_id)
          const refused = refusals.get(order.order_id)
          if (refused === null)
            return Effect.fail(
              new Errors.CartNotActive({
                cartId: order.cart_id,
                ...(other === undefined ? {} : { orderId: other })
              })
            )
          if (refused !== undefined) return Effect.fail(new Errors.OutOfStock({ unavailable: refused }))
          if (order.version !== 1 || !Order.holdsStock(order.status))
            return Effect.die(new Error(`order ${order.order_id}: a new order is version 1 and holds stock`))
          if (other !== undefined && options.plantedManyOrdersPerCart !== true)
            return Effect.fail(new Errors.CartNotActive({ cartId: order.cart_id, orderId: other }))
          if (orders.size >= maxOrders) return full("order", maxOrders)
          if (!stock.hasRoom()) return full("reservation", stock.options.maxReservations)
          if (outboxFull(events)) return full("outbox", maxPending)
          const lines = linesOf(order)
          const unavailable = stock.shortfall(lines)
          if (unavailable.length > 0) {
            refuse(order.order_id, unavailable)
            return Effect.fail(new Errors.OutOfStock({ unavailable }))
          }
          const broken = stock.hold(order.order_id, order.payment_attempt, lines, order.hold_expires_at)
          orders.set(order.order_id, order)
          orderOfCart.set(order.cart_id, order.order_id)
          audit(order, null)
          append(events)
          return orDie(broken, order)
        }
      )

    const claimEvents = (nowMs: number, limit: number, leaseMs: number) =>
      Effect.sync((): OrderStore.EventClaim => {
        const max = pageLimit(limit)
        const token = `claim-${++claims}`
        const events: Array<Event.Event> = []
        // An order with an event under another live claim is skipped from there on, so its
        // later events wait for that relay: per-order publication order is kept.
        const blocked = new Set<string>()
        for (let i = head; i < outbox.length && events.length < max; i++) {
          const entry = outbox[i]!
          if (entry.published || blocked.has(entry.event.aggregate_id)) continue
          if (entry.claim !== null && entry.claimedUntil > nowMs) {
            if (options.plantedNoOrderBlocking !== true) blocked.add(entry.event.aggregate_id)
            continue
          }
          entry.claim = token
          entry.claimedUntil = nowMs + leaseMs
          events.push(entry.event)
        }
        return { token, events }
      })

    const markPublished = (token: string, eventIds: ReadonlyArray<string>) =>
      Effect.sync(() => {
        for (const id of eventIds) {
          const entry = byEventId.get(id)
          if (entry !== undefined && !entry.published && entry.claim === token) {
            entry.published = true
            pending--
          }
        }
        compact()
      })

    return {
      create,
      // Each order's `create` in turn, each atomic: one transaction buys nothing in memory.
      createMany: (batch) =>
        Effect.forEach(batch, ({ order, events }) => Effect.result(create(order, events))),

      get: (orderId) => Effect.sync(() => Option.fromNullishOr(orders.get(orderId))),

      refuseUnmade: (orderId) =>
        Effect.sync(() => {
          const made = orders.get(orderId)
          if (made === undefined && !refusals.has(orderId)) refuse(orderId, null)
          return Option.fromNullishOr(made)
        }),

      step: (next, expectedVersion, move, events) =>
        Effect.suspend(
          (): Effect.Effect<Option.Option<Order.Order>, Errors.OutOfStock | Errors.StoreUnavailable> => {
            const current = orders.get(next.order_id)
            if (current === undefined || current.version !== expectedVersion)
              return Effect.succeed(Option.none())
            if (next.status !== current.status && !Order.canTransition(current.status, next.status)) {
              // A service asked for a move the state machine forbids: a bug, not a race.
              return Effect.die(
                new Error(`order ${next.order_id} cannot move from ${current.status} to ${next.status}`)
              )
            }
            if (
              next.user_id !== current.user_id ||
              next.cart_id !== current.cart_id ||
              next.total.amount !== current.total.amount
            )
              return Effect.die(
                new Error(`order ${next.order_id}: a step cannot change its owner, cart or total`)
              )
            // Everything is checked before anything is written: a refused step leaves no trace.
            const target = move === "commit" ? "committed" : move === "release" ? "released" : move
            const refused =
              (target === null ? undefined : stock.refusal(next.order_id, next.payment_attempt, target)) ??
              disagreement(next, move)
            if (refused !== undefined) return Effect.die(new Error(refused))
            if (outboxFull(events)) return full("outbox", maxPending)
            const lines = linesOf(next)
            if (move === "hold") {
              if (!stock.hasRoom()) return full("reservation", stock.options.maxReservations)
              const unavailable = stock.shortfall(lines)
              if (unavailable.length > 0) return Effect.fail(new Errors.OutOfStock({ unavailable }))
            }
            const broken =
              move === "hold"
                ? stock.hold(next.order_id, next.payment_attempt, lines, next.hold_expires_at)
                : move === null
                  ? undefined
                  : stock.move(
                      next.order_id,
                      next.payment_attempt,
                      move === "commit" ? "committed" : "released"
                    )
            const stored = new Order.Order({ ...next, version: expectedVersion + 1 })
            orders.set(stored.order_id, stored)
            audit(stored, current.status)
            append(events)
            return orDie(broken, Option.some(stored))
          }
        ),

      listByStatus: (statuses, updatedBeforeIso, limit, cursor) =>
        Effect.sync(() => {
          const wanted = new Set(statuses)
          const found: Array<Order.Order> = []
          for (const order of orders.values())
            if (wanted.has(order.status) && order.updated_at <= updatedBeforeIso) found.push(order)
          // Oldest first by (updated_at, order id).
          return pageOf(found, cursor, limit, (o) => [o.updated_at, o.order_id], 1)
        }),

      listByUser: (userId, limit, cursor) =>
        Effect.sync(() => {
          const mine: Array<Order.Order> = []
          for (const order of orders.values()) if (order.user_id === userId) mine.push(order)
          // Newest first by (created_at, order id): ties are common under TestClock.
          return pageOf(mine, cursor, limit, (o) => [o.created_at, o.order_id], -1)
        }),

      audit: (orderId) => Effect.sync(() => [...(audits.get(orderId) ?? [])]),

      claimEvents,

      outboxLagMs: (nowMs) =>
        Effect.sync(() => {
          for (let i = head; i < outbox.length; i++) {
            const entry = outbox[i]!
            if (!entry.published) return Math.max(0, nowMs - Date.parse(entry.event.occurred_at))
          }
          return 0
        }),

      markPublished,

      // A claim marked when its publish succeeds. A failed publish leaves the claim to its lease,
      // as a relay that hung mid-publish holds Postgres's row locks until its lease (a relay that
      // fails or dies there frees them at once): the longer hold is the case the simulator needs
      // to find relays that ignore another's hold.
      relayEvents: (nowMs, limit, leaseMs, publish) =>
        Effect.flatMap(claimEvents(nowMs, limit, leaseMs), ({ token, events }) =>
          events.length === 0
            ? Effect.succeed(0)
            : publish(events.map(Event.toStored)).pipe(
                Effect.andThen(
                  markPublished(
                    token,
                    events.map((e) => e.event_id)
                  )
                ),
                Effect.as(events.length)
              )
        ),

      orders: Effect.sync(() => [...orders.values()]),
      outbox: Effect.sync(() => outbox.slice(head).map((e) => ({ event: e.event, published: e.published }))),
      pending: Effect.sync(() => pending)
    }
  })

const context = (options: Options) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const store = yield* make(yield* Stock, options)
      return Context.make(OrderStore.OrderStore, store).pipe(Context.add(Inspector, store))
    })
  )

/**
 * Provides `OrderStore` and its `Inspector` (one store behind both), over the `Stock` tables
 * of an `InMemoryInventoryStore` layer (provide that one layer to both, e.g. `provideMerge`).
 */
export const layer: Layer.Layer<OrderStore.OrderStore | Inspector, never, Stock> = context({})

export const layerWith = (options: Options): Layer.Layer<OrderStore.OrderStore | Inspector, never, Stock> =>
  context(options)
