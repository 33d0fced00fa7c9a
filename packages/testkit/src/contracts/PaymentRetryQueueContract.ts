/**
 * The PaymentRetryQueue contract (PaymentRetryQueue.ts): what every PaymentRetryQueue (in memory,
 * Postgres, Kafka) must do. Register it from an implementation's test file:
 * `paymentRetryQueueContract("postgres", PostgresPaymentRetryQueue.layer)`.
 *
 * Each case gets a queue of its own (`Effect.provide(layer, { local: true })`; a real adapter's
 * layer should give a fresh table or schema), because `claimDue` takes whatever is due: a case
 * must see only its own entries. Every time is explicit (`nowMs` of each claim, `nextAttemptAt`
 * of each entry, from a fixed `t0`), never `TestClock`'s, so a store on server time agrees.
 */
import { describe, expect, it } from "@effect/vitest"
import { PaymentRetryQueue } from "@till/core"
import { Effect, type Layer } from "effect"
import { uniqueId } from "../internal/contract.js"

const t0 = 1_700_000_000_000
const leaseMs = 60_000
const maxPage = 1_000

type Entry = PaymentRetryQueue.RetryEntry
type Queue = PaymentRetryQueue.PaymentRetryQueue["Service"]

const ids = (count: number) => Effect.all(Array.from({ length: count }, () => uniqueId("ord")))

const entry = (orderId: string, nextAttemptAt = t0, attempt = 0): Entry => ({
  orderId,
  attempt,
  nextAttemptAt
})

/** Claims everything due at `nowMs` (for `leaseMs`), answering the entries. */
const claimAll = (q: Queue, nowMs: number) =>
  Effect.map(q.claimDue(nowMs, maxPage, leaseMs), (claimed) => claimed.map((c) => c.entry))

/** Claims exactly one entry and answers its claim. */
const claimOne = (q: Queue, nowMs: number) =>
  Effect.map(q.claimDue(nowMs, maxPage, leaseMs), (claimed) => {
    expect(claimed).toHaveLength(1)
    return claimed[0]!
  })

export const paymentRetryQueueContract = (
  name: string,
  queueLayer: Layer.Layer<PaymentRetryQueue.PaymentRetryQueue, unknown>
): void => {
  /** A case on a queue of its own. */
  const test = (title: string, body: (q: Queue) => Effect.Effect<void, unknown>) =>
    it.effect(title, () =>
      Effect.flatMap(PaymentRetryQueue.PaymentRetryQueue, body).pipe(
        Effect.provide(queueLayer, { local: true })
      )
    )

  describe(`PaymentRetryQueue contract: ${name}`, () => {
    describe("entries", () => describeEntries(test))
    describe("claims", () => describeClaims(test))
  })
}

type Test = (title: string, body: (q: Queue) => Effect.Effect<void, unknown>) => void

const describeEntries = (test: Test) => {
  test("an enqueued entry is claimed from its time on, not before, with its lease", (q) =>
    Effect.gen(function* () {
      const [orderId] = yield* ids(1)
      const queued = entry(orderId!, t0 + 1_000)
      expect(yield* q.enqueue(queued)).toBe("enqueued")
      expect(yield* q.size).toBe(1)
      expect(yield* q.claimDue(t0 + 999, maxPage, leaseMs)).toEqual([])
      const claimed = yield* claimOne(q, t0 + 1_000)
      expect(claimed.entry).toEqual(queued)
      expect(claimed.claimedUntil).toBe(t0 + 1_000 + leaseMs)
      expect(Number.isSafeInteger(claimed.token) && claimed.token > 0).toBe(true)
      // A claim does not take the entry off the queue.
      expect(yield* q.size).toBe(1)
    }))

  test("enqueueing a queued order keeps its schedule and attempts", (q) =>
    Effect.gen(function* () {
      const [orderId] = yield* ids(1)
      const first: Entry = {
        orderId: orderId!,
        attempt: 3,
        nextAttemptAt: t0 + 8_000,
        lastError: "GatewayUnavailable"
      }
      yield* q.enqueue(first)
      expect(yield* q.enqueue(entry(orderId!, t0))).toBe("alreadyQueued")
      expect(yield* q.size).toBe(1)
      expect(yield* claimAll(q, t0 + 7_999)).toEqual([])
      expect(yield* claimAll(q, t0 + 10_000)).toEqual([first])
    }))

  test("100 concurrent enqueues of one order make one entry", (q) =>
    Effect.gen(function* () {
      const [orderId] = yield* ids(1)
      const results = yield* Effect.all(
        Array.from({ length: 100 }, (_, i) => q.enqueue(entry(orderId!, t0 + i))),
        { concurrency: "unbounded" }
      )
      expect(results.filter((r) => r === "enqueued")).toHaveLength(1)
      expect(yield* q.size).toBe(1)
    }))

  test("claimDue takes the earliest first, then by order id, at most `limit`", (q) =>
    Effect.gen(function* () {
      const [a, b, c, d] = [...(yield* ids(4))].sort()
      yield* q.enqueue(entry(d!, t0 + 1))
      yield* q.enqueue(entry(c!, t0 + 3))
      yield* q.enqueue(entry(b!, t0 + 3))
      yield* q.enqueue(entry(a!, t0 + 2))
      expect(yield* q.claimDue(t0 + 3, 0, leaseMs)).toEqual([])
      const firstTwo = yield* q.claimDue(t0 + 3, 2, leaseMs)
      expect(firstTwo.map((x) => x.entry.orderId)).toEqual([d, a])
      // The claimed ones are not answered again; the rest come next, in order.
      expect((yield* claimAll(q, t0 + 3)).map((x) => x.orderId)).toEqual([b, c])
    }))

  test("an entry without lastError comes back without one, a long error comes back whole", (q) =>
    Effect.gen(function* () {
      const [plain, failed] = yield* ids(2)
      const lastError = `GatewayUnavailable: ${"x".repeat(950)}`
      yield* q.enqueue(entry(plain!))
      yield* q.enqueue({ orderId: failed!, attempt: 2, nextAttemptAt: t0, lastError })
      const byId = new Map((yield* claimAll(q, t0)).map((e) => [e.orderId, e]))
      expect(byId.get(plain!)!.lastError).toBeUndefined()
      expect(byId.get(failed!)!.lastError).toBe(lastError)
    }))
}

