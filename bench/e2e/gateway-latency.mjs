/**
 * `node --import ./bench/e2e/gateway-latency.mjs`: makes the fake payment gateway of `till start`
 * wait `TILL_BENCH_GATEWAY_LATENCY_MS` before every call (tokenize, charge, ...), the way
 * `till simulate --faults latency@...` does in process. `till start` has no setting for it (its
 * gateway is the testkit's fake with no faults), so the bench changes the fake's default
 * (`noFaults.latencyMs` in `packages/testkit/dist/index.js`) as the module loads, and fails the
 * start if that text is not found. The bench checks the effect too: a checkout under it takes
 * at least the latency. Only the end-to-end bench uses it; the zero-latency runs load no hook.
 */
import { register } from "node:module"

const latencyMs = Number(process.env["TILL_BENCH_GATEWAY_LATENCY_MS"] ?? "0")
if (!Number.isSafeInteger(latencyMs) || latencyMs < 0)
  throw new Error(`TILL_BENCH_GATEWAY_LATENCY_MS must be a whole number of ms, got ${latencyMs}`)
register("./gateway-latency-hooks.mjs", import.meta.url, { data: { latencyMs } })
