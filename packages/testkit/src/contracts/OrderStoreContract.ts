/**
 * The OrderStore contract. What it guards (OrderStore.ts, Order.ts): create is idempotent by
 * order id; every status change is a compare-and-set on the current status, so of concurrent
 * updates from one expected status exactly one wins; an event is in the outbox, in commit
 * order, if and only if its change committed; the audit log only grows.
 *
 * The store is shared by every case (fresh ids per case). The outbox cases first drain what
 * earlier cases or runs left pending, so they assume the suite owns the outbox while it runs
 * (vitest runs the cases of one file one after another).
 */
import { expect, layer, type Vitest } from "@effect/vitest"
import { Address, Event, Money, Order, OrderStore, Sku } from "@till/core"
import { Effect, Exit, type Layer, Option } from "effect"
import { encoded, isoAt, uniqueId } from "../internal/contract.js"

type Store = OrderStore.OrderStore["Service"]
type It = Vitest.MethodsNonLive<OrderStore.OrderStore>

const encode = encoded(Order.Order)
const t0 = Date.UTC(2030, 0, 1)

export interface OrderFixture {
  readonly orderId?: string
  readonly userId?: string
  readonly status?: Order.OrderStatus
  readonly createdAtMs?: number
  readonly updatedAtMs?: number
}

/** A valid order with fresh ids; every field a real table has a column for is filled. */
const makeOrder = (fixture: OrderFixture = {}) =>
  Effect.gen(function* () {
    const sku = Sku.make(yield* uniqueId("sku"))
    const createdAt = isoAt(fixture.createdAtMs ?? t0)
    const unitPrice = Money.make(1250, "USD")
    return new Order.Order({
      order_id: fixture.orderId ?? (yield* uniqueId("ord")),
      user_id: fixture.userId ?? (yield* uniqueId("user")),
      cart_id: yield* uniqueId("cart"),
      status: fixture.status ?? "pending",
      items: [
        { sku, name: "Mug", quantity: 2, unit_price: unitPrice, line_total: Money.times(unitPrice, 2) }
      ],
      subtotal: Money.make(2500, "USD"),
      tax: Money.make(206, "USD"),
      shipping: Money.make(599, "USD"),
      total: Money.make(3305, "USD"),
      shipping_address: new Address.Address({
        name: "Ada Lovelace",
        line1: "12 St James's Square",
        city: "London",
        postal_code: "SW1Y 4JH",
        country: "GB"
      }),
      payment: null,
      payment_method_id: "pm_contract",
      payment_attempt: 1,
      hold_expires_at: (fixture.createdAtMs ?? t0) + 15 * 60_000,
      retry_until: (fixture.createdAtMs ?? t0) + 30 * 60_000,
      created_at: createdAt,
      updated_at: isoAt(fixture.updatedAtMs ?? fixture.createdAtMs ?? t0)
    })
  })

const makeEvent = (order: Order.Order, type: Event.EventType) =>
  Effect.map(
    uniqueId("evt"),
    (eventId) =>
      new Event.Event({
        event_id: eventId,
        type,
        occurred_at: order.updated_at,
        aggregate_id: order.order_id,
        data: { status: order.status, total: order.total.amount }
      })
  )

/** The same order moved to `status`, updated `laterMs` after it was. */
const moved = (order: Order.Order, status: Order.OrderStatus, laterMs = 1_000) =>
  new Order.Order({ ...order, status, updated_at: isoAt(Date.parse(order.updated_at) + laterMs) })

/** Marks every pending event published (bounded), so a case sees only its own events. */
const drainOutbox = (store: Store) =>
  Effect.gen(function* () {
    for (let page = 0; page < 1_000; page++) {
      const events = yield* store.pendingEvents(500)
      if (events.length === 0) return
      yield* store.markPublished(events.map((e) => e.event_id))
    }
    return yield* Effect.die(new Error("outbox did not drain after 1,000 pages"))
  })

const pendingIds = (store: Store) =>
  Effect.map(store.pendingEvents(1_000), (events) => events.map((e) => e.event_id))

export const orderStoreContract = (
  name: string,
  storeLayer: Layer.Layer<OrderStore.OrderStore, unknown>
): void => {
  layer(storeLayer)(`OrderStore contract: ${name}`, (it) => {
    describeWrites(it)
    describeOutbox(it)
    describeLists(it)
  })
}

