/**
 * The OrderStore port in memory: orders, audit log and outbox change together inside one
 * synchronous block, the in-memory equivalent of one Postgres transaction. A status change
 * is a compare-and-set on the current status and must be allowed by `Order.canTransition`;
 * an event is in the outbox if and only if its change was written.
 *
 * `Inspector` lets tests and the simulator read every order (for the money and oversell
 * invariants) without going through paging.
 */
import { type Event, Order, OrderStore } from "@till/core"
import { Context, Effect, Layer, Option, Result } from "effect"
import { Base64Url } from "effect/encoding"
import { full, pageLimit, requireCapacity } from "./internal/limits.js"

export interface Options {
  readonly maxOrders?: number
  /** Most unpublished outbox events; a write that would exceed it fails `StoreUnavailable`. */
  readonly maxPendingEvents?: number
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
  }
>()("@till/testkit/InMemoryOrderStore/Inspector") {}

interface OutboxEntry {
  readonly event: Event.Event
  published: boolean
}

/** Newest first: created_at descending, then order id descending (ties are common under TestClock). */
const newestFirst = (a: Order.Order, b: Order.Order): number =>
  a.created_at === b.created_at ? compare(b.order_id, a.order_id) : compare(b.created_at, a.created_at)

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

// The cursor is the sort key of the last order of a page; opaque to callers.
const encodeCursor = (order: Order.Order): string =>
  Base64Url.encode(JSON.stringify([order.created_at, order.order_id]))

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

export const make = (
  options: Options = {}
): Effect.Effect<OrderStore.OrderStore["Service"] & Inspector["Service"]> =>
  Effect.sync(() => {
    const maxOrders = requireCapacity("maxOrders", options.maxOrders ?? defaultMaxOrders)
    const maxPending = requireCapacity(
      "maxPendingEvents",
      options.maxPendingEvents ?? defaultMaxPendingEvents
    )
    const orders = new Map<string, Order.Order>()
    const audits = new Map<string, Array<OrderStore.AuditEntry>>()
    // Outbox in commit order; `head` skips the published prefix, compacted now and then.
    let outbox: Array<OutboxEntry> = []
    let head = 0
    let pending = 0
    const byEventId = new Map<string, OutboxEntry>()

    const append = (events: ReadonlyArray<Event.Event>) => {
      for (const event of events) {
        const entry = { event, published: false }
        outbox.push(entry)
        byEventId.set(event.event_id, entry)
        pending++
      }
    }

    const outboxFull = (events: ReadonlyArray<Event.Event>) => pending + events.length > maxPending

    const audit = (orderId: string, entry: OrderStore.AuditEntry) => {
      const log = audits.get(orderId)
      if (log === undefined) audits.set(orderId, [entry])
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

    return {
      create: (order, events) =>
        Effect.suspend(() => {
          const existing = orders.get(order.order_id)
          if (existing !== undefined) return Effect.succeed(existing)
          if (orders.size >= maxOrders) return full("order", maxOrders)
          if (outboxFull(events)) return full("outbox", maxPending)
          orders.set(order.order_id, order)
          audit(order.order_id, {
            order_id: order.order_id,
            from: null,
            to: order.status,
            at: order.created_at
          })
          append(events)
          return Effect.succeed(order)
        }),

      get: (orderId) => Effect.sync(() => Option.fromNullishOr(orders.get(orderId))),

      update: (next, expected, events) =>
        Effect.suspend(() => {
          const current = orders.get(next.order_id)
          if (current === undefined || current.status !== expected) return Effect.succeed(Option.none())
          if (next.status !== expected && !Order.canTransition(expected, next.status)) {
            // A service asked for a move the state machine forbids: a bug, not a race.
            return Effect.die(
              new Error(`order ${next.order_id} cannot move from ${expected} to ${next.status}`)
            )
          }
          if (outboxFull(events)) return full("outbox", maxPending)
          orders.set(next.order_id, next)
          audit(next.order_id, {
            order_id: next.order_id,
            from: expected,
            to: next.status,
            at: next.updated_at
          })
          append(events)
          return Effect.succeed(Option.some(next))
        }),

      listByStatus: (statuses, updatedBeforeIso, limit) =>
        Effect.sync(() => {
          const wanted = new Set(statuses)
          const found: Array<Order.Order> = []
          for (const order of orders.values()) {
            if (wanted.has(order.status) && order.updated_at <= updatedBeforeIso) found.push(order)
          }
          found.sort((a, b) => compare(a.updated_at, b.updated_at) || compare(a.order_id, b.order_id))
          return found.slice(0, pageLimit(limit))
        }),

      listByUser: (userId, limit, cursor) =>
        Effect.sync((): OrderStore.OrderPage => {
          let after: readonly [string, string] | undefined
          if (cursor !== null) {
            const decoded = decodeCursor(cursor)
            // An undecodable cursor cannot point anywhere: an empty last page, never a defect.
            if (Option.isNone(decoded)) return { orders: [], nextCursor: null }
            after = decoded.value
          }
          const mine: Array<Order.Order> = []
          for (const order of orders.values()) if (order.user_id === userId) mine.push(order)
          mine.sort(newestFirst)
          const rest =
            after === undefined
              ? mine
              : mine.filter(
                  (o) => o.created_at < after[0] || (o.created_at === after[0] && o.order_id < after[1])
                )
          const page = rest.slice(0, pageLimit(limit, 1))
          const last = page[page.length - 1]
          return {
            orders: page,
            nextCursor: rest.length > page.length && last !== undefined ? encodeCursor(last) : null
          }
        }),

      audit: (orderId) => Effect.sync(() => [...(audits.get(orderId) ?? [])]),

      pendingEvents: (limit) =>
        Effect.sync(() => {
          const max = pageLimit(limit)
          const events: Array<Event.Event> = []
          for (let i = head; i < outbox.length && events.length < max; i++) {
            const entry = outbox[i]!
            if (!entry.published) events.push(entry.event)
          }
          return events
        }),

      markPublished: (eventIds) =>
        Effect.sync(() => {
          for (const id of eventIds) {
            const entry = byEventId.get(id)
            if (entry !== undefined && !entry.published) {
              entry.published = true
              pending--
            }
          }
          compact()
        }),

      orders: Effect.sync(() => [...orders.values()]),
      outbox: Effect.sync(() => outbox.slice(head).map((e) => ({ event: e.event, published: e.published })))
    }
  })

const context = (options: Options) =>
  Layer.effectContext(
    Effect.map(make(options), (store) =>
      Context.make(OrderStore.OrderStore, store).pipe(Context.add(Inspector, store))
    )
  )

/** Provides `OrderStore` and its `Inspector` (one store behind both). */
export const layer: Layer.Layer<OrderStore.OrderStore | Inspector> = context({})

export const layerWith = (options: Options): Layer.Layer<OrderStore.OrderStore | Inspector> =>
  context(options)
