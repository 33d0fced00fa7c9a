/**
 * Works through the `PaymentRetryQueue`: each due entry is handed to `process` (the checkout's
 * "re-ask the gateway by idempotency key, then charge", which goes through the payment policy and
 * so through its breaker), and then
 *   - `"done"`                 -> removed;
 *   - `"retry"` or a failure   -> tried again after an exponential backoff, 1 s, 2 s, 4 s, 8 s ...
 *                                 capped at `maxDelayMs`, until `maxAttempts` retries have failed:
 *                                 then moved to the `DeadLetterStore` with the last error;
 *   - `CallNotPermitted`       -> the breaker is open: the batch stops there, and the entry stays
 *                                 due without using up an attempt. Burning retries against an open
 *                                 breaker would dead-letter a whole outage's worth of orders
 *                                 without the gateway ever being asked.
 *
 * Generic over what it retries: it only knows order ids and a `process` function.
 *
 * Claims: every instance may run a drainer. A drain claims entries `concurrency` at a time
 * (`claimDue` with `claimLeaseMs`), runs that round together, and claims the next round, up to
 * `batchSize` entries; it removes, reschedules or dead-letters each entry with its claim token, so
 * an entry re-queued meanwhile (a late charge's refund) is not removed and is processed again.
 * Claiming a round at a time, not the whole batch, keeps each claim's lease to one entry's work
 * (see `defaults`), so a drainer that crashed holds at most `concurrency` entries, for one lease.
 * A deferred entry is handed back (rescheduled unchanged) so the next poll can take it.
 *
 * Invariant: an entry leaves the queue only as "done" or after its letter is in the dead-letter
 * store (put first, remove second: a crash in between leaves a duplicate letter, never a lost one;
 * so does a remove found stale because the order was queued again meanwhile).
 */
import { Cause, Clock, Effect, Metric, Schedule, Schema } from "effect"
import { IntBetween } from "./internal/intBetween.js"
import { storeCall } from "./internal/storeCall.js"
import * as Policy from "./Policy.js"
import { type DeadLetter, DeadLetterStore } from "./DeadLetterStore.js"
import type { StoreUnavailable } from "./Errors.js"
import { Resilience } from "./Resilience.js"
import {
  type ClaimedEntry,
  MAX_ERROR_LENGTH,
  PaymentRetryQueue,
  type RetryEntry
} from "./PaymentRetryQueue.js"

export const Settings = Schema.Struct({
  /** Delay before the first retry; each later one doubles. */
  baseDelayMs: IntBetween(1, 3_600_000),
  /** Cap of the doubling. */
  maxDelayMs: IntBetween(1, 86_400_000),
  /** Retries before an entry is dead-lettered. */
  maxAttempts: IntBetween(1, 100),
  /** Entries taken per `drainOnce`. */
  batchSize: IntBetween(1, 1_000),
  /** Entries processed at the same time. */
  concurrency: IntBetween(1, 64),
  /** Pause between two `drainOnce` of `run`. */
  pollIntervalMs: IntBetween(1, 3_600_000),
  /** How long a drainer holds the entries it claimed before another drainer may take them. */
  claimLeaseMs: IntBetween(1, 3_600_000)
})
export type Settings = typeof Settings.Type

/**
 * The longest one entry's processing takes under the default policies: the checkout's `resume`
 * re-asks the gateway (retrieve), charges, and may refund a charge that landed after its order
 * died, each under the payment policy (3 x 34 s), and checks and commits the hold under the
 * inventory policy (2 x 9.6 s): 121.2 s.
 */
export const entryWorstCaseMs =
  3 * Policy.worstCaseMs(Policy.defaults.payment) + 2 * Policy.worstCaseMs(Policy.defaults.inventory)

/**
 * 1 s doubling to a 5 min cap, 10 retries (about 17 minutes in all, inside a checkout's stock
 * hold), 100 entries per poll, 4 at a time, polled every second.
 *
 * Claim lease 180 s: a round's entries run together, so each claim must outlast one entry's
 * worst case (`entryWorstCaseMs`, 121.2 s) and, should the gateway take a round's calls one after
 * another, `concurrency` payment worst cases (4 x 34 s = 136 s); 180 s covers both with 44 s
 * for the store calls (each bounded by the `store` policy). A lease that still runs out costs a second drainer redoing the
 * entry's idempotent steps, never a double charge; a longer one delays a crashed drainer's
 * entries by as much.
 */
