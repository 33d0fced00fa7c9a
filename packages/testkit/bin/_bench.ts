import { registerHooks } from "node:module"
import { pathToFileURL } from "node:url"
registerHooks({
  resolve(specifier, context, next) {
    if (specifier === "@till/core") return next(pathToFileURL("/work/main/packages/core/src/index.ts").href, context)
    return next(specifier, context)
  }
})
const { Effect, Logger, LogLevel } = await import("effect")
const { runDeterministic } = await import("../src/internal/simRuntime.ts")
const TestTill = await import("../src/TestTill.ts")
const fx = await import("../test/fixtures.ts")
const N = Number(process.argv[2] ?? 200)
const tracer = process.argv[3] !== "on"
const program = Effect.gen(function* () {
  yield* TestTill.stock("mug", "Mug", 1500, 1_000_000)
  for (let i = 0; i < N; i++) {
    const c = yield* fx.cartWith(`u${i}`, [["mug", 1]])
    yield* fx.place(`u${i}`, `k${i}`, c.cartId, c.paymentMethodId)
  }
}).pipe(Effect.provide(TestTill.layer({ seed: 1 })), Effect.withTracerEnabled(!tracer))
for (let r = 0; r < 5; r++) {
  const t0 = performance.now()
  const res = runDeterministic(() => program, { startMs: 1_735_689_600_000, maxTimeMs: 2e12, maxTasks: 1e9 })
  const t1 = performance.now()
  console.log(res.outcome._tag, res.outcome._tag === "Done" ? res.outcome.exit._tag : "", `${N} checkouts in ${(t1 - t0).toFixed(1)} ms = ${((t1 - t0) * 1000 / N).toFixed(0)} us each; tasks ${res.tasksRun}`)
}
