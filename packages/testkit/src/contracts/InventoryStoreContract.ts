/**
 * The InventoryStore contract. The invariant it guards (InventoryStore.ts): for every SKU
 * 0 <= reserved <= on_hand, reserve is all-or-nothing and keyed by order id. The concurrency
 * cases are the oversell races of DESIGN.md §9: N buyers compete for M units and exactly
 * floor(M / q) of them win. The store is shared by every case (fresh SKUs and order ids).
 */
import { expect, layer, type Vitest } from "@effect/vitest"
import { InventoryStore, Sku } from "@till/core"
import { Cause, Effect, Exit, type Layer, Option, Predicate } from "effect"
import { farFutureMs, uniqueId } from "../internal/contract.js"

type Store = InventoryStore.InventoryStore["Service"]
type Line = InventoryStore.ReservationLine

const newSku = Effect.map(uniqueId("sku"), Sku.make)
const newOrder = uniqueId("ord")

const stocked = (store: Store, onHand: number) =>
  Effect.gen(function* () {
    const sku = yield* newSku
    yield* store.setOnHand(sku, onHand)
    return sku
  })

const levelOf = (store: Store, sku: Sku.Sku) => Effect.map(store.level(sku), Option.getOrThrow)

const expectLevel = (store: Store, sku: Sku.Sku, onHand: number, reserved: number) =>
  Effect.gen(function* () {
    expect(yield* levelOf(store, sku)).toEqual({
      sku,
      on_hand: onHand,
      reserved,
      available: onHand - reserved
    })
  })

const line = (sku: Sku.Sku, quantity: number): Line => ({ sku, quantity })

export const inventoryStoreContract = (
  name: string,
  storeLayer: Layer.Layer<InventoryStore.InventoryStore, unknown>
): void => {
  layer(storeLayer)(`InventoryStore contract: ${name}`, (it) => {
    const withStore = <A, E>(f: (store: Store) => Effect.Effect<A, E>) =>
      Effect.flatMap(InventoryStore.InventoryStore, f)

    describeLevels(it, withStore)
    describeReserve(it, withStore)
    describeLifecycle(it, withStore)
    describeConcurrency(it, withStore)
    describeExpiredHolds(it, withStore)
  })
}

type It = Vitest.MethodsNonLive<InventoryStore.InventoryStore>
type WithStore = <A, E>(
  f: (store: Store) => Effect.Effect<A, E>
) => Effect.Effect<A, E, InventoryStore.InventoryStore>

const describeLevels = (it: It, withStore: WithStore) => {
  it.effect("level of an unknown SKU is None", () =>
    withStore((store) =>
      Effect.gen(function* () {
        expect(Option.isNone(yield* store.level(yield* newSku))).toBe(true)
      })
    )
  )

  it.effect("setOnHand creates and sets the level", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* newSku
        expect(yield* store.setOnHand(sku, 7)).toEqual({ sku, on_hand: 7, reserved: 0, available: 7 })
        yield* store.setOnHand(sku, 3)
        yield* expectLevel(store, sku, 3, 0)
        yield* store.setOnHand(sku, 0)
        yield* expectLevel(store, sku, 0, 0)
      })
    )
  )

  it.effect("setOnHand below what is reserved (or below zero) is refused and changes nothing", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, 10)
        yield* store.reserve(yield* newOrder, [line(sku, 6)], farFutureMs)
        const refused = yield* Effect.flip(store.setOnHand(sku, 5))
        expect(refused._tag).toBe("OutOfStock")
        if (refused._tag === "OutOfStock") expect(refused.unavailable.map((u) => u.sku)).toEqual([sku])
        yield* expectLevel(store, sku, 10, 6)
        expect(Exit.isFailure(yield* Effect.exit(store.setOnHand(sku, -1)))).toBe(true)
        yield* expectLevel(store, sku, 10, 6)
        yield* store.setOnHand(sku, 6)
        yield* expectLevel(store, sku, 6, 6)
        const fresh = yield* newSku
        expect(Exit.isFailure(yield* Effect.exit(store.setOnHand(fresh, -1)))).toBe(true)
        expect(
          Option.getOrElse(
            Option.map(yield* store.level(fresh), (l) => l.on_hand),
            () => 0
          )
        ).toBe(0)
      })
    )
  )

  it.effect("restock adds and removes stock, never below what is reserved", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, 10)
        yield* store.reserve(yield* newOrder, [line(sku, 4)], farFutureMs)
        expect((yield* store.restock(sku, 5)).on_hand).toBe(15)
        expect((yield* store.restock(sku, -11)).on_hand).toBe(4)
        const refused = yield* Effect.flip(store.restock(sku, -1))
        expect(refused._tag).toBe("OutOfStock")
        yield* expectLevel(store, sku, 4, 4)
        const fresh = yield* newSku
        expect(yield* store.restock(fresh, 3)).toEqual({ sku: fresh, on_hand: 3, reserved: 0, available: 3 })
      })
    )
  )
}