export const defaults: Settings = {
  baseDelayMs: 1_000,
  maxDelayMs: 300_000,
  maxAttempts: 10,
  batchSize: 100,
  concurrency: 4,
  pollIntervalMs: 1_000,
  claimLeaseMs: 180_000
}

/**
 * The queue and the dead letters under the `store` policy: the fenced and no-op-when-queued calls
 * may be repeated, a claim and a letter are sent once (internal/storeCall.ts).
 */
const guardedStores = Effect.gen(function* () {
  const queue = yield* PaymentRetryQueue
  const resilience = yield* Resilience
  const call = storeCall(resilience, "paymentRetryQueue")
  return {
    queue: {
      enqueue: (entry) => call("retry", queue.enqueue(entry)),
      claimDue: (nowMs, limit, leaseMs) => call("once", queue.claimDue(nowMs, limit, leaseMs)),
      reschedule: (entry, token) => call("retry", queue.reschedule(entry, token)),
      remove: (orderId, token) => call("retry", queue.remove(orderId, token)),
      size: call("retry", queue.size)
    } satisfies PaymentRetryQueue["Service"],
    /** Read when first needed: a poll with nothing due never touches the dead letters. */
    letters: Effect.gen(function* () {
      const letters = yield* DeadLetterStore
      const put = (letter: DeadLetter) => storeCall(resilience, "deadLetter")("once", letters.put(letter))
      return { put }
    })
  }
})

/** The outcome `process` reports for an order. */
export type Outcome = "done" | "retry"

export interface Report {
  readonly done: number
  readonly retried: number
  readonly deadLettered: number
  /** Claimed entries handed back unchanged because the breaker refused the call (the drain stops there). */
  readonly deferred: number
}

/** Entries waiting in the retry queue (DESIGN.md §7 "retry-queue depth"). */
export const queueDepth = Metric.gauge("till_payment_retry_queue_depth", {
  description: "Payments waiting in the retry queue"
})
export const deadLetters = Metric.counter("till_payment_dead_letters_total", {
  description: "Payments moved to the dead-letter store",
  incremental: true
})

/** The delay before retry `attempt` (1-based): base, 2 base, 4 base ... capped. */
export const delayMs = (settings: Settings, attempt: number): number =>
  Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** Math.max(0, attempt - 1))

/**
 * Queues an order for its first retry, `baseDelayMs` from now (a no-op if it is queued already).
 * @example yield* RetryDrainer.enqueue(order.order_id)
 */
export const enqueue = Effect.fn("RetryDrainer.enqueue")(function* (
  orderId: string,
  options: { readonly lastError?: string | undefined; readonly settings?: Settings | undefined } = {}
) {
  const { queue } = yield* guardedStores
  const nowMs = yield* Clock.currentTimeMillis
  const settings = options.settings ?? defaults
  const entry: RetryEntry =
    options.lastError === undefined
      ? { orderId, attempt: 0, nextAttemptAt: nowMs + delayMs(settings, 1) }
      : {
          orderId,
          attempt: 0,
          nextAttemptAt: nowMs + delayMs(settings, 1),
          lastError: truncate(options.lastError)
        }
  return yield* queue.enqueue(entry)
})

const truncate = (text: string): string =>
  text.length <= MAX_ERROR_LENGTH ? text : `${text.slice(0, MAX_ERROR_LENGTH - 1)}…`

/** An operator-readable line for an error: its tag and message, bounded. */
export const describe = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const message =
      "message" in error && typeof error.message === "string" && error.message !== ""
        ? `: ${error.message}`
        : ""
    return truncate(`${String(error._tag)}${message}`)
  }
  return truncate(String(error))
}

const isCallNotPermitted = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "CallNotPermitted"

type Step = "done" | "retried" | "deadLettered" | "deferred"

/**
 * Takes up to `batchSize` due entries through `process`, claiming them `concurrency` at a time.
 * @example yield* RetryDrainer.drainOnce((orderId) => checkout.resumePayment(orderId))
 */
