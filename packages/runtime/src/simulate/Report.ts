/**
 * The JSON report of `till simulate --report FILE`: the settings (the secret left out), the fault
 * windows, where the embedded world's carts were (in memory or on Redis) and each `redis-down`
 * window's outage and recovery as measured, one row per second, the totals (the rows' sums), the
 * orders as the stores ended them, and the invariants checked from the stores' and the gateway's records (demo/Invariants.ts). A
 * `--target` run cannot read another process's stores: its invariants are not checked, and the
 * report says so (`invariantsChecked: false`).
 */
import { Effect, Schema } from "effect"
import { writeFile } from "node:fs/promises"
import type * as Invariants from "../demo/Invariants.js"
import * as Faults from "./Faults.js"
import type { Settings } from "./Options.js"
import type { Second, Totals } from "./Series.js"

export interface FaultWindow {
  readonly spec: string
  readonly kind: Faults.Fault["kind"]
  readonly fromSeconds: number
  readonly toSeconds: number
}

/** The knobs as the report holds them: `Settings`' own, the faults as their specs, no secret. */
export type ReportedSettings = Pick<
  Settings,
  | "users"
  | "ratePerSecond"
  | "durationSeconds"
  | "skus"
  | "skew"
  | "declineRate"
  | "stockPerSku"
  | "seed"
  | "drainSeconds"
> & {
  readonly faults: ReadonlyArray<string>
  readonly target: string | null
}

export interface Report {
  readonly tool: "till simulate"
  readonly formatVersion: 1
  readonly startedAt: string
  readonly mode: "embedded" | "target"
  readonly settings: ReportedSettings
  readonly faults: ReadonlyArray<FaultWindow>
  /** Where the embedded world's carts and rate limits were (null: `--target`, the target's own). */
  readonly carts: "redis" | "in-memory" | null
  /** Each `redis-down` window: what the proxy dropped and refused, how long recovery took. */
  readonly outages: ReadonlyArray<Faults.Outage>
  readonly series: ReadonlyArray<Second>
  readonly totals: Totals
  /** Orders by status in the stores at the end (embedded runs only). */
  readonly orders: Readonly<Record<string, number>> | null
  readonly invariantsChecked: boolean
  readonly invariants: ReadonlyArray<Invariants.Check>
  /** Every invariant held (true when none could be checked). */
  readonly ok: boolean
  readonly elapsedSeconds: number
}

/** The fault windows in seconds since the first arrival. */
export const windows = (faults: ReadonlyArray<Faults.Fault>): ReadonlyArray<FaultWindow> =>
  faults.map((f) => ({
    spec: Faults.format(f),
    kind: f.kind,
    fromSeconds: f.atMs / 1_000,
    toSeconds: Faults.endMs(f) / 1_000
  }))

/** The report's copy of `settings`: every knob, nothing secret. */
export const settingsOf = (settings: Settings): ReportedSettings => ({
  users: settings.users,
  ratePerSecond: settings.ratePerSecond,
  durationSeconds: settings.durationSeconds,
  skus: settings.skus,
  skew: settings.skew,
  declineRate: settings.declineRate,
  stockPerSku: settings.stockPerSku,
  faults: settings.faults.map(Faults.format),
  target: settings.target ?? null,
  seed: settings.seed,
  drainSeconds: settings.drainSeconds
})

/** A report or page that could not be written where asked. */
export class ReportNotWritten extends Schema.TaggedError<ReportNotWritten>()("ReportNotWritten", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `could not write ${this.path}: ${this.reason}`
  }
}

/** Writes `text` to `path`. */
export const write = (path: string, text: string): Effect.Effect<void, ReportNotWritten> =>
  Effect.tryPromise({
    try: () => writeFile(path, text, "utf8"),
    catch: (error) =>
      new ReportNotWritten({ path, reason: error instanceof Error ? error.message : String(error) })
  })

/** The report as the file holds it. */
export const toJson = (report: Report): string => `${JSON.stringify(report, null, 2)}\n`
