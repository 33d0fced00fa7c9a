/**
 * The IdempotencyStore contract (Stripe's semantics with fencing, IdempotencyStore.ts): a key is
 * claimed once, atomically; a completed key replays its outcome; another body under the same key
 * is a mismatch; a lease that ran out is taken over keeping the first resource id, with a greater
 * fencing token; `complete` and `abandon` with a token that no longer holds the key change
 * nothing and answer "stale"; a record lives until `expiresAt`; keys are scoped per user.
 *
 * Time: every case starts at the wall clock's now (`t0`) and passes explicit times to `claim`
 * (later times for a lease or a TTL that ran out), never relying on `TestClock` (which starts at
 * epoch 0). An adapter judges claims by `nowMs`; no answer asserted here depends on the time
 * `complete` or `abandon` run at, so one that checks expiry on its server's clock agrees.
 *
 * Isolation: each case gets a store of its own (`Effect.provide(layer, { local: true })`), so
 * a case sees only its own keys (a real adapter's layer should give a fresh schema or prefix).
 */
import { describe, expect, it } from "@effect/vitest"
import { IdempotencyStore } from "@till/core"
import { Effect, type Layer } from "effect"
import { uniqueId } from "../internal/contract.js"

type Store = IdempotencyStore.IdempotencyStore["Service"]
type Record = IdempotencyStore.IdempotencyRecord

const leaseMs = 30_000
const ttlMs = 24 * 60 * 60 * 1000

interface Case {
  readonly store: Store
  readonly scope: string
  readonly key: string
  readonly resourceId: string
  /** The case's start time (wall clock), passed explicitly to every claim. */
  readonly t0: number
  readonly claim: (
    nowMs: number,
    fingerprint?: string,
    resourceId?: string
  ) => Effect.Effect<IdempotencyStore.ClaimResult, unknown>
  /** Claims and expects `Claimed`, answering the record. */
  readonly hold: (nowMs: number, resourceId?: string) => Effect.Effect<Record, unknown>
}

const holdOf = (result: IdempotencyStore.ClaimResult): Record => {
  expect(result._tag).toBe("Claimed")
  if (result._tag !== "Claimed") throw new Error(`expected Claimed, got ${result._tag}`)
  return result.record
}

const fresh = (store: Store) =>
  Effect.gen(function* () {
    const scope = yield* uniqueId("user")
    const key = yield* uniqueId("key")
    const resourceId = yield* uniqueId("ord")
    // The wall clock, not `Clock`: TestClock starts at epoch 0, which no real store would see.
    const t0 = yield* Effect.sync(() => Date.now())
    const claim = (nowMs: number, fingerprint = "fp-1", resource = resourceId) =>
      store.claim({ scope, key, fingerprint, resourceId: resource, nowMs, leaseMs, ttlMs })
    const hold = (nowMs: number, resource?: string) => Effect.map(claim(nowMs, "fp-1", resource), holdOf)
    return { store, scope, key, resourceId, t0, claim, hold } satisfies Case
  })

export const idempotencyStoreContract = (
  name: string,
  storeLayer: Layer.Layer<IdempotencyStore.IdempotencyStore, unknown>
): void => {
  /** A case on a store of its own. */
  const test = (title: string, body: (c: Case) => Effect.Effect<void, unknown>) =>
    it.effect(title, () =>
      Effect.flatMap(IdempotencyStore.IdempotencyStore, (store) => Effect.flatMap(fresh(store), body)).pipe(
        Effect.provide(storeLayer, { local: true })
      )
    )

  describe(`IdempotencyStore contract: ${name}`, () => {
    describe("claims", () => describeClaims(test))
    describe("leases and fencing", () => describeLeases(test))
    describe("concurrency", () => describeConcurrency(test))
  })
}

type Test = (title: string, body: (c: Case) => Effect.Effect<void, unknown>) => void

