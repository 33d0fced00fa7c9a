import { Effect } from "effect"
import * as CircuitBreaker from "../packages/core/src/CircuitBreaker.js"
import * as Policy from "../packages/core/src/Policy.js"
const b = await Effect.runPromise(CircuitBreaker.make({ ...Policy.defaults.payment.breaker, name: "x" }))
const work = Effect.succeed(1)
const N = 300_000
for (let r = 0; r < 15; r++) {
  const t = performance.now()
  await Effect.runPromise(Effect.gen(function* () { let s = 0; for (let i = 0; i < N; i++) s += yield* b.execute(work); return s }))
  if (r > 10) console.log(((performance.now() - t) * 1e6 / N).toFixed(1))
}
