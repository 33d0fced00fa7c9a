/**
 * The OrderStore contract, part two: the outbox (claims with a lease, competing relays, the
 * per-order order of publication, fencing by claim token) and the paged lists. Registered by
 * `orderStoreContract` (OrderStoreContract.ts), with a store built afresh for every case.
 */
import { expect, it } from "@effect/vitest"
import { Event, type Order, type OrderStore } from "@till/core"
import { Arbitrary, Cause, Deferred, Effect, Fiber, Option, Schema } from "effect"
import { isoAt, uniqueId } from "../internal/contract.js"
import {
  claimedIds,
  type isolated,
  makeEvent,
  makeOrder,
  moved,
  type Orders,
  stepped,
  stocked,
  t0
} from "./OrderStoreFixtures.js"

type Run = ReturnType<typeof isolated>

const ids = (events: ReadonlyArray<{ readonly event_id: string }>) => events.map((e) => e.event_id)

/** A new order of one unit of `sku`, created with `count` events. */
const withEvents = (orders: Orders, sku: Parameters<typeof makeOrder>[0]["lines"][0][0], count: number) =>
  Effect.gen(function* () {
    const order = yield* makeOrder({ lines: [[sku, 1]] })
    const events = yield* Effect.forEach(Array.from({ length: count }), () => makeEvent(order))
    yield* orders.create(order, events)
    return { order, events: ids(events) }
  })

