/**
 * Effect 3 against Effect 4 in the same run: the last Effect 3 commit of Till (with its speed
 * workarounds) and this tree (on Effect 4, without them), measured turn about on this machine.
 *
 * - `pnpm sim --seeds 1000` on two workers: runs per second (higher is better);
 * - the breaker from Effect code and from Promise code, and the policy stack (timeout + breaker +
 *   retry) on a call that ends at once and on one that waits: ns per call (lower is better).
 *
 * The Effect 3 tree is unpacked from git history (`git archive`, no worktree bookkeeping) into
 * `$TILL_CACHE_DIR/effect3-<commit>` and installed from its own lockfile once. Each tree runs its
 * own `bench/resilience.bench.ts` in a process of its own (two `effect` versions cannot share
 * one), so the rows compare like for like: same cases, same loop, same machine, same minutes.
 * Rounds alternate 3 -> 4 -> 3 -> 4 ... and each row keeps the median of its rounds.
 */
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdir } from "node:fs/promises"
import { homedir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import type { Progress, Row } from "./run.js"

/** The last commit of Till on Effect 3 (before the Effect 4 migration). */
const effect3Commit = "863e33a24e05ef1c8b397cadab402f2f94067005"
const ROUNDS = 3
const SIM_SEEDS = 1_000
/** Issue 11: at least 40 runs/s on two workers (Effect 3 gave 26–27). */
const SIM_TARGET_RUNS_PER_SEC = 40

const exec = promisify(execFile)
const root = fileURLToPath(new URL("..", import.meta.url))
const cacheDir = process.env.TILL_CACHE_DIR ?? join(homedir(), ".cache", "till")

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const sh = (cmd: string, args: ReadonlyArray<string>, cwd: string) =>
  exec(cmd, [...args], { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, CI: "" } })

/** The Effect 3 tree, unpacked and installed on first use. */
const effect3Tree = async (progress: Progress): Promise<string> => {
  const dir = join(cacheDir, `effect3-${effect3Commit.slice(0, 12)}`)
  if (!existsSync(join(dir, "node_modules", ".modules.yaml"))) {
    progress(`unpacking Till at ${effect3Commit.slice(0, 12)} (Effect 3) into ${dir}`)
    await mkdir(dir, { recursive: true })
    await exec("bash", ["-c", `git archive ${effect3Commit} | tar -x -C '${dir}'`], { cwd: root })
    progress("installing its locked dependencies")
    await sh("pnpm", ["install", "--frozen-lockfile", "--silent"], dir)
  }
  return dir
}

// One process per measurement: the tree's own tsx, effect and bench code.
const resilienceDriver = `
const { pathToFileURL } = await import("node:url")
const m = await import(pathToFileURL(process.cwd() + "/bench/resilience.bench.ts").href)
process.stdout.write("ROWS" + JSON.stringify(await m.run(() => {})))
`

const resilienceRound = async (tree: string): Promise<Map<string, number>> => {
  const { stdout } = await sh(
    "node",
    ["--import", "tsx", "--input-type=module", "-e", resilienceDriver],
    tree
  )
  const rows = JSON.parse(stdout.slice(stdout.indexOf("ROWS") + 4)) as ReadonlyArray<Row>
  return new Map(rows.map((r) => [r.name, r.value]))
}

/**
 * Today's simulator runs a heavier world than the Effect 3 commit's (three processes, store
 * latency, shuffled scheduling, a flash sale, impatient clients). On the Effect 4 side it is run
 * in the old world's shape as far as its flags go; the late captures, the reconciliation job and
 * the shorter leases it adds have no switch, so the Effect 4 figure is a lower bound.
 */
const oldWorld = [
  "--processes",
  "1",
  "--scheduling",
  "fifo",
  "--disable",
  "storeLatency",
  "--flash",
  "0",
  "--impatient",
  "0"
]

const simRound = async (tree: string, flags: ReadonlyArray<string> = []): Promise<number> => {
  const { stdout } = await sh("pnpm", ["--silent", "sim", "--seeds", String(SIM_SEEDS), ...flags], tree)
  const match = /(\d+) seeds .* in ([\d.]+)s on (\d+) worker.*?, (\d+) violations/.exec(stdout)
  if (match === null) throw new Error(`no summary line in pnpm sim output:\n${stdout.slice(-500)}`)
  if (Number(match[4]) !== 0) throw new Error(`pnpm sim in ${tree} found ${match[4]} violations`)
  return Number(match[1]) / Number(match[2])
}

