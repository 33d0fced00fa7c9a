/**
 * The IdempotencyStore contract (Stripe's semantics, IdempotencyStore.ts): a key is claimed
 * once, atomically; a completed key replays its outcome; another body under the same key is
 * a mismatch; a lease that ran out is taken over keeping the first resource id; a record
 * lives until `expiresAt`; keys are scoped per user. Time is the `nowMs` of each request,
 * taken from Effect's `Clock` and moved with `TestClock` (so an adapter that reads its own
 * clock in `complete`/`abandon` agrees). The store is shared by every case (fresh scopes).
 */
import { expect, layer, type Vitest } from "@effect/vitest"
import { IdempotencyStore } from "@till/core"
import { Clock, Duration, Effect, type Layer } from "effect"
import { TestClock } from "effect/testing"
import { uniqueId } from "../internal/contract.js"

type Store = IdempotencyStore.IdempotencyStore["Service"]
type It = Vitest.MethodsNonLive<IdempotencyStore.IdempotencyStore>

const leaseMs = 30_000
const ttlMs = 24 * 60 * 60 * 1000

const request = (scope: string, key: string, fingerprint: string, resourceId: string) =>
  Effect.map(
    Clock.currentTimeMillis,
    (nowMs): IdempotencyStore.ClaimRequest => ({ scope, key, fingerprint, resourceId, nowMs, leaseMs, ttlMs })
  )

const fresh = Effect.all({ scope: uniqueId("user"), key: uniqueId("key"), resourceId: uniqueId("ord") })

const claim = (store: Store, scope: string, key: string, fingerprint: string, resourceId: string) =>
  Effect.flatMap(request(scope, key, fingerprint, resourceId), store.claim)

const withStore = <A, E>(f: (store: Store) => Effect.Effect<A, E>) =>
  Effect.flatMap(IdempotencyStore.IdempotencyStore, f)

export const idempotencyStoreContract = (
  name: string,
  storeLayer: Layer.Layer<IdempotencyStore.IdempotencyStore, unknown>
): void => {
  layer(storeLayer)(`IdempotencyStore contract: ${name}`, (it) => {
    describeClaims(it)
    describeLeases(it)
    describeConcurrency(it)
  })
}

const describeClaims = (it: It) => {
  it.effect("the first claim wins, with the resource id it brought", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const { scope, key, resourceId } = yield* fresh
        const now = yield* Clock.currentTimeMillis
        const result = yield* claim(store, scope, key, "fp-1", resourceId)
        expect(result._tag).toBe("Claimed")
        if (result._tag === "Claimed") {
          expect(result.record).toMatchObject({
            scope,
            key,
            fingerprint: "fp-1",
            resourceId,
            state: "in_flight"
          })
          expect(result.record.lockedUntil).toBe(now + leaseMs)
          expect(result.record.expiresAt).toBe(now + ttlMs)
        }
      })
    )
  )

  it.effect("a second claim while the lease runs is InFlight", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const { scope, key, resourceId } = yield* fresh
        yield* claim(store, scope, key, "fp-1", resourceId)
        yield* TestClock.adjust(Duration.millis(leaseMs - 1))
        expect(yield* claim(store, scope, key, "fp-1", yield* uniqueId("ord"))).toEqual({ _tag: "InFlight" })
      })
    )
  )

  it.effect("a completed key replays its outcome and first resource id", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const { scope, key, resourceId } = yield* fresh
        yield* claim(store, scope, key, "fp-1", resourceId)
        const outcome = {
          status: 201,
          body: { order_id: resourceId, total: { amount: 3305, currency: "USD" } }
        }
        yield* store.complete(scope, key, outcome)
        const replay = yield* claim(store, scope, key, "fp-1", yield* uniqueId("ord"))
        expect(replay._tag).toBe("Completed")
        if (replay._tag === "Completed") {
          expect(replay.record.state).toBe("completed")
          expect(replay.record.resourceId).toBe(resourceId)
          expect(replay.record.outcome).toEqual(outcome)
        }
      })
    )
  )

  it.effect("the first completion is the answer: a second complete does not change it", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const { scope, key, resourceId } = yield* fresh
        yield* claim(store, scope, key, "fp-1", resourceId)
        yield* store.complete(scope, key, { status: 201 })
        yield* store.complete(scope, key, { status: 500 })
        const replay = yield* claim(store, scope, key, "fp-1", resourceId)
        expect(replay._tag === "Completed" && replay.record.outcome).toEqual({ status: 201 })
      })
    )
  )

  it.effect("the same key with another fingerprint is a Mismatch, in flight or completed", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const { scope, key, resourceId } = yield* fresh
        yield* claim(store, scope, key, "fp-1", resourceId)
        expect(yield* claim(store, scope, key, "fp-2", resourceId)).toEqual({ _tag: "Mismatch" })
        yield* store.complete(scope, key, { status: 201 })
        expect(yield* claim(store, scope, key, "fp-2", resourceId)).toEqual({ _tag: "Mismatch" })
        // A mismatch changes nothing: the right body still replays.
        expect((yield* claim(store, scope, key, "fp-1", resourceId))._tag).toBe("Completed")
      })
    )
  )

  it.effect("keys are scoped per user", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const { scope, key, resourceId } = yield* fresh
        const other = yield* uniqueId("user")
        const otherResource = yield* uniqueId("ord")
        yield* claim(store, scope, key, "fp-1", resourceId)
        yield* store.complete(scope, key, { status: 201 })
        const theirs = yield* claim(store, other, key, "fp-other", otherResource)
        expect(theirs._tag === "Claimed" && theirs.record.resourceId).toBe(otherResource)
        expect((yield* claim(store, scope, key, "fp-1", resourceId))._tag).toBe("Completed")
      })
    )
  )

  it.effect("complete and abandon of an unknown key are harmless; the key is then claimable", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const { scope, key, resourceId } = yield* fresh
        yield* store.complete(scope, key, { status: 201 })
        yield* store.abandon(scope, key)
        const result = yield* claim(store, scope, key, "fp-1", resourceId)
        expect(result._tag).toBe("Claimed")
      })
    )
  )

  it.effect("a record expires at expiresAt: the key is free again, even for another body", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const { scope, key, resourceId } = yield* fresh
        yield* claim(store, scope, key, "fp-1", resourceId)
        yield* store.complete(scope, key, { status: 201 })
        yield* TestClock.adjust(Duration.millis(ttlMs - 1))
        expect((yield* claim(store, scope, key, "fp-1", resourceId))._tag).toBe("Completed")
        yield* TestClock.adjust(Duration.millis(1))
        const next = yield* uniqueId("ord")
        const result = yield* claim(store, scope, key, "fp-2", next)
        expect(result._tag === "Claimed" && result.record.resourceId).toBe(next)
      })
    )
  )
}

