import { registerHooks } from "node:module"
import { fileURLToPath, pathToFileURL } from "node:url"
const coreSource = pathToFileURL(fileURLToPath(new URL("../../core/src/index.ts", import.meta.url))).href
registerHooks({ resolve: (s, c, n) => n(s === "@till/core" ? coreSource : s, c) })
const Simulator = await import("../src/Simulator.js")
const { FiberId } = await import("effect")
const a = FiberId.unsafeMake().id
const r = Simulator.runSync({ seed: 7 })
const b = FiberId.unsafeMake().id
console.log(
  "fibers",
  b - a,
  "requests",
  r.stats.requests,
  "tasks",
  r.stats.schedulerTasks,
  "orders",
  r.stats.orders,
  "virtual s",
  r.stats.virtualMs / 1000
)