const withStore = <A, E>(f: (store: Store) => Effect.Effect<A, E>) => Effect.flatMap(OrderStore.OrderStore, f)

const describeWrites = (it: It) => {
  it.effect("get of an unknown order is None", () =>
    withStore((store) =>
      Effect.gen(function* () {
        expect(Option.isNone(yield* store.get(yield* uniqueId("ord")))).toBe(true)
      })
    )
  )

  it.effect("create then get returns the order, every field intact", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const order = yield* makeOrder()
        expect(encode(yield* store.create(order, []))).toEqual(encode(order))
        expect(Option.map(yield* store.get(order.order_id), encode)).toEqual(Option.some(encode(order)))
      })
    )
  )

  it.effect("create is idempotent by order id: the stored order is returned unchanged", () =>
    withStore((store) =>
      Effect.gen(function* () {
        yield* drainOutbox(store)
        const order = yield* makeOrder()
        const first = yield* makeEvent(order, "order.created")
        yield* store.create(order, [first])
        const imposter = moved(order, "confirmed")
        const second = yield* makeEvent(imposter, "order.created")
        expect(encode(yield* store.create(imposter, [second]))).toEqual(encode(order))
        expect(Option.getOrThrow(yield* store.get(order.order_id)).status).toBe("pending")
        expect(yield* pendingIds(store)).toEqual([first.event_id])
        expect((yield* store.audit(order.order_id)).length).toBe(1)
      })
    )
  )

  it.effect("concurrent creates of one order store it once, with its events once", () =>
    withStore((store) =>
      Effect.gen(function* () {
        yield* drainOutbox(store)
        const order = yield* makeOrder()
        const events = yield* Effect.all(Array.from({ length: 20 }, () => makeEvent(order, "order.created")))
        const results = yield* Effect.forEach(events, (event) => store.create(order, [event]), {
          concurrency: "unbounded"
        })
        for (const stored of results) expect(encode(stored)).toEqual(encode(order))
        expect((yield* pendingIds(store)).length).toBe(1)
        expect((yield* store.audit(order.order_id)).length).toBe(1)
      })
    )
  )

  it.effect("update is a compare-and-set on the status", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const order = yield* makeOrder()
        yield* store.create(order, [])
        const confirmed = moved(order, "confirmed")
        expect(Option.map(yield* store.update(confirmed, "pending", []), encode)).toEqual(
          Option.some(encode(confirmed))
        )
        expect(Option.map(yield* store.get(order.order_id), encode)).toEqual(Option.some(encode(confirmed)))
        // Stale expectation: nothing written.
        const late = moved(order, "payment_failed", 2_000)
        expect(yield* store.update(late, "pending", [])).toEqual(Option.none())
        expect(Option.getOrThrow(yield* store.get(order.order_id)).status).toBe("confirmed")
      })
    )
  )

  it.effect("update keeping the status (a new payment field) is allowed", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const order = yield* makeOrder({ status: "payment_pending" })
        yield* store.create(order, [])
        const next = new Order.Order({
          ...order,
          payment: { status: "pending", brand: "visa", last4: "4242" },
          updated_at: isoAt(t0 + 5)
        })
        expect(Option.isSome(yield* store.update(next, "payment_pending", []))).toBe(true)
        expect(Option.getOrThrow(yield* store.get(order.order_id)).payment).toEqual(next.payment)
      })
    )
  )

  it.effect("update of an unknown order is None and creates nothing", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const order = yield* makeOrder()
        expect(yield* store.update(moved(order, "confirmed"), "pending", [])).toEqual(Option.none())
        expect(Option.isNone(yield* store.get(order.order_id))).toBe(true)
      })
    )
  )

  it.effect("a move the state machine forbids is never written", () =>
    withStore((store) =>
      Effect.gen(function* () {
        yield* drainOutbox(store)
        const order = yield* makeOrder({ status: "confirmed" })
        yield* store.create(order, [])
        const back = moved(order, "pending")
        const event = yield* makeEvent(back, "order.created")
        // Failing or dying are both fine: the point is that nothing changes.
        expect(Exit.isSuccess(yield* Effect.exit(store.update(back, "confirmed", [event])))).toBe(false)
        expect(Option.getOrThrow(yield* store.get(order.order_id)).status).toBe("confirmed")
        expect(yield* pendingIds(store)).toEqual([])
      })
    )
  )

  it.effect("concurrent updates from one expected status: exactly one wins", () =>
    withStore((store) =>
      Effect.gen(function* () {
        yield* drainOutbox(store)
        const order = yield* makeOrder()
        yield* store.create(order, [])
        const targets: ReadonlyArray<Order.OrderStatus> = [
          "confirmed",
          "payment_failed",
          "cancelled",
          "payment_pending"
        ]
        const attempts = yield* Effect.all(
          Array.from({ length: 40 }, (_, i) => {
            const next = moved(order, targets[i % targets.length]!, i + 1)
            return Effect.map(makeEvent(next, "order.confirmed"), (event) => ({ next, event }))
          })
        )
        const results = yield* Effect.forEach(attempts, (a) => store.update(a.next, "pending", [a.event]), {
          concurrency: "unbounded"
        })
        const winners = attempts.filter((_, i) => Option.isSome(results[i]!))
        expect(winners.length).toBe(1)
        const winner = winners[0]!
        expect(Option.map(yield* store.get(order.order_id), encode)).toEqual(Option.some(encode(winner.next)))
        expect(yield* pendingIds(store)).toEqual([winner.event.event_id])
        expect((yield* store.audit(order.order_id)).map((e) => [e.from, e.to])).toEqual([
          [null, "pending"],
          ["pending", winner.next.status]
        ])
      })
    )
  )

  it.effect("the audit log appends one entry per committed change, in order", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const order = yield* makeOrder()
        yield* store.create(order, [])
        const queued = moved(order, "payment_pending")
        yield* store.update(queued, "pending", [])
        yield* store.update(moved(order, "cancelled"), "pending", []) // stale: no entry
        yield* store.update(moved(queued, "confirmed"), "payment_pending", [])
        const entries = yield* store.audit(order.order_id)
        expect(entries.map((e) => [e.order_id, e.from, e.to])).toEqual([
          [order.order_id, null, "pending"],
          [order.order_id, "pending", "payment_pending"],
          [order.order_id, "payment_pending", "confirmed"]
        ])
        for (const entry of entries) expect(Number.isNaN(Date.parse(entry.at))).toBe(false)
        expect(yield* store.audit(yield* uniqueId("ord"))).toEqual([])
      })
    )
  )
}