/** The rows of `bench/resilience.bench.ts` compared across versions. */
const compared = [
  "bare.effect.perCall",
  "effect.suspend.perCall",
  "cockatiel.breaker.perCall",
  "till.breaker.effect.perCall",
  "till.breaker.promise.perCall",
  "till.policy.perCall",
  "bare.effect.waiting.perCall",
  "till.policy.waiting.perCall"
] as const

const round3 = (n: number) => Math.round(n * 1000) / 1000

const row = (name: string, value: number, unit: string, baseline: string | null, base?: number): Row => ({
  name,
  value: Math.round(value * 10) / 10,
  unit,
  baseline,
  ratio: base === undefined ? null : round3(value / base)
})

export const run = async (progress: Progress): Promise<ReadonlyArray<Row>> => {
  const trees = { effect3: await effect3Tree(progress), effect4: root }
  const sim: Record<keyof typeof trees, Array<number>> = { effect3: [], effect4: [] }
  const ns: Record<keyof typeof trees, Map<string, Array<number>>> = {
    effect3: new Map(),
    effect4: new Map()
  }
  for (let i = 1; i <= ROUNDS; i++) {
    for (const version of ["effect3", "effect4"] as const) {
      progress(`round ${i}/${ROUNDS} ${version}: pnpm sim --seeds ${SIM_SEEDS}`)
      const runsPerSec = await simRound(trees[version], version === "effect4" ? oldWorld : [])
      sim[version].push(runsPerSec)
      progress(`  ${runsPerSec.toFixed(1)} runs/s`)
      progress(`round ${i}/${ROUNDS} ${version}: bench/resilience.bench.ts`)
      for (const [name, value] of await resilienceRound(trees[version])) {
        ns[version].set(name, [...(ns[version].get(name) ?? []), value])
      }
      progress(
        `  breaker ${median(ns[version].get("till.breaker.effect.perCall")!).toFixed(0)} ns, ` +
          `policy ${median(ns[version].get("till.policy.perCall")!).toFixed(0)} ns`
      )
    }
  }
  const nsOf = (version: keyof typeof trees, name: string) => median(ns[version].get(name) ?? [Number.NaN])
  const sim3 = median(sim.effect3)
  const sim4 = median(sim.effect4)
  const rows: Array<Row> = [
    row("target.sim.runsPerSec", SIM_TARGET_RUNS_PER_SEC, "runs/s", null),
    row("effect3.sim.runsPerSec", sim3, "runs/s", null),
    row("effect4.sim.runsPerSec", sim4, "runs/s", "effect3.sim.runsPerSec", sim3),
    row("effect4.sim.runsPerSec", sim4, "runs/s", "target.sim.runsPerSec", SIM_TARGET_RUNS_PER_SEC)
  ]
  for (const name of compared) {
    const e3 = nsOf("effect3", name)
    rows.push(row(`effect3.${name}`, e3, "ns/call", null))
    rows.push(row(`effect4.${name}`, nsOf("effect4", name), "ns/call", `effect3.${name}`, e3))
  }
  // The policy stack from stock parts (Effect.retry + breaker + Effect.timeoutOrElse: no
  // ResilienceTimeout, which stayed for this), against Effect 3's stack with its workarounds.
  const without = [["effect.naiveStack.perCall", "till.policy.perCall"]] as const
  for (const [plain, tuned] of without) {
    const e3 = nsOf("effect3", tuned)
    rows.push(row(`effect4.${plain}`, nsOf("effect4", plain), "ns/call", `effect3.${tuned}`, e3))
  }
  // Breaker, Effect entry, against cockatiel's Promise breaker in the same process.
  for (const version of ["effect3", "effect4"] as const) {
    rows.push(
      row(
        `${version}.till.breaker.effect.perCall`,
        nsOf(version, "till.breaker.effect.perCall"),
        "ns/call",
        `${version}.cockatiel.breaker.perCall`,
        nsOf(version, "cockatiel.breaker.perCall")
      )
    )
  }
  return rows
}
