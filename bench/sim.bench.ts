/**
 * The simulator's speed: one run of the default world (100 users, 5 virtual minutes) on one
 * thread, the same world without shoppers (what jobs, ticks and process builds cost alone), the
 * runtime steps a run takes (deterministic, so comparable across machines and sessions), and
 * `pnpm sim` itself on two workers against issue 11's target of 40 runs/s (Effect 4).
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import * as Simulator from "../packages/testkit/src/Simulator.js"
import type { Progress, Row } from "./run.js"

const root = fileURLToPath(new URL("..", import.meta.url))

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** Median ms per run over `rounds` rounds of `seeds` seeds, after one warm-up round. */
const msPerRun = (users: number | undefined, seeds: number, rounds: number): number => {
  const scenario = users === undefined ? undefined : { users }
  const times: Array<number> = []
  for (let round = 0; round <= rounds; round++) {
    const started = performance.now()
    for (let seed = 1; seed <= seeds; seed++) Simulator.runSync({ seed, scenario, trace: 1 })
    if (round > 0) times.push((performance.now() - started) / seeds)
  }
  return median(times)
}

/** Runtime steps per run: Effect run-loop iterations, as the simulator counts them. */
const stepsPerRun = (users: number | undefined, seeds: number): number => {
  const scenario = users === undefined ? undefined : { users }
  let steps = 0
  for (let seed = 1; seed <= seeds; seed++)
    steps += Simulator.runSync({ seed, scenario, trace: 1 }).stats.runtimeSteps
  return steps / seeds
}

/** `pnpm sim --seeds n` as CI runs it: wall ms per run, from its summary line. */
const cliMsPerRun = async (seeds: number): Promise<number> => {
  const { stdout } = await promisify(execFile)("pnpm", ["--silent", "sim", "--seeds", String(seeds)], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024
  })
  const match = /(\d+) seeds .* in ([\d.]+)s on (\d+) worker/.exec(stdout)
  if (match === null) throw new Error(`no summary line in pnpm sim output:\n${stdout.slice(-500)}`)
  return (Number(match[2]) * 1000) / Number(match[1])
}

const row = (name: string, value: number, unit: string, baseline: string | null, base?: number): Row => ({
  name,
  value,
  unit,
  baseline,
  ratio: base === undefined ? null : value / base
})

export const run = async (progress: Progress): Promise<ReadonlyArray<Row>> => {
  progress("steps per run (default world, then no shoppers), 10 seeds each")
  const steps = stepsPerRun(undefined, 10)
  const emptySteps = stepsPerRun(0, 10)
  progress("one thread: default world, 3 rounds of 30 seeds")
  const perRun = msPerRun(undefined, 30, 3)
  progress("one thread: no shoppers, 3 rounds of 30 seeds")
  const emptyPerRun = msPerRun(0, 30, 3)
  progress("pnpm sim --seeds 1000 (two workers)")
  const cli = await cliMsPerRun(1_000)
  // Issue 11: at least 40 runs/s, so at most 25 ms of wall time per run on this 2-core machine.
  const target = 25
  return [
    row("target.sim.wallPerRun", target, "ms/run", null),
    row("sim.cli.wallPerRun", cli, "ms/run", "target.sim.wallPerRun", target),
    row("sim.oneThread.perRun", perRun, "ms/run", null),
    row("sim.oneThread.noShoppers.perRun", emptyPerRun, "ms/run", "sim.oneThread.perRun", perRun),
    row("sim.steps.perRun", steps, "steps/run", null),
    row("sim.steps.noShoppers.perRun", emptySteps, "steps/run", "sim.steps.perRun", steps)
  ]
}