export const drainOnce = Effect.fn("RetryDrainer.drainOnce")(function* <E, R>(
  process: (orderId: string) => Effect.Effect<Outcome, E, R>,
  settings: Settings = defaults
): Effect.fn.Return<Report, StoreUnavailable, PaymentRetryQueue | DeadLetterStore | Resilience | R> {
  const stores = yield* guardedStores
  const queue = stores.queue
  const claimRound = (limit: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (nowMs) => queue.claimDue(nowMs, limit, settings.claimLeaseMs))
  const reportDepth = Effect.flatMap(queue.size, (size) => Metric.update(queueDepth, size))
  let round = yield* claimRound(Math.min(settings.concurrency, settings.batchSize))
  if (round.length === 0) {
    // The common case (a drainer polls every second): nothing due, nothing else to do.
    yield* reportDepth
    return { done: 0, retried: 0, deadLettered: 0, deferred: 0 }
  }
  const letters = yield* stores.letters
  let breakerOpen = false

  // A stale remove or reschedule (the order was queued again meanwhile) leaves the entry for the
  // next claim: the step still counts as what this drainer did.
  const failed = ({ entry, token }: ClaimedEntry, lastError: string) =>
    Effect.gen(function* () {
      const attempt = entry.attempt + 1
      const atMs = yield* Clock.currentTimeMillis
      if (attempt >= settings.maxAttempts) {
        yield* letters.put({ orderId: entry.orderId, attempts: attempt, lastError, failedAt: atMs })
        yield* queue.remove(entry.orderId, token)
        yield* Metric.update(deadLetters, 1)
        return "deadLettered" as const
      }
      yield* queue.reschedule(
        { orderId: entry.orderId, attempt, nextAttemptAt: atMs + delayMs(settings, attempt + 1), lastError },
        token
      )
      return "retried" as const
    })

  /** Hands the entry back unchanged: it stays due, for the next poll, with no attempt used. */
  const defer = ({ entry, token }: ClaimedEntry) =>
    Effect.as(queue.reschedule(entry, token), "deferred" as const)

  const step = (claimed: ClaimedEntry): Effect.Effect<Step, StoreUnavailable, R> =>
    Effect.suspend(() => {
      if (breakerOpen) return defer(claimed)
      return Effect.flatMap(
        Effect.exit(process(claimed.entry.orderId)),
        (exit): Effect.Effect<Step, StoreUnavailable> => {
          if (exit._tag === "Success") {
            return exit.value === "done"
              ? Effect.as(queue.remove(claimed.entry.orderId, claimed.token), "done" as const)
              : failed(claimed, "retry requested")
          }
          // Stopping the drainer is not a failure of the order (its claim runs out by itself).
          if (Cause.hasInterruptsOnly(exit.cause)) return Effect.failCause(exit.cause as Cause.Cause<never>)
          const error = Cause.findErrorOption(exit.cause)
          if (error._tag === "Some" && isCallNotPermitted(error.value)) {
            breakerOpen = true
            return defer(claimed)
          }
          return failed(
            claimed,
            error._tag === "Some" ? describe(error.value) : truncate(Cause.pretty(exit.cause))
          )
        }
      )
    })

  const steps: Array<Step> = []
  let taken = 0
  while (round.length > 0) {
    taken += round.length
    steps.push(...(yield* Effect.forEach(round, step, { concurrency: settings.concurrency })))
    const next = Math.min(settings.concurrency, settings.batchSize - taken)
    if (breakerOpen || next <= 0 || round.length < settings.concurrency) break
    round = yield* claimRound(next)
  }
  yield* reportDepth
  const count = (s: Step) => steps.filter((x) => x === s).length
  return {
    done: count("done"),
    retried: count("retried"),
    deadLettered: count("deadLettered"),
    deferred: count("deferred")
  }
})

/**
 * Drains forever: `drainOnce`, then `pollIntervalMs` of pause, again. A failing store is logged
 * and tried again at the next poll. Fork it in a scope (the runtime's job supervisor does).
 * @example yield* Effect.forkScoped(RetryDrainer.run(process))
 */
export const run = <E, R>(
  process: (orderId: string) => Effect.Effect<Outcome, E, R>,
  settings: Settings = defaults
): Effect.Effect<never, never, PaymentRetryQueue | DeadLetterStore | Resilience | R> =>
  drainOnce(process, settings).pipe(
    Effect.catch((error) => Effect.logWarning("payment retry queue unavailable", error)),
    Effect.repeat(Schedule.spaced(settings.pollIntervalMs)),
    Effect.andThen(Effect.never)
  )
