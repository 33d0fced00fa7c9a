/**
 * What a simulated run is made of, besides its seed: the shape of the world (users, SKUs,
 * stock, how skewed demand is, how long shoppers shop) and which fault classes may be drawn.
 * The seed then draws everything else: each shopper's behaviour, the fault plan, the crashes.
 */

/** Fault classes a plan may draw from; each can be switched off on its own. */
export const faultClasses = [
  /** Gateway 503 storms, latency spikes, hangs, lost charge responses, decline waves. */
  "gateway",
  /** Store operations failing before they happen (outage windows and a background rate). */
  "storeFailures",
  /** Store operations slower than their policy's timeout. */
  "storeTimeouts",
  /** Store operations that happen but whose answer is lost (a commit, then a dropped connection). */
  "storeLostResponses",
  /** Every store call takes a round trip: a few ms typically, a tail up to ~500 ms. */
  "storeLatency",
  /** The event broker down, so the outbox relay fails. */
  "broker",
  /** The shipping quoter down or slow, so checkouts fall back to the default cost. */
  "shipping",
  /** The process crashing: every in-flight fiber interrupted, in-process state lost, restart. */
  "crashes"
] as const
export type FaultClass = (typeof faultClasses)[number]

export { type PlantedBug, plantedBugs } from "./simPlanted.js"

export interface Scenario {
  /** Till processes sharing the stores, each with its own services and jobs. */
  readonly processes: number
  /**
   * The idempotency lease and the sweepers' staleness, shorter than production's (180 s, 60 s)
   * for the same reason as `holdMs`: so that slow requests outlast their lease (a retry takes
   * over while the first still runs) and sweepers race requests and drainers inside a run.
   */
  readonly idempotencyLeaseMs: number
  readonly recoveryStaleMs: number
  /** How often each process's sweeper runs (production: 30 s). */
  readonly recoveryEveryMs: number
  /** Share of shoppers who stop waiting for an answer after 2-8 s (and retry with the key). */
  readonly impatientShare: number
  /** Buyers of the flash sale: they arrive within seconds of each other for a product of 1-5 units (0: no sale). */
  readonly flashSaleBuyers: number
  /** Shoppers; each arrives at a time drawn in the first 80 % of `durationMs`. */
  readonly users: number
  /**
   * Only these shoppers (by index) shop; the others stay home. Each shopper draws from its own
   * stream, so the ones kept behave as they did: the shrinker's way to a readable story.
   */
  readonly onlyUsers?: ReadonlyArray<number> | undefined
  /** Products on sale. */
  readonly skus: number
  /** Initial stock per SKU is drawn in [stockMin, stockMax]. */
  readonly stockMin: number
  readonly stockMax: number
  /** Zipf exponent of SKU popularity (0 = uniform; 1.2 = a few hot SKUs). */
  readonly popularitySkew: number
  /** How long shoppers shop and faults strike (virtual time). */
  readonly durationMs: number
  /** Most shopping sessions per user. */
  readonly sessionsMax: number
  /** Step of the driver loop that checks the continuous invariants. */
  readonly tickMs: number
  /** After shopping and faults stop, how long jobs may take to settle every order. */
  readonly settleMaxMs: number
  /** Fault classes never drawn in this run. */
  readonly disabledFaults: ReadonlyArray<FaultClass>
  /**
   * The checkout's stock hold and retry window. Shorter than production's (15 and 30 min) so
   * that holds expire *inside* a run, racing payments, retries and the sweeper: the invariants
   * must hold for any configuration, and the expiry paths are where the races live.
   */
  readonly holdMs: number
  readonly retryWindowMs: number
  /**
   * Shoppers may edit their cart between a failed checkout and its retry with the same key.
   * On by default: it once found a core bug (a retried checkout kept the first attempt's
   * reservation; regression seed 2153 in Simulator.test.ts).
   */
  readonly editCartBeforeRetry: boolean
  /**
   * "shuffled" (default): ready fibers and simultaneous wake-ups run in an order drawn from the
   * seed, so every seed is also a stress seed of the scheduling. "fifo": in the order scheduled.
   */
  readonly scheduling: "shuffled" | "fifo"
}

export const defaults: Scenario = {
  processes: 3,
  idempotencyLeaseMs: 5_000,
  flashSaleBuyers: 30,
  impatientShare: 0.3,
  recoveryStaleMs: 10_000,
  recoveryEveryMs: 10_000,
  users: 100,
  skus: 12,
  stockMin: 2,
  stockMax: 25,
  popularitySkew: 1.1,
  durationMs: 5 * 60_000,
  sessionsMax: 2,
  tickMs: 1_000,
  settleMaxMs: 40 * 60_000,
  disabledFaults: [],
  holdMs: 2 * 60_000,
  retryWindowMs: 5 * 60_000,
  editCartBeforeRetry: true,
  scheduling: "shuffled"
}

export const enabled = (scenario: Scenario, fault: FaultClass): boolean =>
  !scenario.disabledFaults.includes(fault)