const describeClaims = (test: Test) => {
  test("the first claim wins, with the resource id it brought and a fencing token", (c) =>
    Effect.gen(function* () {
      const record = yield* c.hold(c.t0)
      expect(record).toMatchObject({
        scope: c.scope,
        key: c.key,
        fingerprint: "fp-1",
        resourceId: c.resourceId,
        state: "in_flight",
        lockedUntil: c.t0 + leaseMs,
        expiresAt: c.t0 + ttlMs
      })
      expect(Number.isSafeInteger(record.token) && record.token > 0).toBe(true)
    }))

  test("a second claim while the lease runs is InFlight", (c) =>
    Effect.gen(function* () {
      yield* c.hold(c.t0)
      expect(yield* c.claim(c.t0 + leaseMs - 1, "fp-1", yield* uniqueId("ord"))).toEqual({ _tag: "InFlight" })
    }))

  test("a completed key replays its outcome and first resource id", (c) =>
    Effect.gen(function* () {
      const { token } = yield* c.hold(c.t0)
      const outcome = {
        status: 201,
        body: { order_id: c.resourceId, total: { amount: 3305, currency: "USD" } }
      }
      expect(yield* c.store.complete(c.scope, c.key, token, outcome)).toBe("completed")
      const replay = yield* c.claim(c.t0 + 1, "fp-1", yield* uniqueId("ord"))
      expect(replay._tag).toBe("Completed")
      if (replay._tag === "Completed") {
        expect(replay.record.state).toBe("completed")
        expect(replay.record.resourceId).toBe(c.resourceId)
        expect(replay.record.outcome).toEqual(outcome)
      }
    }))

  test("the first completion is the answer: a second complete is stale and changes nothing", (c) =>
    Effect.gen(function* () {
      const { token } = yield* c.hold(c.t0)
      expect(yield* c.store.complete(c.scope, c.key, token, { status: 201 })).toBe("completed")
      expect(yield* c.store.complete(c.scope, c.key, token, { status: 500 })).toBe("stale")
      const replay = yield* c.claim(c.t0 + 1)
      expect(replay._tag === "Completed" && replay.record.outcome).toEqual({ status: 201 })
    }))

  test("the same key with another fingerprint is a Mismatch, in flight or completed", (c) =>
    Effect.gen(function* () {
      const { token } = yield* c.hold(c.t0)
      expect(yield* c.claim(c.t0 + 1, "fp-2")).toEqual({ _tag: "Mismatch" })
      yield* c.store.complete(c.scope, c.key, token, { status: 201 })
      expect(yield* c.claim(c.t0 + 2, "fp-2")).toEqual({ _tag: "Mismatch" })
      // A mismatch changes nothing: the right body still replays.
      expect((yield* c.claim(c.t0 + 3))._tag).toBe("Completed")
    }))

  test("keys are scoped per user", (c) =>
    Effect.gen(function* () {
      const other = yield* uniqueId("user")
      const otherResource = yield* uniqueId("ord")
      const { token } = yield* c.hold(c.t0)
      yield* c.store.complete(c.scope, c.key, token, { status: 201 })
      const theirs = yield* c.store.claim({
        scope: other,
        key: c.key,
        fingerprint: "fp-other",
        resourceId: otherResource,
        nowMs: c.t0 + 1,
        leaseMs,
        ttlMs
      })
      expect(theirs._tag === "Claimed" && theirs.record.resourceId).toBe(otherResource)
      expect((yield* c.claim(c.t0 + 2))._tag).toBe("Completed")
    }))

  test("complete and abandon of an unknown key are stale and harmless; the key is then claimable", (c) =>
    Effect.gen(function* () {
      expect(yield* c.store.complete(c.scope, c.key, 1, { status: 201 })).toBe("stale")
      expect(yield* c.store.abandon(c.scope, c.key, 1)).toBe("stale")
      yield* c.hold(c.t0)
    }))

  test("a record expires at expiresAt: the key is free again, with a greater token", (c) =>
    Effect.gen(function* () {
      const first = yield* c.hold(c.t0)
      yield* c.store.complete(c.scope, c.key, first.token, { status: 201 })
      expect((yield* c.claim(c.t0 + ttlMs - 1))._tag).toBe("Completed")
      const next = yield* uniqueId("ord")
      const result = yield* c.claim(c.t0 + ttlMs, "fp-2", next)
      const again = holdOf(result)
      expect(again.resourceId).toBe(next)
      // Tokens never repeat for a key, even across its record's expiry: the first holder is stale.
      expect(again.token).toBeGreaterThan(first.token)
      expect(yield* c.store.complete(c.scope, c.key, first.token, { status: 500 })).toBe("stale")
      expect(yield* c.store.abandon(c.scope, c.key, first.token)).toBe("stale")
      expect(yield* c.claim(c.t0 + ttlMs + 1, "fp-2", next)).toEqual({ _tag: "InFlight" })
    }))
}

