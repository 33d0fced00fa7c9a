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
 * Invariant: an entry leaves the queue only as "done" or after its letter is in the dead-letter
 * store (put first, remove second: a crash in between leaves a duplicate letter, never a lost one).
 */
import { Cause, Clock, Effect, Metric, Schedule, Schema } from "effect"
import { IntBetween } from "./internal/intBetween.js"
import { DeadLetterStore } from "./DeadLetterStore.js"
import type { StoreUnavailable } from "./Errors.js"
import { MAX_ERROR_LENGTH, PaymentRetryQueue, type RetryEntry } from "./PaymentRetryQueue.js"

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
  pollIntervalMs: IntBetween(1, 3_600_000)
})
export type Settings = typeof Settings.Type

/**
 * 1 s doubling to a 5 min cap, 10 retries (about 17 minutes in all, inside a checkout's stock
 * hold), 100 entries per poll, 4 at a time, polled every second.
 */
export const defaults: Settings = {
  baseDelayMs: 1_000,
  maxDelayMs: 300_000,
  maxAttempts: 10,
  batchSize: 100,
  concurrency: 4,
  pollIntervalMs: 1_000
}

/** The outcome `process` reports for an order. */
export type Outcome = "done" | "retry"

export interface Report {
  readonly done: number
  readonly retried: number
  readonly deadLettered: number
  /** Due entries left untouched because the breaker refused the call. */
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
  const queue = yield* PaymentRetryQueue
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
 * Takes one batch of due entries through `process`.
 * @example yield* RetryDrainer.drainOnce((orderId) => checkout.resumePayment(orderId))
 */
export const drainOnce = Effect.fn("RetryDrainer.drainOnce")(function* <E, R>(
  process: (orderId: string) => Effect.Effect<Outcome, E, R>,
  settings: Settings = defaults
): Effect.fn.Return<Report, StoreUnavailable, PaymentRetryQueue | DeadLetterStore | R> {
  const queue = yield* PaymentRetryQueue
  const nowMs = yield* Clock.currentTimeMillis
  const batch = yield* queue.due(nowMs, settings.batchSize)
  const reportDepth = Effect.flatMap(queue.size, (size) => Metric.update(queueDepth, size))
  if (batch.length === 0) {
    // The common case (a drainer polls every second): nothing due, nothing else to do.
    yield* reportDepth
    return { done: 0, retried: 0, deadLettered: 0, deferred: 0 }
  }
  const letters = yield* DeadLetterStore
  let breakerOpen = false

  const failed = (entry: RetryEntry, lastError: string) =>
    Effect.gen(function* () {
      const attempt = entry.attempt + 1
      const atMs = yield* Clock.currentTimeMillis
      if (attempt >= settings.maxAttempts) {
        yield* letters.put({ orderId: entry.orderId, attempts: attempt, lastError, failedAt: atMs })
        yield* queue.remove(entry.orderId)
        yield* Metric.update(deadLetters, 1)
        return "deadLettered" as const
      }
      yield* queue.reschedule({
        orderId: entry.orderId,
        attempt,
        nextAttemptAt: atMs + delayMs(settings, attempt + 1),
        lastError
      })
      return "retried" as const
    })

  const step = (entry: RetryEntry): Effect.Effect<Step, StoreUnavailable, R> =>
    Effect.suspend(() => {
      if (breakerOpen) return Effect.succeed("deferred" as const)
      return Effect.flatMap(
        Effect.exit(process(entry.orderId)),
        (exit): Effect.Effect<Step, StoreUnavailable> => {
          if (exit._tag === "Success") {
            return exit.value === "done"
              ? Effect.as(queue.remove(entry.orderId), "done" as const)
              : failed(entry, "retry requested")
          }
          // Stopping the drainer is not a failure of the order.
          if (Cause.hasInterruptsOnly(exit.cause)) return Effect.failCause(exit.cause as Cause.Cause<never>)
          const error = Cause.findErrorOption(exit.cause)
          if (error._tag === "Some" && isCallNotPermitted(error.value)) {
            breakerOpen = true
            return Effect.succeed("deferred" as const)
          }
          return failed(
            entry,
            error._tag === "Some" ? describe(error.value) : truncate(Cause.pretty(exit.cause))
          )
        }
      )
    })

  const steps = yield* Effect.forEach(batch, step, { concurrency: settings.concurrency })
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
): Effect.Effect<never, never, PaymentRetryQueue | DeadLetterStore | R> =>
  drainOnce(process, settings).pipe(
    Effect.catch((error) => Effect.logWarning("payment retry queue unavailable", error)),
    Effect.repeat(Schedule.spaced(settings.pollIntervalMs)),
    Effect.andThen(Effect.never)
  )
