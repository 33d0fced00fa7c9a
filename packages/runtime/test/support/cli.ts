/**
 * The `till` CLI run in process for the tests: what it printed and the exit code the binary would
 * use, and an output for the demo and the simulator that keeps every line.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cli } from "@till/runtime"
import { Console, Effect } from "effect"
import { CliOutput } from "effect/cli"

/** Runs `till ARGS` in process: what it printed, and the exit code the binary would use. */
export const till = (...args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    const console: Console.Console = {
      ...globalThis.console,
      log: (...parts: ReadonlyArray<unknown>) => void stdout.push(parts.join(" ")),
      error: (...parts: ReadonlyArray<unknown>) => void stderr.push(parts.join(" "))
    }
    const exit = yield* Cli.run(args).pipe(Effect.provideService(Console.Console, console), Effect.exit)
    return { stdout: stdout.join("\n"), stderr: stderr.join("\n"), code: Cli.exitCode(exit) }
  }).pipe(
    Effect.provide([NodeServices.layer, CliOutput.layer(CliOutput.defaultFormatter({ colors: false }))])
  )

/** An output that keeps every line (progress lines too, unthrottled). */
export const capture = () => {
  const lines: Array<string> = []
  const out = {
    line: (text: string) => Effect.sync(() => void lines.push(text)),
    progress: (text: string) => Effect.sync(() => void lines.push(`   … ${text}`)),
    clearProgress: Effect.void
  }
  return { lines, out }
}