const describeReserve = (it: It, withStore: WithStore) => {
  it.effect("reserve holds every line and moves units from available to reserved", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const a = yield* stocked(store, 10)
        const b = yield* stocked(store, 5)
        const orderId = yield* newOrder
        const reservation = yield* store.reserve(orderId, [line(a, 3), line(b, 5)], farFutureMs)
        expect(reservation).toEqual({
          order_id: orderId,
          lines: [line(a, 3), line(b, 5)],
          status: "held",
          hold_expires_at: farFutureMs
        })
        expect(yield* store.get(orderId)).toEqual(Option.some(reservation))
        yield* expectLevel(store, a, 10, 3)
        yield* expectLevel(store, b, 5, 5)
      })
    )
  )

  it.effect("reserve is all-or-nothing and names every short SKU with requested and available", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const a = yield* stocked(store, 10)
        const b = yield* stocked(store, 2)
        const c = yield* stocked(store, 1)
        const unknown = yield* newSku
        const orderId = yield* newOrder
        const error = yield* Effect.flip(
          store.reserve(orderId, [line(a, 3), line(b, 4), line(c, 2), line(unknown, 1)], farFutureMs)
        )
        expect(error._tag).toBe("OutOfStock")
        if (error._tag === "OutOfStock") {
          expect([...error.unavailable].sort((x, y) => (x.sku < y.sku ? -1 : 1))).toEqual(
            [
              { sku: b, requested: 4, available: 2 },
              { sku: c, requested: 2, available: 1 },
              { sku: unknown, requested: 1, available: 0 }
            ].sort((x, y) => (x.sku < y.sku ? -1 : 1))
          )
        }
        yield* expectLevel(store, a, 10, 0)
        yield* expectLevel(store, b, 2, 0)
        expect(Option.isNone(yield* store.get(orderId))).toBe(true)
      })
    )
  )

  it.effect("one SKU on several lines is checked as their sum", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, 5)
        const error = yield* Effect.flip(
          store.reserve(yield* newOrder, [line(sku, 3), line(sku, 3)], farFutureMs)
        )
        expect(error._tag).toBe("OutOfStock")
        yield* expectLevel(store, sku, 5, 0)
        yield* store.reserve(yield* newOrder, [line(sku, 2), line(sku, 3)], farFutureMs)
        yield* expectLevel(store, sku, 5, 5)
      })
    )
  )

  it.effect("a reserve of exactly what is available succeeds; one more unit fails", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, 3)
        yield* store.reserve(yield* newOrder, [line(sku, 3)], farFutureMs)
        const error = yield* Effect.flip(store.reserve(yield* newOrder, [line(sku, 1)], farFutureMs))
        expect(error._tag).toBe("OutOfStock")
        if (error._tag === "OutOfStock")
          expect(error.unavailable).toEqual([{ sku, requested: 1, available: 0 }])
      })
    )
  )

  it.effect("a non-positive quantity is never a successful reserve and moves nothing", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, 5)
        for (const quantity of [0, -3]) {
          const orderId = yield* newOrder
          expect(
            Exit.isSuccess(yield* Effect.exit(store.reserve(orderId, [line(sku, quantity)], farFutureMs)))
          ).toBe(false)
          expect(Option.isNone(yield* store.get(orderId))).toBe(true)
        }
        yield* expectLevel(store, sku, 5, 0)
      })
    )
  )

  it.effect("reserve is idempotent by order id: a held reservation is returned as it is", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, 10)
        const orderId = yield* newOrder
        const first = yield* store.reserve(orderId, [line(sku, 4)], farFutureMs)
        const again = yield* store.reserve(orderId, [line(sku, 4)], farFutureMs)
        const different = yield* store.reserve(orderId, [line(sku, 9)], farFutureMs - 1)
        expect(again).toEqual(first)
        expect(different).toEqual(first)
        yield* expectLevel(store, sku, 10, 4)
      })
    )
  )
}

