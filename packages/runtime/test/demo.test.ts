/**
 * `till demo`: every scenario shows what it claims and every invariant holds; a broken store
 * makes it fail (exit 1); the invariant checker fails a bad ledger on each invariant. The demo
 * runs on the live clock, as the binary does (about 15 s).
 */
import { expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { describe } from "vitest"
import { capture, till } from "./support/cli.js"
import { InMemoryInventoryStore } from "@till/testkit"
import { Cli, Demo } from "@till/runtime"

describe("till demo", () => {
  it.live(
    "every scenario shows what it should, through the API, and every invariant holds",
    () =>
      Effect.gen(function* () {
        const { lines, out } = capture()
        const summary = yield* Demo.run({ out })
        const text = lines.join("\n")
        expect(summary.results.map((r) => r.title.split(":")[0])).toEqual([
          "1. checkout journey",
          "2. declined card",
          "3. double click",
          "4. flash sale",
          "5. gateway outage",
          "6. crash and restart",
          "7. abandoned cart"
        ])
        for (const result of summary.results) {
          expect(result.invariants.map((c) => c.name)).toEqual(Demo.Invariants.names)
          for (const c of [...result.expected, ...result.invariants])
            expect({ scenario: result.title, ...c }).toMatchObject({ ok: true })
        }
        expect(summary.broken).toEqual([])
        // 1: the journey, and what the event stream shows instead of a shipment.
        expect(text).toMatch(/POST \/v1\/checkout → 201 confirmed/)
        expect(text).toMatch(/events {5}order\.created → inventory\.reserved → .*order\.confirmed/)
        expect(text).toMatch(
          /mug 10 → 2 sold → 8 left, lamp 3 → 1 sold → 2 left · charges 1 \(\d+\.\d\d USD\) · refunds 0/
        )
        // 2: declined, released, paid again.
        expect(text).toMatch(/→ 402 card_declined, lamp available 3 of 3 \(released\)/)
        expect(text).toMatch(
          /POST \/v1\/orders\/\{id\}\/payment, card 5555 …4444 → 201 confirmed, lamp available 1/
        )
        // 3: one order, one charge.
        expect(text).toMatch(/orders for the cart: 1, money movements for it: 1/)
        // 4: exactly the units on the shelf sold, every other buyer an honest 409.
        expect(text).toMatch(/10 × 201 confirmed, 190 × 409 out of stock, 0 errors/)
        expect(text).toMatch(/tee 10 → 10 sold → 0 left · charges 10/)
        // 5: the outage's timeline.
        expect(text).toMatch(/t\+ *\d+\.\ds {2}gateway answers 503 until t\+4s/)
        expect(text).toMatch(/breaker payment closed → open/)
        expect(text).toMatch(/t\+ *\d+\.\ds {2}gateway answers again/)
        expect(text).toMatch(/→ closed, queue depth/)
        expect(text).toMatch(/queue depth 0 \(peak \d+\): (\d+) of \1 queued orders confirmed by the drainer/)
        // 6: cut off mid-payment, recovered, nothing charged twice.
        expect(text).toMatch(/\d+ cut off; orders: .* [1-9]\d* of them already charged \(response lost\)/)
        // Every order placed before the crash (all 20, unless a checkout was cut off before its order).
        expect(text).toMatch(
          /(\d+) of \1 orders confirmed; gateway: \1 orders charged, at most 1 money movement per order/
        )
        // 7: one reminder event for the idle cart, none for the others.
        expect(text).toMatch(/hana 1, ivan 0, judy 0 cart\.abandoned/)
        // The summary: a row per scenario, every check ✓, and the last line.
        const rows = lines.filter((l) => /^\| \d\. /.test(l))
        expect(rows).toHaveLength(7)
        for (const row of rows)
          expect(
            row
              .split("|")
              .slice(6, 10)
              .map((c) => c.trim())
          ).toEqual(["✓", "✓", "✓", "✓"])
        expect(lines.at(-1)).toMatch(/^demo: 7 scenarios, \d+ requests, every invariant held \(\d+\.\d s\)$/)
        const flash = summary.results[3]!
        expect(flash.stats.statuses.get(201)).toBe(200 + 200 + 10) // carts, cards, orders
        expect(flash.stats.statuses.get(409)).toBe(190)
        expect(summary.elapsedMs).toBeLessThan(60_000)
      }),
    90_000
  )

  it.live("`till demo --only journey` runs one scenario and exits 0", () =>
    Effect.gen(function* () {
      const { stdout, code } = yield* till("demo", "--only", "journey")
      expect(code).toBe(0)
      expect(stdout).toContain("Till demo —")
      expect(stdout).toMatch(/201 .*confirmed/) // what `.ci/run` looked for before the summary line
      expect(stdout).toMatch(/^demo: 1 scenario, \d+ requests, every invariant held/m)
      expect(stdout).not.toContain("2. declined card")
    })
  )

  it.live("`till demo --only` an unknown scenario is a usage error (exit 2)", () =>
    Effect.gen(function* () {
      const { stdout, code } = yield* till("demo", "--only", "nope")
      expect(code).toBe(2)
      expect(stdout).not.toContain("Till demo —")
    })
  )

  it.live("a store that oversells breaks `no oversell`: the demo fails with InvariantBroken, exit 1", () =>
    Effect.gen(function* () {
      const flashSale = Demo.scenarios.find((s) => s.name === "flash-sale")!
      // The simulator's planted oversell: holds taken without the stock condition.
      const broken = {
        ...flashSale,
        world: { stores: { inventoryStore: InMemoryInventoryStore.layerUnconditional } }
      }
      const { lines, out } = capture()
      const exit = yield* Effect.exit(Demo.run({ out, scenarios: [broken] }))
      expect(Cli.exitCode(exit)).toBe(1)
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toBeInstanceOf(Demo.InvariantBroken)
      const text = lines.join("\n")
      expect(text).toMatch(/✗ no oversell: tee: received 10, sold \d+/)
      expect(text).toMatch(/^\| 4\. flash sale .*\| ✗ /m)
      expect(lines.at(-1)).toMatch(/^demo: \d+ checks? broken in 1 scenario \(/)
    })
  )

  describe("the invariant checker", () => {
    const usd = (amount: number) => ({ amount, currency: "USD" })
    const clean: Demo.Invariants.Ledger = {
      received: new Map([["mug", 10]]),
      levels: [{ sku: "mug", on_hand: 8, reserved: 0 }],
      reservations: [
        { order_id: "ord_a", status: "committed", lines: [{ sku: "mug", quantity: 2 }] },
        { order_id: "ord_b", status: "released", lines: [{ sku: "mug", quantity: 1 }] }
      ],
      orders: [
        { order_id: "ord_a", status: "confirmed", total: usd(3000) },
        { order_id: "ord_b", status: "payment_failed", total: usd(1500) }
      ],
      charges: [{ idempotency_key: "ord_a", status: "succeeded", amount: usd(3000) }]
    }
    const failed = (ledger: Demo.Invariants.Ledger) =>
      Demo.Invariants.check(ledger)
        .filter((c) => !c.ok)
        .map((c) => c.name)

    it("holds on a clean ledger (a declined order paid nothing, a refunded charge kept by no one)", () => {
      expect(failed(clean)).toEqual([])
      expect(
        failed({
          ...clean,
          charges: [...clean.charges, { idempotency_key: "ord_b:2", status: "refunded", amount: usd(1500) }]
        })
      ).toEqual([])
    })

    it("a second charge of an order, under its key or another attempt's, breaks `at most one charge per order`", () => {
      const twice = { idempotency_key: "ord_a", status: "succeeded" as const, amount: usd(3000) }
      expect(failed({ ...clean, charges: [...clean.charges, twice] })).toEqual([
        "at most one charge per order"
      ])
      expect(
        failed({ ...clean, charges: [...clean.charges, { ...twice, idempotency_key: "ord_a:2" }] })
      ).toEqual(["at most one charge per order"])
      // A charge kept by an order that is not confirmed, and a confirmed order without one.
      expect(
        failed({
          ...clean,
          charges: [...clean.charges, { ...twice, idempotency_key: "ord_b", amount: usd(1500) }]
        })
      ).toEqual(["at most one charge per order"])
      expect(failed({ ...clean, charges: [] })).toEqual(["at most one charge per order"])
    })

    it("more sold than received, or a level that disagrees with the reservations, breaks `no oversell`", () => {
      expect(
        failed({
          ...clean,
          levels: [{ sku: "mug", on_hand: -1, reserved: 0 }],
          reservations: [{ order_id: "ord_a", status: "committed", lines: [{ sku: "mug", quantity: 11 }] }]
        })
      ).toContain("no oversell")
      expect(failed({ ...clean, levels: [{ sku: "mug", on_hand: 9, reserved: 0 }] })).toEqual(["no oversell"])
    })

    it("an order left pending breaks `every order terminal`", () => {
      expect(
        failed({
          ...clean,
          orders: [...clean.orders, { order_id: "ord_c", status: "pending", total: usd(1500) }]
        })
      ).toEqual(["every order terminal"])
    })
  })
})
