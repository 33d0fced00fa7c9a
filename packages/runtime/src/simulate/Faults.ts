/**
 * The fault schedule of `till simulate --faults`, e.g. `storm@10s+5s,latency@20s+5s:800ms,restart@30s`:
 *
 * - `storm@AT+FOR`: the fake payment gateway answers every call 503 for FOR, from AT;
 * - `latency@AT+FOR:DELAY`: every gateway call takes DELAY longer, for FOR, from AT;
 * - `restart@AT`: the Till process is killed (in-flight requests cut off) and a new one starts on
 *   the same stores;
 * - `redis-down@AT+FOR`: the world's Redis (its carts and rate limits) is down for FOR, from AT:
 *   with `REDIS_URL`, the simulator's TCP proxy drops every connection and refuses new ones;
 *   without, the in-memory cart store fails as a Redis that cannot be reached does (Redis.ts).
 *
 * AT counts from the first arrival; times are `10s`, `1.5s` or `500ms`. Parsing is strict, since a
 * fault silently dropped or moved would make a run say something it did not test: an unknown kind,
 * a missing or extra part, a zero length, or two windows of one kind overlapping is an error
 * naming the part. Every fault drives the embedded process (its gateway, its life), so none can
 * be played against `--target`.
 */
import { FakePaymentGateway } from "@till/testkit"
import { Effect, Schedule } from "effect"
import type * as World from "../demo/World.js"
import type * as Redis from "./Redis.js"

export type Fault =
  | { readonly kind: "storm"; readonly atMs: number; readonly forMs: number }
  | { readonly kind: "latency"; readonly atMs: number; readonly forMs: number; readonly latencyMs: number }
  | { readonly kind: "restart"; readonly atMs: number }
  | { readonly kind: "redis-down"; readonly atMs: number; readonly forMs: number }

/** Most faults in one schedule. */
export const maxFaults = 100
/** The longest added gateway latency: beyond the payment timeout (2 s) it only measures the timeout. */
export const maxLatencyMs = 60_000
/** The latest a fault may start or end: a day. */
export const maxAtMs = 86_400_000

/** A `--faults` spec that does not parse; `message` names the bad part. */
export class FaultSpecInvalid extends Error {
  readonly _tag = "FaultSpecInvalid"
}

const timePattern = /^(\d+(?:\.\d+)?)(ms|s)$/
const partPattern = /^([a-z][a-z-]*)@([^+:]*)(?:\+([^:]*))?(?::(.*))?$/

const time = (part: string, what: string, text: string): number => {
  const match = timePattern.exec(text)
  if (match === null)
    throw new FaultSpecInvalid(
      `"${part}": ${what} "${text}" is not a time (expected e.g. 10s, 1.5s or 500ms)`
    )
  const ms = Math.round(Number(match[1]) * (match[2] === "s" ? 1_000 : 1))
  if (ms > maxAtMs) throw new FaultSpecInvalid(`"${part}": ${what} "${text}" is more than a day`)
  return ms
}

const positive = (part: string, what: string, text: string): number => {
  const ms = time(part, what, text)
  if (ms === 0) throw new FaultSpecInvalid(`"${part}": ${what} "${text}" must be more than 0`)
  return ms
}

const parsePart = (part: string): Fault => {
  const match = partPattern.exec(part)
  if (match === null)
    throw new FaultSpecInvalid(`"${part}": expected KIND@AT, e.g. storm@10s+5s or restart@30s`)
  const [, kind, at, length, value] = match
  const atMs = time(part, "start", at!)
  switch (kind) {
    case "storm":
      if (length === undefined)
        throw new FaultSpecInvalid(`"${part}": a storm needs a length, e.g. storm@10s+5s`)
      if (value !== undefined) throw new FaultSpecInvalid(`"${part}": a storm takes no ":${value}"`)
      return { kind, atMs, forMs: positive(part, "length", length) }
    case "latency": {
      if (length === undefined || value === undefined)
        throw new FaultSpecInvalid(`"${part}": latency needs a length and a delay, e.g. latency@20s+5s:800ms`)
      const latencyMs = positive(part, "delay", value)
      if (latencyMs > maxLatencyMs) throw new FaultSpecInvalid(`"${part}": delay "${value}" is more than 60s`)
      return { kind, atMs, forMs: positive(part, "length", length), latencyMs }
    }
    case "restart":
      if (length !== undefined || value !== undefined)
        throw new FaultSpecInvalid(`"${part}": a restart takes only a time, e.g. restart@30s`)
      return { kind, atMs }
    case "redis-down":
      if (length === undefined)
        throw new FaultSpecInvalid(`"${part}": redis-down needs a length, e.g. redis-down@10s+5s`)
      if (value !== undefined) throw new FaultSpecInvalid(`"${part}": redis-down takes no ":${value}"`)
      return { kind, atMs, forMs: positive(part, "length", length) }
    default:
      throw new FaultSpecInvalid(
        `"${part}": unknown fault "${kind}" (expected storm, latency, restart or redis-down)`
      )
  }
}