const describeLifecycle = (it: It, withStore: WithStore) => {
  it.effect("commit takes the units out of on_hand and reserved; again is a no-op", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, 10)
        const orderId = yield* newOrder
        yield* store.reserve(orderId, [line(sku, 4)], farFutureMs)
        const committed = yield* store.commit(orderId)
        expect(Option.map(committed, (r) => r.status)).toEqual(Option.some("committed"))
        yield* expectLevel(store, sku, 6, 0)
        expect(Option.map(yield* store.commit(orderId), (r) => r.status)).toEqual(Option.some("committed"))
        yield* expectLevel(store, sku, 6, 0)
        // A committed reservation is returned as it is by reserve, and release leaves it.
        expect((yield* store.reserve(orderId, [line(sku, 4)], farFutureMs)).status).toBe("committed")
        expect(Option.map(yield* store.release(orderId), (r) => r.status)).toEqual(Option.some("committed"))
        yield* expectLevel(store, sku, 6, 0)
      })
    )
  )

  it.effect("release returns the units to available; again is a no-op", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, 10)
        const orderId = yield* newOrder
        yield* store.reserve(orderId, [line(sku, 4)], farFutureMs)
        expect(Option.map(yield* store.release(orderId), (r) => r.status)).toEqual(Option.some("released"))
        yield* expectLevel(store, sku, 10, 0)
        expect(Option.map(yield* store.release(orderId), (r) => r.status)).toEqual(Option.some("released"))
        yield* expectLevel(store, sku, 10, 0)
      })
    )
  )

  it.effect("commit of a released reservation moves no stock", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, 10)
        const orderId = yield* newOrder
        yield* store.reserve(orderId, [line(sku, 4)], farFutureMs)
        yield* store.release(orderId)
        yield* store.commit(orderId)
        yield* expectLevel(store, sku, 10, 0)
      })
    )
  )

  it.effect("commit, release and get of an unknown order are None", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const orderId = yield* newOrder
        expect(Option.isNone(yield* store.commit(orderId))).toBe(true)
        expect(Option.isNone(yield* store.release(orderId))).toBe(true)
        expect(Option.isNone(yield* store.get(orderId))).toBe(true)
      })
    )
  )

  it.effect("a released reservation is held again by reserve, re-checking stock", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, 5)
        const orderId = yield* newOrder
        yield* store.reserve(orderId, [line(sku, 3)], farFutureMs)
        yield* store.release(orderId)
        const again = yield* store.reserve(orderId, [line(sku, 3)], farFutureMs - 1)
        expect(again.status).toBe("held")
        expect(again.hold_expires_at).toBe(farFutureMs - 1)
        yield* expectLevel(store, sku, 5, 3)

        // Stock sold to someone else meanwhile: the second hold is refused.
        yield* store.release(orderId)
        yield* store.reserve(yield* newOrder, [line(sku, 4)], farFutureMs)
        const error = yield* Effect.flip(store.reserve(orderId, [line(sku, 3)], farFutureMs))
        expect(error._tag).toBe("OutOfStock")
        expect(Option.map(yield* store.get(orderId), (r) => r.status)).toEqual(Option.some("released"))
        yield* expectLevel(store, sku, 5, 4)
      })
    )
  )
}