export const describeOutbox = (run: Run) => {
  it.effect("outboxLagMs: the age of the oldest unpublished event, claimed or not; 0 once all are out", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        expect(yield* orders.outboxLagMs(t0)).toBe(0)
        const sku = yield* stocked(stock, 10)
        const a = yield* makeOrder({ lines: [[sku, 1]] })
        const occurredAt = Date.parse(a.updated_at)
        yield* orders.create(a, [yield* makeEvent(a), yield* makeEvent(a, "inventory.reserved")])
        const b = moved(a, "confirmed", 5_000)
        yield* orders.step(b, 1, "commit", [yield* makeEvent(b, "order.confirmed")])
        expect(yield* orders.outboxLagMs(occurredAt + 250)).toBe(250)
        // Claimed but not yet published still counts: the relay may be stuck on it.
        const first = yield* orders.claimEvents(occurredAt + 300, 2, 60_000)
        expect(first.events).toHaveLength(2)
        expect(yield* orders.outboxLagMs(occurredAt + 300)).toBe(300)
        yield* orders.markPublished(first.token, ids(first.events))
        // What is left occurred 5 s later.
        expect(yield* orders.outboxLagMs(occurredAt + 6_000)).toBe(1_000)
        const rest = yield* orders.claimEvents(occurredAt + 6_000, 10, 60_000)
        yield* orders.markPublished(rest.token, ids(rest.events))
        expect(yield* orders.outboxLagMs(occurredAt + 7_000)).toBe(0)
      })
    )
  )

  it.effect("claimEvents answers committed steps' events only, in commit order, up to the limit", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        const a = yield* makeOrder({ lines: [[sku, 1]] })
        const b = yield* makeOrder({ lines: [[sku, 2]] })
        const a1 = yield* makeEvent(a)
        const a2 = yield* makeEvent(a, "inventory.reserved")
        const b1 = yield* makeEvent(b)
        yield* orders.create(a, [a1, a2])
        yield* orders.create(b, [b1])
        const aConfirmed = moved(a, "confirmed")
        const a3 = yield* makeEvent(aConfirmed, "order.confirmed")
        yield* orders.step(aConfirmed, 1, "commit", [a3])
        // Never committed: a stale step, an out-of-stock create, a second order of a cart.
        yield* orders.step(moved(b, "expired"), 7, "release", [yield* makeEvent(b, "order.expired")])
        const short = yield* makeOrder({ lines: [[sku, 99]] })
        yield* Effect.exit(orders.create(short, [yield* makeEvent(short)]))
        const twin = yield* makeOrder({ lines: [[sku, 1]], cartId: a.cart_id })
        yield* Effect.exit(orders.create(twin, [yield* makeEvent(twin)]))

        expect((yield* orders.claimEvents(t0, 0, 60_000)).events).toEqual([])
        const claim = yield* orders.claimEvents(t0, 3, 60_000)
        expect(ids(claim.events)).toEqual([a1.event_id, a2.event_id, b1.event_id])
        expect(claim.events[0]).toEqual(a1)
        const rest = yield* orders.claimEvents(t0, 1_000, 60_000)
        // a3 waits behind a1 and a2, claimed by the first relay.
        expect(ids(rest.events)).toEqual([])
        yield* orders.markPublished(claim.token, ids(claim.events))
        expect(yield* claimedIds(orders, t0 + 1)).toEqual([a3.event_id])
        expect(yield* claimedIds(orders, t0 + 2)).toEqual([])
      })
    )
  )

  it.effect(
    "an order with an event under a live claim has none of its later events claimed by another relay",
    () =>
      run((orders, stock) =>
        Effect.gen(function* () {
          const sku = yield* stocked(stock, 10)
          const a = yield* withEvents(orders, sku, 3)
          const b = yield* withEvents(orders, sku, 1)
          const first = yield* orders.claimEvents(t0, 1, 60_000)
          expect(ids(first.events)).toEqual([a.events[0]])
          const second = yield* orders.claimEvents(t0, 10, 60_000)
          expect(ids(second.events)).toEqual(b.events)
          yield* orders.markPublished(first.token, [a.events[0]!])
          expect(yield* claimedIds(orders, t0 + 1)).toEqual(a.events.slice(1))
        })
      )
  )

  it.effect("concurrent claims get disjoint events, each order's with one relay, in commit order", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 100)
        const written = yield* Effect.forEach(Array.from({ length: 20 }), () => withEvents(orders, sku, 2))
        const commitOrder = written.flatMap((w) => w.events)
        const relayOf = new Map<string, number>()
        const published: Array<string> = []
        for (let round = 0; round < 10 && published.length < commitOrder.length; round++) {
          const claims = yield* Effect.all(
            Array.from({ length: 4 }, () => orders.claimEvents(t0 + round, 7, 60_000)),
            { concurrency: "unbounded" }
          )
          const seen = claims.flatMap((c) => ids(c.events))
          expect(new Set(seen).size).toBe(seen.length)
          for (const [relay, claim] of claims.entries()) {
            const mine = ids(claim.events)
            expect(mine).toEqual([...mine].sort((x, y) => commitOrder.indexOf(x) - commitOrder.indexOf(y)))
            for (const event of claim.events) {
              expect(relayOf.get(`${round}:${event.aggregate_id}`) ?? relay).toBe(relay)
              relayOf.set(`${round}:${event.aggregate_id}`, relay)
            }
          }
          yield* Effect.forEach(claims, (c) => orders.markPublished(c.token, ids(c.events)), {
            concurrency: "unbounded",
            discard: true
          })
          published.push(...seen)
        }
        expect([...published].sort()).toEqual([...commitOrder].sort())
        // Per order, publication kept commit order.
        for (const w of written) expect(published.filter((id) => w.events.includes(id))).toEqual(w.events)
      })
    )
  )

  it.effect("a claim whose lease ended is handed over, and its old token then marks nothing", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        const a = yield* withEvents(orders, sku, 2)
        const stale = yield* orders.claimEvents(t0, 10, 30_000)
        expect(ids(stale.events)).toEqual(a.events)
        expect(yield* claimedIds(orders, t0 + 10_000)).toEqual([])
        const fresh = yield* orders.claimEvents(t0 + 30_001, 10, 30_000)
        expect(ids(fresh.events)).toEqual(a.events)
        yield* orders.markPublished(stale.token, a.events)
        // Still unpublished: claimed again once the new lease ended too.
        const third = yield* orders.claimEvents(t0 + 60_002, 10, 30_000)
        expect(ids(third.events)).toEqual(a.events)
        yield* orders.markPublished(fresh.token, a.events)
        yield* orders.markPublished(third.token, a.events)
        expect(yield* claimedIds(orders, t0 + 3_600_000)).toEqual([])
      })
    )
  )

  it.effect(
    "relayEvents publishes committed events in commit order, marks them, and a second relay finds none",
    () =>
      run((orders, stock) =>
        Effect.gen(function* () {
          const sku = yield* stocked(stock, 10)
          const a = yield* withEvents(orders, sku, 2)
          const b = yield* withEvents(orders, sku, 1)
          const published: Array<string> = []
          const publish = (events: ReadonlyArray<Event.StoredEvent>) =>
            Effect.sync(() => published.push(...ids(events)))
          expect(yield* orders.relayEvents(t0, 2, 60_000, publish)).toBe(2)
          expect(yield* orders.relayEvents(t0, 10, 60_000, publish)).toBe(1)
          expect(published).toEqual([...a.events, ...b.events])
          expect(yield* orders.relayEvents(t0, 10, 60_000, publish)).toBe(0)
          expect(yield* claimedIds(orders, t0 + 3_600_000)).toEqual([])
          expect(yield* orders.outboxLagMs(t0 + 3_600_000)).toBe(0)
        })
      )
  )

  it.effect(
    "relayEvents whose publish fails marks nothing; its events go out again, at the latest after its lease",
    () =>
      run((orders, stock) =>
        Effect.gen(function* () {
          const sku = yield* stocked(stock, 10)
          const a = yield* withEvents(orders, sku, 2)
          const failed = yield* Effect.exit(
            orders.relayEvents(t0, 10, 60_000, () => Effect.fail("broker down"))
          )
          expect(failed._tag === "Failure" && String(Cause.squash(failed.cause))).toBe("broker down")
          const published: Array<string> = []
          // Postgres frees them at the rollback; a store may hold them until the lease ends.
          const moved = yield* orders.relayEvents(t0 + 60_001, 10, 60_000, (events) =>
            Effect.sync(() => published.push(...ids(events)))
          )
          expect(moved).toBe(2)
          expect(published).toEqual(a.events)
        })
      )
  )

  it.effect(
    "while a relay's publish runs, another relay skips its events and every later event of their orders",
    () =>
      run((orders, stock) =>
        Effect.gen(function* () {
          const sku = yield* stocked(stock, 10)
          const a = yield* withEvents(orders, sku, 1)
          const b = yield* withEvents(orders, sku, 1)
          const more = yield* makeEvent(a.order, "order.confirmed")
          yield* stepped(orders, a.order, "confirmed", "commit", [more])
          const holding = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          const first = yield* Effect.forkChild(
            orders.relayEvents(t0, 1, 60_000, () =>
              Effect.andThen(Deferred.succeed(holding, undefined), Deferred.await(release))
            )
          )
          yield* Deferred.await(holding)
          const second: Array<string> = []
          yield* orders.relayEvents(t0, 10, 60_000, (events) =>
            Effect.sync(() => second.push(...ids(events)))
          )
          expect(second).toEqual(b.events)
          yield* Deferred.succeed(release, undefined)
          expect(yield* Fiber.join(first)).toBe(1)
          const third: Array<string> = []
          yield* orders.relayEvents(t0, 10, 60_000, (events) => Effect.sync(() => third.push(...ids(events))))
          expect(third).toEqual([more.event_id])
        })
      )
  )

  it.effect("relayEvents hands each event on as stored: its JSON decodes to the event written", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        const a = yield* withEvents(orders, sku, 2)
        const stored: Array<Event.StoredEvent> = []
        yield* orders.relayEvents(t0, 10, 60_000, (events) => Effect.sync(() => stored.push(...events)))
        expect(ids(stored)).toEqual(a.events)
        for (const s of stored) {
          const event = yield* Schema.decodeUnknownEffect(Schema.fromJsonString(Event.Event))(s.json)
          expect([event.event_id, event.aggregate_id, event.type]).toEqual([
            s.event_id,
            s.aggregate_id,
            s.type
          ])
          expect(event.aggregate_id).toBe(a.order.order_id)
        }
      })
    )
  )

  it.effect("concurrent relayEvents publish disjoint events, each order's in commit order", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 100)
        const written = yield* Effect.forEach(Array.from({ length: 20 }), () => withEvents(orders, sku, 2))
        const published: Array<string> = []
        const publish = (events: ReadonlyArray<Event.StoredEvent>) =>
          Effect.andThen(
            Effect.yieldNow,
            Effect.sync(() => published.push(...ids(events)))
          )
        for (let round = 0; round < 20 && published.length < 40; round++) {
          yield* Effect.all(
            Array.from({ length: 4 }, () => orders.relayEvents(t0 + round, 7, 60_000, publish)),
            { concurrency: "unbounded" }
          )
        }
        expect(published).toHaveLength(40)
        expect(new Set(published).size).toBe(40)
        for (const w of written) expect(published.filter((id) => w.events.includes(id))).toEqual(w.events)
      })
    )
  )

  it.effect("markPublished marks only its claim's events; unknown and repeated ids are harmless", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        const a = yield* withEvents(orders, sku, 3)
        const b = yield* withEvents(orders, sku, 1)
        const first = yield* orders.claimEvents(t0, 2, 60_000)
        const second = yield* orders.claimEvents(t0, 10, 60_000)
        expect(ids(second.events)).toEqual(b.events)
        yield* orders.markPublished(first.token, [a.events[1]!, b.events[0]!, yield* uniqueId("evt")])
        yield* orders.markPublished(first.token, [a.events[1]!])
        yield* orders.markPublished(first.token, [])
        yield* orders.markPublished(yield* uniqueId("claim"), [a.events[0]!])
        // After every lease: a2 is gone, the rest is claimed again in commit order.
        expect(yield* claimedIds(orders, t0 + 3_600_000)).toEqual([a.events[0], a.events[2], b.events[0]])
      })
    )
  )
}