const describeOutbox = (it: It) => {
  it.effect("pendingEvents lists only committed changes' events, in commit order", () =>
    withStore((store) =>
      Effect.gen(function* () {
        yield* drainOutbox(store)
        const a = yield* makeOrder()
        const b = yield* makeOrder()
        const a1 = yield* makeEvent(a, "order.created")
        const a2 = yield* makeEvent(a, "inventory.reserved")
        const b1 = yield* makeEvent(b, "order.created")
        yield* store.create(a, [a1, a2])
        yield* store.create(b, [b1])
        const aConfirmed = moved(a, "confirmed")
        const a3 = yield* makeEvent(aConfirmed, "order.confirmed")
        yield* store.update(aConfirmed, "pending", [a3])
        const stale = yield* makeEvent(b, "order.expired")
        yield* store.update(moved(b, "expired"), "payment_pending", [stale])
        const events = yield* store.pendingEvents(1_000)
        expect(events.map((e) => e.event_id)).toEqual([a1.event_id, a2.event_id, b1.event_id, a3.event_id])
        expect(events[0]!.data).toEqual(a1.data)
        expect(events[3]!.type).toBe("order.confirmed")
        expect((yield* store.pendingEvents(2)).map((e) => e.event_id)).toEqual([a1.event_id, a2.event_id])
        expect(yield* store.pendingEvents(0)).toEqual([])
      })
    )
  )

  it.effect("markPublished removes exactly those events; unknown and repeated ids are harmless", () =>
    withStore((store) =>
      Effect.gen(function* () {
        yield* drainOutbox(store)
        const order = yield* makeOrder()
        const events = yield* Effect.all([
          makeEvent(order, "order.created"),
          makeEvent(order, "inventory.reserved"),
          makeEvent(order, "payment.queued")
        ])
        yield* store.create(order, events)
        yield* store.markPublished([events[1]!.event_id, yield* uniqueId("evt")])
        expect(yield* pendingIds(store)).toEqual([events[0]!.event_id, events[2]!.event_id])
        yield* store.markPublished([events[1]!.event_id, events[0]!.event_id])
        yield* store.markPublished([])
        expect(yield* pendingIds(store)).toEqual([events[2]!.event_id])
        yield* store.markPublished([events[2]!.event_id])
        expect(yield* pendingIds(store)).toEqual([])
      })
    )
  )
}