/** The end of a fault's window (its start, for a restart). */
export const endMs = (fault: Fault): number => fault.atMs + (fault.kind === "restart" ? 0 : fault.forMs)

const seconds = (ms: number) => (ms % 1_000 === 0 ? `${ms / 1_000}s` : `${ms}ms`)

/** The fault as it is written in a spec: `storm@10s+5s`. */
export const format = (fault: Fault): string => {
  switch (fault.kind) {
    case "storm":
      return `storm@${seconds(fault.atMs)}+${seconds(fault.forMs)}`
    case "latency":
      return `latency@${seconds(fault.atMs)}+${seconds(fault.forMs)}:${seconds(fault.latencyMs)}`
    case "restart":
      return `restart@${seconds(fault.atMs)}`
    case "redis-down":
      return `redis-down@${seconds(fault.atMs)}+${seconds(fault.forMs)}`
  }
}

/**
 * The faults of `spec`, by start time; throws `FaultSpecInvalid` naming the first bad part.
 * @example parse("storm@10s+5s,restart@30s") // [{ kind: "storm", atMs: 10000, forMs: 5000 }, { kind: "restart", atMs: 30000 }]
 */
export const parse = (spec: string): ReadonlyArray<Fault> => {
  const parts = spec.split(",").map((p) => p.trim())
  if (parts.some((p) => p.length === 0))
    throw new FaultSpecInvalid(`"${spec}": an empty fault (a stray comma?)`)
  if (parts.length > maxFaults) throw new FaultSpecInvalid(`${parts.length} faults: at most ${maxFaults}`)
  const faults = parts.map(parsePart).sort((a, b) => a.atMs - b.atMs)
  for (const [i, fault] of faults.entries()) {
    const overlapped = faults
      .slice(0, i)
      .find(
        (earlier) => earlier.kind === fault.kind && fault.kind !== "restart" && endMs(earlier) > fault.atMs
      )
    if (overlapped !== undefined)
      throw new FaultSpecInvalid(
        `"${format(fault)}" overlaps "${format(overlapped)}": one window of a kind at a time`
      )
  }
  return faults
}

/** Why `faults` cannot be played in a run of `durationSeconds`, or undefined when they can. */
export const outsideRun = (faults: ReadonlyArray<Fault>, durationSeconds: number): string | undefined => {
  const late = faults.find((f) => endMs(f) > durationSeconds * 1_000 || f.atMs >= durationSeconds * 1_000)
  return late === undefined
    ? undefined
    : `--faults "${format(late)}" does not fit in the run's ${durationSeconds}s (--duration): every fault must start and end within it`
}

/** How long a `redis-down` window's end waits for carts to answer again, at most. */
export const recoveryWatchMs = 30_000

/** One `redis-down` window as the run measured it. */
export interface Outage {
  readonly spec: string
  /** Connections the proxy reset when Redis went down (null: in-memory carts, no proxy). */
  readonly connectionsDropped: number | null
  /** Connections (the client's reconnection attempts) the proxy refused while down. */
  readonly connectionsRefused: number | null
  /** After the window, until the Redis client was ready (null: in-memory carts, or not in `recoveryWatchMs`). */
  readonly clientReadyAfterMs: number | null
  /** After the window, how long until a cart read through the API answered 200 again. */
  readonly cartsAnswerAfterMs: number | null
}

/** What the faults act on: the world (gateway, process), its Redis, a cart read through the API. */
export interface Targets {
  readonly world: World.World
  readonly redis: Redis.Redis
  /** Reads a cart made before the run through the API: true when it answers 200. */
  readonly cartAnswers: Effect.Effect<boolean>
}

const pollEveryMs = 20

