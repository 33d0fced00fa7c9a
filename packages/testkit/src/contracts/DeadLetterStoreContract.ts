/**
 * The DeadLetterStore contract: what every DeadLetterStore (in memory, Postgres) must do.
 * Register it from an implementation's test file:
 * `deadLetterStoreContract("postgres", PostgresDeadLetterStore.layer)`. The store is built once
 * and shared by every case; letters cannot be removed, so every case uses fresh order ids and
 * judges `list` by its own letters and by its order, never by what else is stored.
 */
import { expect, layer } from "@effect/vitest"
import { DeadLetterStore } from "@till/core"
import { Effect, type Layer } from "effect"
import { uniqueId } from "../internal/contract.js"

const t0 = 1_700_000_000_000
const maxPage = 1_000

type Letter = DeadLetterStore.DeadLetter

export const deadLetterStoreContract = (
  name: string,
  storeLayer: Layer.Layer<DeadLetterStore.DeadLetterStore, unknown>
): void => {
  layer(storeLayer)(`DeadLetterStore contract: ${name}`, (it) => {
    const store = DeadLetterStore.DeadLetterStore
    const own = (letters: ReadonlyArray<Letter>, ids: ReadonlyArray<string>) =>
      letters.filter((l) => ids.includes(l.orderId))

    it.effect("a letter put is listed with its last error intact", () =>
      Effect.gen(function* () {
        const s = yield* store
        const letter: Letter = {
          orderId: yield* uniqueId("ord"),
          attempts: 10,
          lastError: `GatewayUnavailable: ${"503 ".repeat(200)}`,
          failedAt: t0
        }
        yield* s.put(letter)
        expect(own(yield* s.list(maxPage), [letter.orderId])).toEqual([letter])
      })
    )

    it.effect("one letter per order: a later letter replaces the earlier", () =>
      Effect.gen(function* () {
        const s = yield* store
        const orderId = yield* uniqueId("ord")
        yield* s.put({ orderId, attempts: 3, lastError: "OperationTimedOut", failedAt: t0 })
        const later: Letter = { orderId, attempts: 10, lastError: "CallNotPermitted", failedAt: t0 + 60_000 }
        yield* s.put(later)
        expect(own(yield* s.list(maxPage), [orderId])).toEqual([later])
      })
    )

    it.effect("list answers the oldest first, then by order id, at most `limit`", () =>
      Effect.gen(function* () {
        const s = yield* store
        const ids = [yield* uniqueId("ord"), yield* uniqueId("ord"), yield* uniqueId("ord")].sort()
        yield* s.put({ orderId: ids[2]!, attempts: 1, lastError: "e", failedAt: t0 - 3 })
        yield* s.put({ orderId: ids[1]!, attempts: 1, lastError: "e", failedAt: t0 - 1 })
        yield* s.put({ orderId: ids[0]!, attempts: 1, lastError: "e", failedAt: t0 - 1 })
        const all = yield* s.list(maxPage)
        expect(own(all, ids).map((l) => l.orderId)).toEqual([ids[2], ids[0], ids[1]])
        const ordered = all.every(
          (l, i) =>
            i === 0 ||
            all[i - 1]!.failedAt < l.failedAt ||
            (all[i - 1]!.failedAt === l.failedAt && all[i - 1]!.orderId < l.orderId)
        )
        expect(ordered).toBe(true)
        expect(yield* s.list(2)).toEqual(all.slice(0, 2))
        expect(yield* s.list(0)).toEqual([])
      })
    )
  })
}