const describeLeases = (test: Test) => {
  test("a lease that ran out is taken over, keeping the first resource id, with a greater token", (c) =>
    Effect.gen(function* () {
      const first = yield* c.hold(c.t0)
      const t1 = c.t0 + leaseMs
      const takeover = yield* c.hold(t1, yield* uniqueId("ord"))
      expect(takeover.resourceId).toBe(c.resourceId)
      expect(takeover.state).toBe("in_flight")
      expect(takeover.lockedUntil).toBe(t1 + leaseMs)
      expect(takeover.token).toBeGreaterThan(first.token)
      // The new holder holds a fresh lease.
      expect(yield* c.claim(t1 + leaseMs - 1)).toEqual({ _tag: "InFlight" })
      // And the next takeover's token is greater again.
      const third = yield* c.hold(t1 + leaseMs)
      expect(third.token).toBeGreaterThan(takeover.token)
    }))

  test("a stale complete after a takeover is a no-op; the new holder completes", (c) =>
    Effect.gen(function* () {
      const stale = yield* c.hold(c.t0)
      const t1 = c.t0 + leaseMs + 5_000
      const current = yield* c.hold(t1)
      expect(yield* c.store.complete(c.scope, c.key, stale.token, { status: 500 })).toBe("stale")
      // Still the new holder's, in flight.
      expect(yield* c.claim(t1 + 1)).toEqual({ _tag: "InFlight" })
      expect(yield* c.store.complete(c.scope, c.key, current.token, { status: 201 })).toBe("completed")
      const replay = yield* c.claim(t1 + 2)
      expect(replay._tag === "Completed" && replay.record.outcome).toEqual({ status: 201 })
    }))

  test("a stale abandon after a takeover is a no-op: the new holder's lease stands", (c) =>
    Effect.gen(function* () {
      const stale = yield* c.hold(c.t0)
      const t1 = c.t0 + leaseMs + 5_000
      yield* c.hold(t1)
      expect(yield* c.store.abandon(c.scope, c.key, stale.token)).toBe("stale")
      expect(yield* c.claim(t1 + 1)).toEqual({ _tag: "InFlight" })
    }))

  test("a holder whose lease ran out, but was not taken over, still completes", (c) =>
    Effect.gen(function* () {
      const { token } = yield* c.hold(c.t0)
      expect(yield* c.store.complete(c.scope, c.key, token, { status: 201 })).toBe("completed")
      const replay = yield* c.claim(c.t0 + leaseMs * 3)
      expect(replay._tag === "Completed" && replay.record.outcome).toEqual({ status: 201 })
    }))

  test("abandon ends the lease: the next claim takes over with the same resource id", (c) =>
    Effect.gen(function* () {
      const first = yield* c.hold(c.t0)
      expect(yield* c.store.abandon(c.scope, c.key, first.token)).toBe("abandoned")
      const takeover = yield* c.hold(c.t0 + 1, yield* uniqueId("ord"))
      expect(takeover.resourceId).toBe(c.resourceId)
      expect(takeover.token).toBeGreaterThan(first.token)
      // The abandoned token is stale now: it cannot end or complete the new lease.
      expect(yield* c.store.abandon(c.scope, c.key, first.token)).toBe("stale")
      expect(yield* c.store.complete(c.scope, c.key, first.token, { status: 500 })).toBe("stale")
      expect(yield* c.claim(c.t0 + 2)).toEqual({ _tag: "InFlight" })
    }))

  test("abandon of a completed key is stale and changes nothing", (c) =>
    Effect.gen(function* () {
      const { token } = yield* c.hold(c.t0)
      yield* c.store.complete(c.scope, c.key, token, { status: 402 })
      expect(yield* c.store.abandon(c.scope, c.key, token)).toBe("stale")
      const replay = yield* c.claim(c.t0 + 1)
      expect(replay._tag === "Completed" && replay.record.outcome).toEqual({ status: 402 })
    }))
}

const describeConcurrency = (test: Test) => {
  const race = (c: Case, nowMs: number, n: number) =>
    Effect.gen(function* () {
      const resourceIds = yield* Effect.all(Array.from({ length: n }, () => uniqueId("ord")))
      return yield* Effect.forEach(resourceIds, (r) => c.claim(nowMs, "fp-1", r), {
        concurrency: "unbounded"
      })
    })

  test("100 concurrent claims of one key: exactly one Claimed, the rest InFlight", (c) =>
    Effect.gen(function* () {
      const results = yield* race(c, c.t0, 100)
      expect(results.filter((r) => r._tag === "Claimed").length).toBe(1)
      expect(results.filter((r) => r._tag === "InFlight").length).toBe(99)
    }))

  test("50 concurrent takeovers of a lapsed lease: exactly one Claimed, with the first resource id", (c) =>
    Effect.gen(function* () {
      const first = yield* c.hold(c.t0)
      const results = yield* race(c, c.t0 + leaseMs + 1, 50)
      const claimed = results.flatMap((r) => (r._tag === "Claimed" ? [r.record] : []))
      expect(claimed.length).toBe(1)
      expect(claimed[0]!.resourceId).toBe(c.resourceId)
      expect(claimed[0]!.token).toBeGreaterThan(first.token)
    }))
}