const describeLists = (it: It) => {
  it.effect("listByStatus filters by status and last update, oldest first, up to the limit", () =>
    withStore((store) =>
      Effect.gen(function* () {
        // Updates in 2001, long before anything other cases write (2030).
        const base = Date.UTC(2001, 0, 1)
        const pendingOld = yield* makeOrder({ createdAtMs: base + 20 })
        const queuedOlder = yield* makeOrder({ status: "payment_pending", createdAtMs: base + 10 })
        const pendingTooNew = yield* makeOrder({ createdAtMs: base + 31 })
        const confirmed = yield* makeOrder({ status: "confirmed", createdAtMs: base + 5 })
        for (const order of [pendingOld, queuedOlder, pendingTooNew, confirmed])
          yield* store.create(order, [])
        const mine = new Set([pendingOld, queuedOlder, pendingTooNew, confirmed].map((o) => o.order_id))

        const listed = yield* store.listByStatus(["pending", "payment_pending"], isoAt(base + 30), 1_000)
        expect(listed.filter((o) => mine.has(o.order_id)).map((o) => o.order_id)).toEqual([
          queuedOlder.order_id,
          pendingOld.order_id
        ])
        for (const order of listed) {
          expect(["pending", "payment_pending"]).toContain(order.status)
          expect(order.updated_at <= isoAt(base + 30)).toBe(true)
        }
        const updated = listed.map((o) => o.updated_at)
        expect(updated).toEqual([...updated].sort())
        expect((yield* store.listByStatus(["pending", "payment_pending"], isoAt(base + 30), 1)).length).toBe(
          1
        )
        expect(yield* store.listByStatus([], isoAt(base + 30), 10)).toEqual([])

        // Moving an order out of the statuses takes it off the list.
        yield* store.update(moved(queuedOlder, "confirmed"), "payment_pending", [])
        const after = yield* store.listByStatus(["pending", "payment_pending"], isoAt(base + 30), 1_000)
        expect(after.some((o) => o.order_id === queuedOlder.order_id)).toBe(false)
      })
    )
  )

  it.effect("listByUser pages newest first through every order exactly once", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const userId = yield* uniqueId("user")
        // Ties on created_at are common (same millisecond, TestClock): paging must still be exact.
        const orders = yield* Effect.all(
          Array.from({ length: 25 }, (_, i) =>
            makeOrder({ userId, createdAtMs: t0 + Math.floor(i / 4) * 1_000 })
          )
        )
        yield* Effect.forEach(orders, (o) => store.create(o, []), { concurrency: "unbounded", discard: true })
        yield* store.create(yield* makeOrder(), []) // someone else's

        const seen: Array<Order.Order> = []
        let cursor: string | null = null
        for (let page = 0; page < 10; page++) {
          const result: OrderStore.OrderPage = yield* store.listByUser(userId, 7, cursor)
          expect(result.orders.length).toBeLessThanOrEqual(7)
          seen.push(...result.orders)
          cursor = result.nextCursor
          if (cursor === null) break
        }
        expect(cursor).toBeNull()
        const ids = seen.map((o) => o.order_id)
        expect(new Set(ids).size).toBe(ids.length)
        expect([...ids].sort()).toEqual(orders.map((o) => o.order_id).sort())
        for (const order of seen) expect(order.user_id).toBe(userId)
        const created = seen.map((o) => o.created_at)
        expect(created).toEqual([...created].sort().reverse())
      })
    )
  )

  it.effect("listByUser of a user without orders is an empty last page", () =>
    withStore((store) =>
      Effect.gen(function* () {
        expect(yield* store.listByUser(yield* uniqueId("user"), 10, null)).toEqual({
          orders: [],
          nextCursor: null
        })
      })
    )
  )

  it.effect("listByUser with a garbage cursor is never a defect", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const userId = yield* uniqueId("user")
        yield* store.create(yield* makeOrder({ userId }), [])
        for (const cursor of ["", "not-a-cursor", "%%%", "eyJ4IjoxfQ"]) {
          const exit = yield* Effect.exit(store.listByUser(userId, 10, cursor))
          // A typed failure (one Fail reason) is fine; a defect or anything else is not.
          if (Exit.isFailure(exit)) expect(exit.cause.reasons.map((r) => r._tag)).toEqual(["Fail"])
        }
      })
    )
  )
}
