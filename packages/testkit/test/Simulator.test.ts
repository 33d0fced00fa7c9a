/**
 * The simulator's own tests: a clean world keeps every invariant, a seed replays byte for
 * byte, each planted bug is found within a few seeds with the right invariant named, and a
 * failing run shrinks to a smaller one that fails the same way.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Simulator } from "@till/testkit"
import { findCardNumber } from "../src/internal/simInvariants.js"

/** Seeds tried per planted bug before the self-check fails. */
const maxSeeds = 200

/** The first seed (from 1) whose run breaks an invariant, with that run. */
const firstFailing = (plantedBugs: ReadonlyArray<Simulator.PlantedBug>) =>
  Effect.gen(function* () {
    for (let seed = 1; seed <= maxSeeds; seed++) {
      const result = yield* Simulator.run({ seed, plantedBugs })
      if (result.violations.length > 0) return result
    }
    return undefined
  })

/**
 * The world the regression seeds were found in, before three processes, store latency, shuffled
 * scheduling, the flash sale, impatient clients and 10 s sweeps: they replay in it.
 */
const oldWorld = {
  scheduling: "fifo",
  processes: 1,
  flashSaleBuyers: 0,
  impatientShare: 0,
  recoveryEveryMs: 30_000
} as const

describe("Simulator", () => {
  it.effect("a world without planted bugs keeps every invariant (seeds 1-8)", () =>
    Effect.gen(function* () {
      const summary = yield* Simulator.runMany({ seeds: 8 })
      const failures = summary.failed.map(Simulator.report)
      expect(failures, failures.join("\n\n")).toEqual([])
      expect(summary.passed).toBe(8)
    })
  )

  it("the default world reaches the refund path: late captures of dead orders are given back", () => {
    let refunds = 0
    for (let seed = 1; seed <= 20 && refunds === 0; seed++) {
      const result = Simulator.runSync({ seed, trace: 1 })
      expect(result.violations).toEqual([])
      refunds += result.stats.refunds
    }
    expect(refunds).toBeGreaterThan(0)
  })

  it.effect("the same seed replays the same run, trace line for trace line", () =>
    Effect.gen(function* () {
      const first = yield* Simulator.run({ seed: 7, trace: "full" })
      const second = yield* Simulator.run({ seed: 7, trace: "full" })
      expect(second.trace).toEqual(first.trace)
      expect(second.traceDigest).toBe(first.traceDigest)
      expect(second.stats.orders).toBe(first.stats.orders)
      expect(first.trace.length).toBeGreaterThan(100)
      // and the seed matters: another one tells another story
      const other = yield* Simulator.run({ seed: 8, trace: 1 })
      expect(other.traceDigest).not.toBe(first.traceDigest)
    })
  )

  it.effect("a run exercises the saga: confirmed, declined, paid again, queued, limited, crashed", () =>
    Effect.gen(function* () {
      const result = yield* Simulator.run({ seed: 13, trace: "full" })
      expect(result.violations).toEqual([])
      expect(result.stats.confirmed).toBeGreaterThan(10)
      expect(result.stats.paymentFailed).toBeGreaterThan(0)
      const seen = (text: string) => result.trace.some((line) => line.includes(text))
      for (const text of [
        "CRASH process",
        "StoreUnavailable",
        "IdempotencyConflict",
        "RateLimited",
        " 202 ",
        " pay "
      ]) {
        expect(seen(text), text).toBe(true)
      }
    })
  )

  describe(`each planted bug is found within ${maxSeeds} seeds`, () => {
    // One case per planted bug, each with the invariant that must catch it (the list is the
    // simulator's own: a bug added there without a case here fails the first test below).
    const cases: Readonly<Record<Simulator.PlantedBug, Simulator.Invariant>> = {
      getThenSetRateLimiter: "rate-limit",
      unconditionalReservation: "oversell",
      ignoreIdempotencyKey: "double-charge",
      stepIgnoresVersion: "defect",
      twoOrdersPerCart: "lost-or-double-order",
      cartLastWriterWins: "lost-or-double-order",
      idempotencyIgnoresToken: "idempotency",
      relayIgnoresOrderBlocking: "events",
      restockIgnoresMovementId: "stock-accounting",
      weakIds: "defect",
      refundEventDropped: "events",
      noReconciliation: "money"
    }
    it("there are at least 12 planted bugs, each with a case", () => {
      expect(Simulator.plantedBugs.length).toBeGreaterThanOrEqual(12)
      expect(Object.keys(cases).sort()).toEqual([...Simulator.plantedBugs].sort())
    })
    for (const [bug, invariant] of Object.entries(cases) as Array<
      [Simulator.PlantedBug, Simulator.Invariant]
    >) {
      it.effect(`${bug} -> ${invariant}`, () =>
        Effect.gen(function* () {
          const found = yield* firstFailing([bug])
          expect(found, `${bug} not found in ${maxSeeds} seeds`).toBeDefined()
          expect(found!.violations.map((v) => v.invariant)).toContain(invariant)
          expect(found!.replay).toBe(`pnpm sim --seed ${found!.seed} --planted ${bug}`)
          expect(found!.story.at(-1)).toContain(`VIOLATION ${invariant}`)
        })
      )
    }
  })

  it.effect("a failing run shrinks to a smaller world failing the same invariant", () =>
    Effect.gen(function* () {
      const failing = yield* Simulator.run({ seed: 1, plantedBugs: ["unconditionalReservation"] })
      expect(failing.violations[0]?.invariant).toBe("oversell")
      const shrunk = Simulator.shrink(failing, 12)
      expect(shrunk.violations.map((v) => v.invariant)).toContain("oversell")
      const size = (s: Simulator.Scenario) => (s.onlyUsers?.length ?? s.users) + s.flashSaleBuyers
      expect(size(shrunk.scenario)).toBeLessThan(size(failing.scenario))
      expect(shrunk.replay).not.toBe(failing.replay)
    })
  )

  // Regression seed for a core bug the simulator found (shrunk from `pnpm sim --seed 2153
  // --edit-before-retry`): a checkout whose order insert timed out after its stock was reserved was
  // retried with the same key after the shopper added a unit; the retry priced the new cart but got
  // back the first attempt's hold, so the order sold 3 units and committed 2. Fixed then by taking
  // the hold again; impossible now (TX1 holds the order's own items with the order).
  // Every store call now has a timeout (the `store` policy), which changes the runs a seed makes:
  // seed 2153 no longer walks this path; seed 2766's shopper 5 did until a fresh checkout stopped
  // reading its order before creating it (other store calls, other draws); seed 33's shopper 3
  // does (found by searching seeds for the trace below with no violations).
  it.effect("regression: a retried checkout after a cart edit sells exactly what it holds (seed 33)", () =>
    Effect.gen(function* () {
      const result = yield* Simulator.run({
        seed: 33,
        scenario: {
          onlyUsers: [3],
          skus: 2,
          disabledFaults: ["gateway", "broker", "shipping", "crashes", "storeLatency"],
          editCartBeforeRetry: true,
          ...oldWorld
        },
        trace: "full"
      })
      expect(result.violations).toEqual([])
      // The run still walks the path that used to break.
      expect(result.trace.join("\n")).toMatch(
        /OperationTimedOut\(orderCreation\)[\s\S]*edits cart before retrying[\s\S]*201/
      )
    })
  )

  // Regression seed: the sweeper expired an order whose own charge was still in flight (two hung
  // attempts outlasted an 8 s hold); the charge then landed and, the order store being down, was
  // never refunded. Now no charge starts after the hold, and an order is only expired once its hold
  // plus the settle grace has passed. Found as seed 7225 on Effect 3; Effect 4 draws other random
  // numbers from the same seed (ids, the fake gateway), so the seed was found again: with the fix
  // reverted, `pnpm sim --seed 283 --hold-seconds 8 --disable broker,shipping,crashes` broke
  // `money`. The one-transaction order steps changed every seed's story once more; seed 8, shopper
  // 67, walks the same path again in the old world (one process, FIFO, no store latency).
  it.effect("regression: a charge cannot land after its order expired (seed 8, once 283)", () =>
    Effect.gen(function* () {
      const result = yield* Simulator.run({
        seed: 8,
        scenario: {
          onlyUsers: [67],
          disabledFaults: ["broker", "shipping", "crashes", "storeLatency"],
          holdMs: 8_000,
          ...oldWorld
        },
        trace: "full"
      })
      expect(result.violations).toEqual([])
      expect(result.stats.confirmed).toBe(1)
      // The run still walks the path that used to break: the checkout's first charges hang.
      expect(result.trace.join("\n")).toMatch(
        /hangs the next 2 charges[\s\S]*u067\/s1 place u067-s1-c1 -> 202 /
      )
    })
  )

  // Retired regression (seeds 8116 on Effect 3, then 2153, then 1075): a slow order insert
  // outlasted its hold, the sweeper released the order-less hold, and the order was confirmed
  // without stock. Holds are now made in the same transaction as the order (TX1) and there is
  // no order-less hold for a sweeper to release; no seed of 3,000 in the old world walks the
  // path any more (the insert and its hold land together or not at all). The invariant that
  // caught it, `order-stock-mismatch`, is now checked at every full tick of every run.

  it("the replay command names every setting that differs from the defaults, negated flags included", () => {
    const result = Simulator.runSync({
      seed: 5,
      scenario: { users: 3, holdMs: 8_000, editCartBeforeRetry: false },
      trace: 1
    })
    expect(result.replay).toBe("pnpm sim --seed 5 --users 3 --hold-seconds 8 --no-edit-before-retry")
    expect(Simulator.runSync({ seed: 5, trace: 1 }).replay).toBe("pnpm sim --seed 5")
  })

  it("finds card numbers in text, and not dates, ids or amounts", () => {
    const used = ["4242424242424242"]
    expect(findCardNumber("token for 4242424242424242", used)).toBe("4242424242424242")
    expect(findCardNumber("card 5555 5555 5555 4444 declined", [])).toBe("5555555555554444")
    expect(findCardNumber("378282246310005", [])).toBe("378282246310005")
    expect(findCardNumber("2025-01-01T00:02:05.000Z ord_0x9ta7bzhttcm8pyan94 4242", used)).toBeUndefined()
    expect(findCardNumber("amount 1735689725001", [])).toBeUndefined() // 13 digits, fails Luhn
    expect(findCardNumber("4242-4242-4242-4242", [])).toBe("4242424242424242")
    expect(findCardNumber("pan 4000056655665556x", [])).toBe("4000056655665556")
    expect(findCardNumber("ord_4242424242 and 424", [])).toBeUndefined()
  })
})