/** Ms from `sinceMs` until `check` holds, polled; null when it has not within `recoveryWatchMs` of `sinceMs`. */
const timeUntil = (check: Effect.Effect<boolean>, sinceMs: number): Effect.Effect<number | null> =>
  Effect.map(
    Effect.repeat(check, {
      until: (ok) => ok || Date.now() - sinceMs >= recoveryWatchMs,
      schedule: Schedule.spaced(pollEveryMs)
    }),
    (ok) => (ok ? Date.now() - sinceMs : null)
  )

/**
 * A `redis-down` window: down at its start, up at its end, then watched until the client is
 * connected and a cart read answers through the API (the carts' breaker may hold calls back a
 * little longer than the connection: Policy.ts, `store`).
 */
const redisDown = (
  fault: Extract<Fault, { kind: "redis-down" }>,
  { redis, cartAnswers }: Targets,
  at: (ms: number) => Effect.Effect<void>,
  note: (text: string) => Effect.Effect<void>
): Effect.Effect<Outage> =>
  Effect.gen(function* () {
    const spec = format(fault)
    yield* at(fault.atMs)
    const before = redis.counts()
    const what = yield* redis.down
    yield* note(`${spec}: Redis is down for ${seconds(fault.forMs)}: ${what}`)
    yield* at(endMs(fault))
    yield* redis.up
    const backAtMs = Date.now()
    const after = redis.counts()
    const refused = before === null || after === null ? null : after.refused - before.refused
    yield* note(
      `${spec}: Redis is back${refused === null ? "" : ` (${refused} connection attempts refused while down)`}`
    )
    const clientReadyAfterMs = redis.store === "redis" ? yield* timeUntil(redis.ready, backAtMs) : null
    const cartsAnswerAfterMs = yield* timeUntil(cartAnswers, backAtMs)
    yield* note(
      cartsAnswerAfterMs === null
        ? `${spec}: no cart read answered within ${seconds(recoveryWatchMs)} after the window`
        : `${spec}: carts answer again through the API ${cartsAnswerAfterMs} ms after the window` +
            (clientReadyAfterMs !== null
              ? ` (the Redis client reconnected after ${clientReadyAfterMs} ms)`
              : "")
    )
    return {
      spec,
      connectionsDropped: before === null || after === null ? null : after.dropped - before.dropped,
      connectionsRefused: refused,
      clientReadyAfterMs,
      cartsAnswerAfterMs
    }
  })

/**
 * Plays `faults` on `targets`, `t0Ms` (epoch ms) being the run's start; `note` tells what happens
 * when. The `redis-down` windows' measures, in schedule order.
 */
export const play = (
  faults: ReadonlyArray<Fault>,
  targets: Targets,
  t0Ms: number,
  note: (text: string) => Effect.Effect<void>
): Effect.Effect<ReadonlyArray<Outage>> => {
  const { world } = targets
  const gateway = (f: (control: FakePaymentGateway.Control["Service"]) => Effect.Effect<void>) =>
    world.inspect(Effect.flatMap(FakePaymentGateway.Control, f))
  const at = (ms: number) => Effect.suspend(() => Effect.sleep(Math.max(0, t0Ms + ms - Date.now())))
  const one = (fault: Fault): Effect.Effect<Outage | undefined> => {
    switch (fault.kind) {
      case "storm":
        // Set ahead, on the gateway's own clock: the window opens and closes on time to the ms.
        return Effect.as(
          Effect.andThen(
            gateway((g) => g.unavailableBetween(t0Ms + fault.atMs, t0Ms + endMs(fault))),
            Effect.andThen(
              at(fault.atMs),
              note(`${format(fault)}: the gateway answers 503 for ${seconds(fault.forMs)}`)
            )
          ),
          undefined
        )
      case "latency":
        return Effect.gen(function* () {
          yield* at(fault.atMs)
          yield* gateway((g) => g.setFaults({ latencyMs: fault.latencyMs }))
          yield* note(`${format(fault)}: every gateway call takes ${seconds(fault.latencyMs)} longer`)
          yield* at(endMs(fault))
          yield* gateway((g) => g.setFaults({ latencyMs: 0 }))
          return undefined
        })
      case "restart":
        return Effect.gen(function* () {
          yield* at(fault.atMs)
          yield* world.crash
          yield* world.restart()
          yield* note(`${format(fault)}: the process was killed and started again on the same stores`)
          return undefined
        })
      case "redis-down":
        return redisDown(fault, targets, at, note)
    }
  }
  return Effect.map(Effect.forEach(faults, one, { concurrency: "unbounded" }), (measured) =>
    measured.filter((m): m is Outage => m !== undefined)
  )
}