const describeClaims = (test: Test) => {
  test("competing claimers get disjoint entries, together all of them", (q) =>
    Effect.gen(function* () {
      const orderIds = yield* ids(40)
      for (const id of orderIds) yield* q.enqueue(entry(id))
      const rounds = yield* Effect.all(
        Array.from({ length: 8 }, () => q.claimDue(t0, 7, leaseMs)),
        { concurrency: "unbounded" }
      )
      const taken = rounds.flatMap((r) => r.map((c) => c.entry.orderId))
      expect(new Set(taken).size).toBe(taken.length)
      expect([...taken].sort()).toEqual([...orderIds].sort())
      const tokens = rounds.flatMap((r) => r.map((c) => c.token))
      expect(new Set(tokens).size).toBe(tokens.length)
    }))

  test("a claimed entry is not answered again until its lease ends; then the next claimer gets it", (q) =>
    Effect.gen(function* () {
      const [orderId] = yield* ids(1)
      yield* q.enqueue(entry(orderId!))
      const first = yield* claimOne(q, t0)
      expect(yield* q.claimDue(t0 + leaseMs - 1, maxPage, leaseMs)).toEqual([])
      const second = yield* claimOne(q, t0 + leaseMs)
      expect(second.entry).toEqual(first.entry)
      expect(second.token).toBeGreaterThan(first.token)
      expect(second.claimedUntil).toBe(t0 + 2 * leaseMs)
      // The first holder's claim is gone: it can neither remove nor reschedule the entry.
      expect(yield* q.remove(orderId!, first.token)).toBe("stale")
      expect(yield* q.reschedule(entry(orderId!, t0 + 1), first.token)).toBe("stale")
      expect(yield* q.remove(orderId!, second.token)).toBe("removed")
      expect(yield* q.size).toBe(0)
    }))

  test("remove with the claim's token deletes; without it (absent, other token) changes nothing", (q) =>
    Effect.gen(function* () {
      const [kept, removed] = yield* ids(2)
      yield* q.enqueue(entry(kept!))
      yield* q.enqueue(entry(removed!))
      const claims = new Map((yield* q.claimDue(t0, maxPage, leaseMs)).map((c) => [c.entry.orderId, c]))
      expect(yield* q.remove(kept!, claims.get(removed!)!.token)).toBe("stale")
      expect(yield* q.remove(removed!, claims.get(removed!)!.token)).toBe("removed")
      expect(yield* q.remove(removed!, claims.get(removed!)!.token)).toBe("stale") // absent now
      expect(yield* q.size).toBe(1)
    }))

  test("reschedule replaces the entry and releases its claim, and never resurrects a removed one", (q) =>
    Effect.gen(function* () {
      const [kept, removed] = yield* ids(2)
      yield* q.enqueue(entry(kept!))
      yield* q.enqueue(entry(removed!))
      const claims = new Map((yield* q.claimDue(t0, maxPage, leaseMs)).map((c) => [c.entry.orderId, c]))
      yield* q.remove(removed!, claims.get(removed!)!.token)
      const next: Entry = {
        orderId: kept!,
        attempt: 1,
        nextAttemptAt: t0 + 2_000,
        lastError: "OperationTimedOut"
      }
      expect(yield* q.reschedule(next, claims.get(kept!)!.token)).toBe("rescheduled")
      expect(yield* q.reschedule(entry(removed!, t0 + 2_000, 1), claims.get(removed!)!.token)).toBe("stale")
      // Released: due again at its new time, well before the old lease would have ended.
      expect(yield* claimAll(q, t0 + 1_999)).toEqual([])
      expect(yield* claimAll(q, t0 + 2_000)).toEqual([next])
      expect(yield* q.size).toBe(1)
    }))

  test("an order queued again while claimed survives its holder's stale remove and is claimable at once", (q) =>
    Effect.gen(function* () {
      const [orderId] = yield* ids(1)
      const queued = entry(orderId!, t0, 2)
      yield* q.enqueue(queued)
      const held = yield* claimOne(q, t0)
      // Another path (a late charge's refund) queues the order again while the drainer holds it.
      expect(yield* q.enqueue(entry(orderId!, t0 + 5_000))).toBe("alreadyQueued")
      expect(yield* q.remove(orderId!, held.token)).toBe("stale")
      expect(yield* q.reschedule(entry(orderId!, t0 + 9_000, 3), held.token)).toBe("stale")
      expect(yield* q.size).toBe(1)
      // Its schedule and attempts stand, and the claim is gone: it is processed again.
      const again = yield* claimOne(q, t0 + 1)
      expect(again.entry).toEqual(queued)
      expect(again.token).toBeGreaterThan(held.token)
    }))
}
