/**
 * Where the demo writes: result lines, and one live progress line. On a terminal the progress
 * line is rewritten in place (`\r`, erase line); anywhere else (a pipe, a file, CI's log) it is
 * printed as a plain line, at most one a second, so a log stays readable.
 */
import { Console, Effect } from "effect"

export interface Output {
  /** A line that stays. */
  readonly line: (text: string) => Effect.Effect<void>
  /** The live line: what is going on now. */
  readonly progress: (text: string) => Effect.Effect<void>
  /** Takes the live line away (before a result is printed in its place). */
  readonly clearProgress: Effect.Effect<void>
}

/** Plain progress lines are at most this frequent. */
export const plainProgressEveryMs = 1_000

/** Lines through `Console.log`; progress as plain lines (not a terminal). */
export const plain = (): Output => {
  let lastMs = 0
  return {
    line: (text) => Console.log(text),
    progress: (text) =>
      Effect.suspend(() => {
        const now = Date.now()
        if (now - lastMs < plainProgressEveryMs) return Effect.void
        lastMs = now
        return Console.log(`   … ${text}`)
      }),
    clearProgress: Effect.sync(() => {
      lastMs = 0
    })
  }
}

/** A terminal's progress line is redrawn at most this often (a flash sale answers 200 in a blink). */
export const terminalProgressEveryMs = 50

/** Lines through `Console.log`; the progress line rewritten in place on `stream` (a terminal). */
export const terminal = (stream: {
  readonly write: (text: string) => unknown
  readonly columns?: number
}): Output => {
  let shown = false
  let lastMs = 0
  const clear = Effect.sync(() => {
    if (shown) stream.write("\r\x1b[2K")
    shown = false
    lastMs = 0
  })
  return {
    line: (text) => Effect.andThen(clear, Console.log(text)),
    progress: (text) =>
      Effect.sync(() => {
        const now = Date.now()
        if (now - lastMs < terminalProgressEveryMs) return
        lastMs = now
        // A terminal that does not say its width (0) gets 100 columns.
        const width = Math.max(20, (stream.columns || 100) - 1)
        stream.write(`\r\x1b[2K   … ${text}`.slice(0, width + 5))
        shown = true
      }),
    clearProgress: clear
  }
}

/** The output of `till demo`: rewritten progress on a terminal, plain lines otherwise. */
export const forStdout = (): Output =>
  globalThis.process.stdout.isTTY === true ? terminal(globalThis.process.stdout) : plain()

/** `rows` (the first is the header) as a Markdown-style table, one string per line. */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): ReadonlyArray<string> => {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  const line = (r: ReadonlyArray<string>) => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(" | ")} |`
  return [line(rows[0]!), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.slice(1).map(line)]
}

/** Minor units as `75.60 USD`. */
export const money = (m: { readonly amount: number; readonly currency: string }): string =>
  `${(m.amount / 100).toFixed(2)} ${m.currency}`
