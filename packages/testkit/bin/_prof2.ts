import { registerHooks } from "node:module"
import { fileURLToPath, pathToFileURL } from "node:url"
const coreSource = pathToFileURL(fileURLToPath(new URL("../../core/src/index.ts", import.meta.url))).href
registerHooks({ resolve: (s, c, n) => n(s === "@till/core" ? coreSource : s, c) })
const Simulator = await import("../src/Simulator.js")
const n = Number(process.argv[2] ?? 30)
const scenario = { ...Simulator.defaultScenario, tickMs: Number(process.argv[3] ?? 1000) }
for (let s = 1; s <= 5; s++) Simulator.runSync({ seed: s, scenario })
const t = performance.now()
for (let s = 1; s <= n; s++) Simulator.runSync({ seed: s, scenario })
console.log(`${n} seeds ${((performance.now() - t) / n).toFixed(1)} ms/seed (tick ${scenario.tickMs})`)