const describeLeases = (it: It) => {
  it.effect("a lease that ran out is taken over, keeping the first resource id", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const { scope, key, resourceId } = yield* fresh
        yield* claim(store, scope, key, "fp-1", resourceId)
        yield* TestClock.adjust(Duration.millis(leaseMs))
        const now = yield* Clock.currentTimeMillis
        const takeover = yield* claim(store, scope, key, "fp-1", yield* uniqueId("ord"))
        expect(takeover._tag).toBe("Claimed")
        if (takeover._tag === "Claimed") {
          expect(takeover.record.resourceId).toBe(resourceId)
          expect(takeover.record.state).toBe("in_flight")
          expect(takeover.record.lockedUntil).toBe(now + leaseMs)
        }
        // The new holder holds a fresh lease.
        expect(yield* claim(store, scope, key, "fp-1", resourceId)).toEqual({ _tag: "InFlight" })
      })
    )
  )

  it.effect("abandon ends the lease now: the next claim takes over with the same resource id", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const { scope, key, resourceId } = yield* fresh
        yield* claim(store, scope, key, "fp-1", resourceId)
        yield* store.abandon(scope, key)
        const takeover = yield* claim(store, scope, key, "fp-1", yield* uniqueId("ord"))
        expect(takeover._tag === "Claimed" && takeover.record.resourceId).toBe(resourceId)
      })
    )
  )

  it.effect("abandon of a completed key changes nothing", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const { scope, key, resourceId } = yield* fresh
        yield* claim(store, scope, key, "fp-1", resourceId)
        yield* store.complete(scope, key, { status: 402 })
        yield* store.abandon(scope, key)
        const replay = yield* claim(store, scope, key, "fp-1", resourceId)
        expect(replay._tag === "Completed" && replay.record.outcome).toEqual({ status: 402 })
      })
    )
  )
}

const describeConcurrency = (it: It) => {
  const race = (store: Store, scope: string, key: string, n: number) =>
    Effect.gen(function* () {
      const resourceIds = yield* Effect.all(Array.from({ length: n }, () => uniqueId("ord")))
      return yield* Effect.forEach(resourceIds, (r) => claim(store, scope, key, "fp-1", r), {
        concurrency: "unbounded"
      })
    })

  it.effect("100 concurrent claims of one key: exactly one Claimed, the rest InFlight", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const { scope, key } = yield* fresh
        const results = yield* race(store, scope, key, 100)
        expect(results.filter((r) => r._tag === "Claimed").length).toBe(1)
        expect(results.filter((r) => r._tag === "InFlight").length).toBe(99)
      })
    )
  )

  it.effect(
    "50 concurrent takeovers of a lapsed lease: exactly one Claimed, with the first resource id",
    () =>
      withStore((store) =>
        Effect.gen(function* () {
          const { scope, key, resourceId } = yield* fresh
          yield* claim(store, scope, key, "fp-1", resourceId)
          yield* TestClock.adjust(Duration.millis(leaseMs + 1))
          const results = yield* race(store, scope, key, 50)
          const claimed = results.filter((r) => r._tag === "Claimed")
          expect(claimed.length).toBe(1)
          expect(claimed[0]!._tag === "Claimed" && claimed[0]!.record.resourceId).toBe(resourceId)
        })
      )
  )
}
