import { Simulator } from "./src/index.js"
const which = process.argv[2]
const base: any =
  which === "283"
    ? {
        disabledFaults: ["broker", "shipping", "crashes", "storeLatency"],
        holdMs: 8_000,
        scheduling: "fifo",
        processes: 1
      }
    : {
        skus: 2,
        holdMs: 8_000,
        disabledFaults: ["storeLatency"],
        scheduling: "fifo",
        processes: 1,
        flashSaleBuyers: 0
      }
const pattern = (u: string) =>
  which === "283"
    ? new RegExp(`hangs the next 2 charges[\\s\\S]*${u}/s1 place ${u}-s1-c1 -> 202 `)
    : new RegExp(
        `${u}/s1 place ${u}-s1-c1 -> OperationTimedOut\\(orderCreation\\)[\\s\\S]*${u}/s1 place ${u}-s1-c1 -> 201 `
      )
for (let seed = 1; seed <= 3000; seed++) {
  const r = Simulator.runSync({ seed, scenario: base, trace: "full" })
  const text = r.trace.join("\n")
  const users = [...new Set([...text.matchAll(/(u\d{3})\/s1 place/g)].map((m) => m[1]!))]
  for (const u of users) {
    if (!pattern(u).test(text)) continue
    const n = Number(u.slice(1))
    const shrunk = Simulator.runSync({ seed, scenario: { ...base, onlyUsers: [n] }, trace: "full" })
    const ok =
      shrunk.violations.length === 0 &&
      pattern(u).test(shrunk.trace.join("\n")) &&
      (which !== "283" || shrunk.stats.confirmed === 1)
    if (ok) {
      console.log("FOUND", which, seed, n)
      process.exit(0)
    }
  }
}
console.log("none", which)
