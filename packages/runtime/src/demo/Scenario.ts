/**
 * One scenario of the demo, and how each is run: on a world of its own (fresh stores, one
 * process), through the HTTP API, then judged from the stores' records (Invariants.ts) and by
 * what the scenario set out to show (`expected`).
 */
import { FakePaymentGateway, InMemoryInventoryStore, InMemoryOrderStore } from "@till/testkit"
import { Effect } from "effect"
import { performance } from "node:perf_hooks"
import * as Client from "./Client.js"
import * as Invariants from "./Invariants.js"
import { money, type Output } from "./Output.js"
import * as World from "./World.js"

/** What a scenario's code gets. */
export interface Context {
  readonly world: World.World
  readonly client: Client.Client
  readonly out: Output
  /** Puts a product on the shelf through the admin route, and remembers its units for the checks. */
  readonly stock: (sku: string, name: string, priceMinor: number, onHand: number) => Effect.Effect<void>
}

/** A scenario's own verdicts: what it set out to show, each with what was seen. */
export type Expected = ReadonlyArray<Invariants.Check>

export interface Scenario {
  /** For `till demo --only NAME`. */
  readonly name: string
  /** The heading of its block and its row of the summary. */
  readonly title: string
  /** Stores to use instead of the default ones (a test plants a broken store here). */
  readonly world?: World.Options
  readonly run: (context: Context) => Effect.Effect<Expected>
}

export interface Result {
  readonly title: string
  readonly stats: Client.Stats
  readonly invariants: ReadonlyArray<Invariants.Check>
  readonly expected: Expected
  readonly elapsedMs: number
}

/** The ledger of a world: its stores' records, read outside its process. */
export const ledgerOf = (received: ReadonlyMap<string, number>) =>
  Effect.gen(function* () {
    const stock = yield* InMemoryInventoryStore.Inspector
    const gateway = yield* FakePaymentGateway.Inspector
    return {
      received,
      levels: yield* stock.levels,
      reservations: yield* stock.allReservations,
      orders: yield* (yield* InMemoryOrderStore.Inspector).orders,
      charges: yield* gateway.allCharges
    } satisfies Invariants.Ledger
  })

/** `mug 10 → 2 sold → 8 left · charges 1 (75.60 USD) · refunds 0`, from the ledger. */
export const describeLedger = (ledger: Invariants.Ledger): string => {
  const sold = new Map<string, number>()
  for (const r of ledger.reservations)
    if (r.status === "committed")
      for (const l of r.lines) sold.set(l.sku, (sold.get(l.sku) ?? 0) + l.quantity)
  const stock = ledger.levels.map(
    (l) => `${l.sku} ${ledger.received.get(l.sku) ?? 0} → ${sold.get(l.sku) ?? 0} sold → ${l.on_hand} left`
  )
  const live = ledger.charges.filter((c) => c.status === "succeeded")
  const refunded = ledger.charges.filter((c) => c.status === "refunded")
  const total = (cs: typeof live) =>
    cs.length === 0
      ? ""
      : ` (${money({ amount: cs.reduce((sum, c) => sum + c.amount.amount, 0), currency: cs[0]!.amount.currency })})`
  return `${stock.join(", ")} · charges ${live.length}${total(live)} · refunds ${refunded.length}${total(refunded)}`
}

const mark = (ok: boolean) => (ok ? "✓" : "✗")

/** Runs `scenario` on a fresh world and prints its block: its own lines, the ledger, the checks. */
export const run = (scenario: Scenario, out: Output): Effect.Effect<Result> =>
  World.use(scenario.world ?? {}, (world) =>
    Effect.gen(function* () {
      const started = performance.now()
      const client = Client.make(world)
      const received = new Map<string, number>()
      const stock = (sku: string, name: string, priceMinor: number, onHand: number) =>
        Effect.flatMap(
          client.call("PUT", `/v1/admin/products/${sku}`, {
            as: "ops",
            admin: true,
            body: { name, price: { amount: priceMinor, currency: "USD" }, on_hand: onHand }
          }),
          (answer) =>
            answer.status === 200
              ? Effect.sync(() => void received.set(sku, onHand))
              : Effect.die(new Error(`stocking ${sku} answered ${answer.status}`))
        )
      yield* out.line("")
      yield* out.line(`── ${scenario.title}`)
      const expected = yield* scenario.run({ world, client, out, stock })
      const ledger = yield* world.inspect(ledgerOf(received))
      const invariants = Invariants.check(ledger)
      yield* out.clearProgress
      yield* out.line(`   ledger     ${describeLedger(ledger)}`)
      for (const c of [...expected, ...invariants]) yield* out.line(`   ${mark(c.ok)} ${c.name}: ${c.detail}`)
      return {
        title: scenario.title,
        stats: client.stats(),
        invariants,
        expected,
        elapsedMs: performance.now() - started
      }
    })
  )

/** A scenario's verdict on one thing it set out to show. */
export const expect = (name: string, ok: boolean, detail: string): Invariants.Check => ({ name, ok, detail })

/** Polls `read` every `everyMs` until `done` holds or `timeoutMs` passes; answers the last reading. */
export const waitFor = <A, E, R>(
  read: Effect.Effect<A, E, R>,
  done: (a: A) => boolean,
  options: { readonly timeoutMs: number; readonly everyMs?: number }
): Effect.Effect<A, E, R> =>
  Effect.gen(function* () {
    const deadline = Date.now() + options.timeoutMs
    let value = yield* read
    while (!done(value) && Date.now() < deadline) {
      yield* Effect.sleep(options.everyMs ?? 50)
      value = yield* read
    }
    return value
  })