const step = Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })))
const pageSize = Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 6 })))

/** Every page of a listing, at most `maxPages` of them. */
const allPages = (
  page: (cursor: string | null) => Effect.Effect<OrderStore.OrderPage, unknown>,
  limit: number,
  maxPages: number
) =>
  Effect.gen(function* () {
    const seen: Array<Order.Order> = []
    let cursor: string | null = null
    for (let n = 0; n < maxPages; n++) {
      const result: OrderStore.OrderPage = yield* page(cursor)
      expect(result.orders.length).toBeLessThanOrEqual(limit)
      seen.push(...result.orders)
      cursor = result.nextCursor
      if (cursor === null) return seen
    }
    return yield* Effect.die(new Error(`no last page after ${maxPages} pages`))
  })

export const describeLists = (run: Run) => {
  it.effect.prop(
    "listByStatus pages oldest first through the matching orders exactly once",
    { gaps: Arbitrary.array(step, { maxLength: 30 }), limit: pageSize },
    ({ gaps, limit }) =>
      run((orders, stock) =>
        Effect.gen(function* () {
          const sku = yield* stocked(stock, 1_000)
          // Ties on updated_at are common (gaps of 0): paging must still be exact.
          let atMs = t0
          const written: Array<Order.Order> = []
          for (const [i, gap] of gaps.entries()) {
            atMs += gap * 1_000
            const order = yield* orders.create(
              yield* makeOrder({
                lines: [[sku, 1]],
                createdAtMs: atMs,
                status: i % 2 ? "payment_pending" : "pending"
              }),
              []
            )
            // Every third is confirmed (off the list), and updated later than the cut-off for some.
            written.push(i % 3 === 2 ? yield* stepped(orders, order, "confirmed", "commit") : order)
          }
          const cutoff = isoAt(atMs - 1_000)
          const expected = written.filter((o) => o.status !== "confirmed" && o.updated_at <= cutoff)
          const seen = yield* allPages(
            (cursor) => orders.listByStatus(["pending", "payment_pending"], cutoff, limit, cursor),
            limit,
            gaps.length + 2
          )
          expect(seen.map((o) => o.order_id).sort()).toEqual(expected.map((o) => o.order_id).sort())
          const updated = seen.map((o) => o.updated_at)
          expect(updated).toEqual([...updated].sort())
          expect((yield* orders.listByStatus([], cutoff, 10, null)).orders).toEqual([])
        })
      ),
    { arbitrary: { size: 30, runs: 30 } }
  )

  it.effect.prop(
    "listByUser pages newest first through every order of the user exactly once",
    { gaps: Arbitrary.array(step, { maxLength: 30 }), limit: pageSize },
    ({ gaps, limit }) =>
      run((orders, stock) =>
        Effect.gen(function* () {
          const sku = yield* stocked(stock, 1_000)
          const userId = yield* uniqueId("user")
          let atMs = t0
          const mine: Array<string> = []
          for (const gap of gaps) {
            atMs += gap * 1_000
            const order = yield* makeOrder({ lines: [[sku, 1]], createdAtMs: atMs, userId })
            yield* orders.create(order, [])
            yield* orders.create(yield* makeOrder({ lines: [[sku, 1]], createdAtMs: atMs }), []) // someone else's
            mine.push(order.order_id)
          }
          const seen = yield* allPages(
            (cursor) => orders.listByUser(userId, limit, cursor),
            limit,
            gaps.length + 2
          )
          expect(seen.map((o) => o.order_id).sort()).toEqual([...mine].sort())
          for (const order of seen) expect(order.user_id).toBe(userId)
          const created = seen.map((o) => o.created_at)
          expect(created).toEqual([...created].sort().reverse())
        })
      ),
    { arbitrary: { size: 30, runs: 30 } }
  )

  it.effect("listByUser of a user without orders is an empty last page", () =>
    run((orders) =>
      Effect.gen(function* () {
        expect(yield* orders.listByUser(yield* uniqueId("user"), 10, null)).toEqual({
          orders: [],
          nextCursor: null
        })
      })
    )
  )

  it.effect("a malformed cursor is an empty last page, never a defect", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        const order = yield* orders.create(yield* makeOrder({ lines: [[sku, 1]] }), [])
        for (const cursor of ["", "not-a-cursor", "%%%", "eyJ4IjoxfQ", "W10"]) {
          expect(yield* orders.listByUser(order.user_id, 10, cursor)).toEqual({
            orders: [],
            nextCursor: null
          })
          expect(yield* orders.listByStatus(["pending"], isoAt(t0 + 1), 10, cursor)).toEqual({
            orders: [],
            nextCursor: null
          })
        }
        expect(Option.isSome(yield* orders.get(order.order_id))).toBe(true)
      })
    )
  )
}
