/**
 * The knobs of `till simulate`, their defaults and their limits, checked in one place: the CLI's
 * flags refuse a value outside its limits (a usage error), and `validate` checks what no single
 * flag can (faults inside the run, faults against `--target`, the run's size) for the CLI and for
 * a caller in code alike.
 */
import { Effect, type Redacted, Schema } from "effect"
import * as Faults from "./Faults.js"

export interface Settings {
  /** Distinct shoppers; arrivals take them in turn (each one's checkout rate limit is 10 a minute). */
  readonly users: number
  /** Checkouts started per second, whatever the answers (open loop). */
  readonly ratePerSecond: number
  readonly durationSeconds: number
  readonly skus: number
  /** Zipf-like skew over the SKUs: 0 uniform, 1 a hot SKU. */
  readonly skew: number
  /** Share (0..1) of checkouts paid with a card the gateway declines. */
  readonly declineRate: number
  /** Units of each SKU on the shelf at the start. */
  readonly stockPerSku: number
  readonly faults: ReadonlyArray<Faults.Fault>
  /** A running Till to drive (its origin) instead of the embedded one. */
  readonly target?: string | undefined
  /** The HS256 secret of `target`'s tokens (TILL_JWT_SECRET); the embedded Till makes its own. */
  readonly jwtSecret?: Redacted.Redacted<string> | undefined
  /** Seed of the shoppers', SKUs' and cards' draws. */
  readonly seed: number
  /** How long the end waits for in-flight checkouts and every order to end. */
  readonly drainSeconds: number
  readonly reportFile?: string | undefined
  readonly htmlFile?: string | undefined
}

export const defaults = {
  users: 500,
  ratePerSecond: 20,
  durationSeconds: 30,
  skus: 50,
  skew: 1,
  declineRate: 0.05,
  stockPerSku: 1_000,
  seed: 1,
  drainSeconds: 30
} as const

export type Numeric = keyof typeof defaults

/** The range of each number, and whether it is a whole number. */
export const limits: Record<
  Numeric,
  { readonly min: number; readonly max: number; readonly integer: boolean }
> = {
  users: { min: 1, max: 1_000_000, integer: true },
  ratePerSecond: { min: 0.1, max: 1_000, integer: false },
  durationSeconds: { min: 1, max: 3_600, integer: true },
  skus: { min: 1, max: 10_000, integer: true },
  skew: { min: 0, max: 5, integer: false },
  declineRate: { min: 0, max: 1, integer: false },
  stockPerSku: { min: 0, max: 1_000_000_000, integer: true },
  seed: { min: 0, max: 4_294_967_295, integer: true },
  drainSeconds: { min: 0, max: 600, integer: true }
}

/** Most checkouts of one run: every answer's latency is kept for the report's quantiles. */
export const maxCheckouts = 1_000_000

/** Why `value` is not a valid `name`, or undefined. */
export const outOfRange = (name: Numeric, value: number): string | undefined => {
  const { min, max, integer } = limits[name]
  if (!Number.isFinite(value) || value < min || value > max)
    return `${value} is not between ${min} and ${max}`
  if (integer && !Number.isInteger(value)) return `${value} is not a whole number`
  return undefined
}

/** Why `text` is not a Till origin to drive, or undefined. */
export const badTarget = (text: string): string | undefined => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return `"${text}" is not a URL (expected e.g. http://localhost:8080)`
  }
  return url.protocol === "http:" || url.protocol === "https:" ? undefined : `"${text}" is not an http(s) URL`
}

/** A run that cannot be made as asked; the message says why and what to change. */
export class SimulateRefused extends Schema.TaggedError<SimulateRefused>()("SimulateRefused", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

/** The reasons `settings` cannot run (every one, in flag order). */
export const problems = (settings: Settings): ReadonlyArray<string> => {
  const found: Array<string> = []
  for (const name of Object.keys(limits) as Array<Numeric>) {
    const bad = outOfRange(name, settings[name])
    if (bad !== undefined) found.push(`${name}: ${bad}`)
  }
  const checkouts = Math.ceil(settings.ratePerSecond * settings.durationSeconds)
  if (checkouts > maxCheckouts)
    found.push(`--rate × --duration is ${checkouts} checkouts: at most ${maxCheckouts} a run`)
  const outside = Faults.outsideRun(settings.faults, settings.durationSeconds)
  if (outside !== undefined) found.push(outside)
  if (settings.target !== undefined) {
    const bad = badTarget(settings.target)
    if (bad !== undefined) found.push(`--target ${bad}`)
    if (settings.faults.length > 0)
      found.push(
        `--faults ${settings.faults.map(Faults.format).join(",")} needs the embedded Till: storms and latency drive its ` +
          "fake payment gateway, a restart kills its process and redis-down cuts it from its Redis (through the " +
          "simulator's proxy), none of which a --target run can reach; drop --target or --faults"
      )
  }
  return found
}

/** `settings`, or `SimulateRefused` with every problem found. */
export const validate = (settings: Settings): Effect.Effect<Settings, SimulateRefused> => {
  const found = problems(settings)
  return found.length === 0
    ? Effect.succeed(settings)
    : Effect.fail(new SimulateRefused({ reason: `till simulate: ${found.join("; ")}` }))
}
