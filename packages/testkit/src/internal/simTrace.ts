/**
 * The trace of a run: one line per thing that happened, stamped with virtual time since the
 * start. It is what a failing seed prints and what the replay test compares, so a line must be
 * a function of the seed alone: virtual time, ids from the seeded `Ids`, error tags. Never a
 * fiber id, a wall-clock time or `Cause.pretty` (both carry process-global counters).
 *
 * Every line feeds a running FNV-1a hash, so two runs can be compared without holding both
 * traces. All lines are kept for the run (a run writes about a thousand), so a violation found
 * at the end can still tell its story; `keep` is how many of them a result hands out.
 */

export class Trace {
  private readonly lines: Array<string> = []
  private hash = 0x811c9dc5

  constructor(
    private readonly nowMs: () => number,
    private readonly startMs: number,
    private readonly keep: number | "full"
  ) {}

  /** Appends a line, stamped `[ 123.456s]` of virtual time. */
  add(line: string): void {
    const text = `[${stamp(this.nowMs() - this.startMs)}] ${line}`
    let h = this.hash
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i)
      h = Math.imul(h, 0x01000193)
    }
    this.hash = Math.imul(h ^ 10, 0x01000193)
    this.lines.push(text)
  }

  /** Lines added so far: a position to cut the trace at. */
  get length(): number {
    return this.lines.length
  }

  /** Every line, in order. */
  get all(): ReadonlyArray<string> {
    return this.lines
  }

  /** The lines a result hands out: all of them for `full`, else the last `keep`. */
  get kept(): ReadonlyArray<string> {
    return this.keep === "full" ? this.lines : this.lines.slice(-this.keep)
  }

  /** Hex digest of every line added, kept or not. */
  get digest(): string {
    return (this.hash >>> 0).toString(16).padStart(8, "0")
  }
}

const stamp = (ms: number): string => (ms / 1000).toFixed(3).padStart(9, " ") + "s"
