/**
 * `pnpm sim:postgres`: the checkout simulator's world on the Postgres stores (orders, stock,
 * catalog, idempotency keys, retry queue, dead letters; the rest in memory), one fresh schema per
 * seed. See test/support/simPostgres.ts for what runs where, and the testkit's simIo.ts for how
 * real queries meet virtual time.
 *
 *   pnpm sim:postgres --seeds 5            seeds 1..5, progress on stderr, a summary line
 *   pnpm sim:postgres --seed 42            one seed, with its whole trace
 *   pnpm sim:postgres --seeds 5 --planted ignoreIdempotencyKey
 *                                          self-check on Postgres: the planted bug must be found
 *
 * Options: --from N (first seed), --concurrency N (seeds at once, each on its own schema and
 * pool; default 1: the database, not the simulator, is what a seed waits for), --users N,
 * --minutes N, --max-connections N (each seed's pool, default 8), --show N (failing seeds printed
 * in full, default 3). The server is TILL_TEST_DATABASE_URL, by default
 * postgres://postgres@127.0.0.1:5432/till_test.
 *
 * The last line is always `sim: <passed> passed, <failed> failed`; the exit code is 1 when a seed
 * failed (with --planted: when the planted bug was NOT found), 2 on bad options or no database.
 *
 * Runs on Postgres are not deterministic (the database decides which of two concurrent statements
 * goes first): a seed that fails here is replayed here, and may need a few runs to fail again.
 */
import { registerHooks } from "node:module"
import { fileURLToPath, pathToFileURL } from "node:url"
import { parseArgs } from "node:util"
import type { Simulator as Sim } from "@till/testkit"

// Resolve Till's packages to their TypeScript sources, as vitest does: the simulator must run the
// code in the working tree, not a possibly stale build in dist/.
const source = (path: string) => pathToFileURL(fileURLToPath(new URL(`../../${path}`, import.meta.url))).href
const sources: Record<string, string> = {
  "@till/core": source("core/src/index.ts"),
  "@till/testkit": source("testkit/src/index.ts"),
  "@till/testkit/contracts": source("testkit/src/contracts/index.ts"),
  "@till/adapters/postgres": source("adapters/src/postgres/index.ts")
}
registerHooks({
  resolve: (specifier, context, next) => next(sources[specifier] ?? specifier, context)
})

const { Effect } = await import("effect")
const { Simulator } = await import("@till/testkit")
const { runSeed } = await import("../test/support/simPostgres.js")

const { values } = parseArgs({
  options: {
    seeds: { type: "string" },
    seed: { type: "string" },
    from: { type: "string" },
    users: { type: "string" },
    minutes: { type: "string" },
    concurrency: { type: "string" },
    "max-connections": { type: "string" },
    planted: { type: "string", multiple: true },
    show: { type: "string" }
  },
  strict: true
})

function fail(message: string): never {
  process.stderr.write(`sim: ${message}\n`)
  process.exit(2)
}

const int = (name: string, text: string | undefined, fallback: number): number => {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 1) fail(`--${name} must be a positive whole number, got ${text}`)
  return n
}

const planted = (values.planted ?? []).flatMap((p) => p.split(",")) as Array<Sim.PlantedBug>
for (const bug of planted) {
  if (!Simulator.plantedBugs.includes(bug)) fail(`unknown planted bug ${bug}`)
  if (Simulator.inMemoryStoreBugs.includes(bug))
    fail(`planted bug ${bug} switches an in-memory store: not on Postgres`)
}
const scenario: Partial<Sim.Scenario> = {
  ...(values.users === undefined ? {} : { users: int("users", values.users, 100) }),
  ...(values.minutes === undefined ? {} : { durationMs: Math.round(Number(values.minutes) * 60_000) })
}
const maxConnections = int("max-connections", values["max-connections"], 8)
const out = (line: string) => process.stdout.write(`${line}\n`)

const one = (seed: number, trace: "full" | number) =>
  Effect.runPromise(runSeed({ seed, scenario, plantedBugs: planted, trace }, { maxConnections })).catch(
    (error: unknown) => fail(`seed ${seed} could not run on Postgres: ${String(error)}`)
  )

const finish = (passed: number, failed: number): never => {
  out(`sim: ${passed} passed, ${failed} failed`)
  process.exit(planted.length > 0 ? (failed > 0 ? 0 : 1) : failed > 0 ? 1 : 0)
}

const statsLine = (r: Sim.Result) =>
  `${r.stats.orders} orders (${r.stats.confirmed} confirmed), ${r.stats.charges} charges, ` +
  `virtual ${(r.stats.virtualMs / 1000).toFixed(0)}s, ${(r.stats.wallMs / 1000).toFixed(1)}s wall`

if (values.seed !== undefined) {
  const result = await one(int("seed", values.seed, 1), "full")
  for (const line of result.trace) out(line)
  out("")
  out(Simulator.report(result).replace("pnpm sim ", "pnpm sim:postgres "))
  out(`stats: ${statsLine(result)}`)
  finish(result.violations.length === 0 ? 1 : 0, result.violations.length === 0 ? 0 : 1)
} else {
  const seeds = int("seeds", values.seeds, 5)
  const first = int("from", values.from, 1)
  const concurrency = Math.min(int("concurrency", values.concurrency, 1), seeds)
  const show = int("show", values.show, 3)
  const started = performance.now()
  const failed: Array<Sim.Result> = []
  let next = first
  let done = 0
  const worker = async () => {
    while (next < first + seeds) {
      const seed = next++
      const result = await one(seed, 200)
      done++
      if (result.violations.length > 0) {
        failed.push(result)
        out(`FAIL seed ${seed}: ${result.violations[0]!.invariant}: ${result.violations[0]!.detail}`)
      }
      process.stderr.write(
        `sim:postgres ${done}/${seeds} seed ${seed}: ${result.violations.length} violations, ${statsLine(result)}\n`
      )
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const wallMs = performance.now() - started
  failed.sort((a, b) => a.seed - b.seed)
  for (const result of failed.slice(0, show)) {
    out("")
    out(Simulator.report(result).replace("pnpm sim ", "pnpm sim:postgres "))
  }
  out(
    `sim: ${seeds} seeds (${first}..${first + seeds - 1}) on Postgres in ${(wallMs / 1000).toFixed(1)}s, ` +
      `${(wallMs / 1000 / seeds).toFixed(1)} s/seed` +
      (planted.length > 0 ? ` (planted: ${planted.join(", ")})` : "")
  )
  finish(seeds - failed.length, failed.length)
}