const describeConcurrency = (it: It, withStore: WithStore) => {
  const race = (onHand: number, contenders: number, quantity: number) =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, onHand)
        const orders = yield* Effect.all(Array.from({ length: contenders }, () => newOrder))
        const exits = yield* Effect.forEach(
          orders,
          (orderId) => Effect.exit(store.reserve(orderId, [line(sku, quantity)], farFutureMs)),
          { concurrency: "unbounded" }
        )
        const wins = Math.floor(onHand / quantity)
        expect(exits.filter(Exit.isSuccess).length).toBe(Math.min(wins, contenders))
        const losers = exits.filter(Exit.isFailure).map((exit) => Cause.squash(exit.cause))
        expect(losers.every((error) => Predicate.isTagged(error, "OutOfStock"))).toBe(true)
        yield* expectLevel(store, sku, onHand, Math.min(wins, contenders) * quantity)
      })
    )

  it.effect("1,000 concurrent reserves of 1 unit for 100 on hand: exactly 100 win", () => race(100, 1_000, 1))
  it.effect("200 concurrent reserves of 3 units for 100 on hand: exactly 33 win", () => race(100, 200, 3))

  it.effect("concurrent reserves of one order id reserve once", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, 100)
        const orderId = yield* newOrder
        const all = yield* Effect.all(
          Array.from({ length: 20 }, () => store.reserve(orderId, [line(sku, 7)], farFutureMs)),
          { concurrency: "unbounded" }
        )
        expect(new Set(all.map((r) => r.status))).toEqual(new Set(["held"]))
        yield* expectLevel(store, sku, 100, 7)
      })
    )
  )

  it.effect("a commit racing a release: exactly one wins and the levels agree with it", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, 10)
        const orderId = yield* newOrder
        yield* store.reserve(orderId, [line(sku, 4)], farFutureMs)
        yield* Effect.all([store.commit(orderId), store.release(orderId), store.commit(orderId)], {
          concurrency: "unbounded"
        })
        const final = Option.getOrThrow(yield* store.get(orderId))
        if (final.status === "committed") yield* expectLevel(store, sku, 6, 0)
        else {
          expect(final.status).toBe("released")
          yield* expectLevel(store, sku, 10, 0)
        }
      })
    )
  )

  it.effect("overlapping multi-SKU orders racing: reserved equals the held lines, never above on_hand", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const skus = [
          yield* stocked(store, 20),
          yield* stocked(store, 15),
          yield* stocked(store, 10)
        ] as const
        const shapes: ReadonlyArray<ReadonlyArray<Line>> = [
          [line(skus[0], 2), line(skus[1], 1)],
          [line(skus[1], 2), line(skus[2], 1)],
          [line(skus[0], 1), line(skus[2], 2)],
          [line(skus[0], 1), line(skus[1], 1), line(skus[2], 1)]
        ]
        const requests = yield* Effect.all(
          Array.from({ length: 120 }, (_, i) =>
            Effect.map(newOrder, (orderId) => ({ orderId, lines: shapes[i % 4]! }))
          )
        )
        const exits = yield* Effect.forEach(
          requests,
          (r) => Effect.exit(store.reserve(r.orderId, r.lines, farFutureMs)),
          { concurrency: "unbounded" }
        )
        const held = new Map<string, number>()
        exits.forEach((exit, i) => {
          if (Exit.isSuccess(exit))
            for (const l of requests[i]!.lines) held.set(l.sku, (held.get(l.sku) ?? 0) + l.quantity)
        })
        expect(exits.some(Exit.isSuccess)).toBe(true)
        expect(exits.some(Exit.isFailure)).toBe(true)
        for (const sku of skus) {
          const level = yield* levelOf(store, sku)
          expect(level.reserved).toBe(held.get(sku) ?? 0)
          expect(level.available).toBeGreaterThanOrEqual(0)
        }
      })
    )
  )
}

const describeExpiredHolds = (it: It, withStore: WithStore) => {
  it.effect("expiredHolds lists held reservations whose hold ended, oldest first", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const sku = yield* stocked(store, 100)
        // Holds far in the past, below anything a real clock writes; other cases hold until 2100.
        const base = 1_000
        const [late, early, notYet, committed, released] = yield* Effect.all(
          Array.from({ length: 5 }, () => newOrder)
        )
        yield* store.reserve(late!, [line(sku, 1)], base + 100)
        yield* store.reserve(early!, [line(sku, 1)], base + 50)
        yield* store.reserve(notYet!, [line(sku, 1)], base + 101)
        yield* store.reserve(committed!, [line(sku, 1)], base + 10)
        yield* store.reserve(released!, [line(sku, 1)], base + 10)
        yield* store.commit(committed!)
        yield* store.release(released!)

        const mine = new Set([late, early, notYet, committed, released])
        const expired = yield* store.expiredHolds(base + 100, 1_000)
        expect(expired.filter((r) => mine.has(r.order_id)).map((r) => r.order_id)).toEqual([early, late])
        for (const r of expired) {
          expect(r.status).toBe("held")
          expect(r.hold_expires_at).toBeLessThanOrEqual(base + 100)
        }
        const holds = expired.map((r) => r.hold_expires_at)
        expect(holds).toEqual([...holds].sort((a, b) => a - b))
        expect((yield* store.expiredHolds(base + 100, 1)).length).toBe(1)
        expect(yield* store.expiredHolds(base + 100, 0)).toEqual([])

        // Leave nothing held behind for the next run against a shared database.
        yield* Effect.forEach([late!, early!, notYet!], store.release, { discard: true })
      })
    )
  )
}
