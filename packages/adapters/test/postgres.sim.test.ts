/**
 * The simulator's world on the Postgres stores (test/support/simPostgres.ts): a few seeds keep
 * every invariant, and the checks reading the tables can fail: a planted bug in front of the
 * Postgres inventory store, and a stock row changed behind the stores' back, are both reported.
 * Each seed runs on a fresh schema, dropped afterwards. Real time: a seed takes a few seconds.
 */
import { it } from "@effect/vitest"
import { Effect } from "effect"
import { expect } from "vitest"
import { runSeed } from "./support/simPostgres.js"
import { describeService } from "./support/services.js"

const seedTimeoutMs = 60_000

await describeService("postgres", "the simulator's world on Postgres", () => {
  it.live(
    "seeds 1-3 keep every invariant",
    () =>
      Effect.gen(function* () {
        for (const seed of [1, 2, 3]) {
          const result = yield* runSeed({ seed })
          expect(result.violations, `seed ${seed}`).toEqual([])
          // The world really ran on the stores: orders were placed, and most confirmed.
          expect(result.stats.orders).toBeGreaterThan(5)
          expect(result.stats.confirmed).toBeGreaterThan(0)
        }
      }),
    3 * seedTimeoutMs
  )

  it.live(
    "a restock that forgets its movement id (planted) is found by the stock probes: stock-accounting",
    () =>
      Effect.gen(function* () {
        // Seeds 3 and 5 find it in memory; on Postgres the run is not deterministic, so either may.
        const found: Array<string> = []
        for (const seed of [3, 5]) {
          const result = yield* runSeed({ seed, plantedBugs: ["restockIgnoresMovementId"] })
          found.push(...result.violations.map((v) => v.invariant))
        }
        expect(found).toContain("stock-accounting")
      }),
    2 * seedTimeoutMs
  )

  it.live(
    "a stock row changed behind the stores' back is reported: stock-accounting",
    () =>
      Effect.gen(function* () {
        const result = yield* runSeed(
          { seed: 1, scenario: { users: 10, durationMs: 60_000 } },
          {
            // One unit more in the table than the world stocked, written by plain SQL.
            tamper: (ports, sql) => ({
              ...ports,
              inventory: {
                ...ports.inventory,
                setOnHand: (sku, onHand) =>
                  Effect.tap(ports.inventory.setOnHand(sku, onHand), () =>
                    sku === "sku-01"
                      ? Effect.orDie(sql`UPDATE stock SET on_hand = on_hand + 1 WHERE sku = ${sku}`)
                      : Effect.void
                  )
              }
            })
          }
        )
        expect(result.violations.map((v) => v.invariant)).toContain("stock-accounting")
        expect(result.violations.find((v) => v.invariant === "stock-accounting")?.detail).toMatch(/^sku-01: /)
      }),
    seedTimeoutMs
  )
})
