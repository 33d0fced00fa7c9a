/**
 * Resilience policies as data (DESIGN.md §4): per operation a timeout per attempt, a number of
 * retries with their backoff delays, and the settings of the operation's circuit breaker.
 *
 * | policy        | timeout | retries | backoff             | breaker                                  |
 * |---------------|---------|---------|---------------------|------------------------------------------|
 * | payment       | 10 s    | 2       | 1 s, 3 s            | last 100 calls, 50 %, 60 s open          |
 * | inventory     | 2 s     | 3       | 100 ms, 500 ms, 1 s | last 50 calls, 30 %, 30 s open           |
 * | orderCreation | 5 s     | 2       | 1 s, 2 s            | last 50 calls, 50 %, 30 s open           |
 * | shipping      | 3 s     | 2       | 500 ms, 1 s         | calls of the last 60 s, 50 %, 30 s open  |
 * | store         | 2 s     | 2       | 100 ms, 500 ms      | last 50 calls, 50 %, 30 s open           |
 *
 * The seed fixes the first three columns and the payment and inventory breakers; the rest are
 * Till's choices, with their reasons:
 * - `minimumNumberOfCalls` is 20 for payment and 10 elsewhere (Resilience4j's default of 100 would
 *   let a quiet shop take a whole outage without ever opening the breaker).
 * - for the external services (payment, shipping) a call is slow past half its timeout, and 80 %
 *   slow calls open the breaker: a dependency that is answering, but only just, gets relief
 *   before every call times out.
 * - Till's own stores (inventory, order creation, `store`) are judged on failures and timeouts
 *   only: a call is slow only at its timeout (`slowCallDurationThresholdMs` = `timeoutMs`, rate
 *   100 %), so slowness alone never opens them. Their calls' time is mostly Till's own queueing
 *   (the pool's waiters, an event loop under load), so "slow" there measures Till's load, not the
 *   store's health, and opening turned overload into an outage: 480 shoppers with the seed's 1 s
 *   gateway on the real services opened `store.idempotency` after 420 checkouts and answered 503
 *   to every checkout for the next 35 s; judged on failures, the same run confirmed all 2,703
 *   with no error (measured with `bench/e2e`'s servers; test/Policy.test.ts holds the rule). A
 *   store that really hangs still times out, and the timeouts open the breaker.
 * - order creation is Till's own database: its breaker waits 30 s like inventory, and fails at 50 %
 *   (a conflict-heavy burst should not take checkout down).
 * - shipping quotes are few per second at most, so a count window would judge the carrier on
 *   calls minutes old; a 60-second time window judges it on the last minute.
 * - `store` guards every call to Till's own stores that is not an order insert (carts, idempotency
 *   keys, rate limits, the retry queue, order reads and steps): every external call has a timeout.
 *   2 s like inventory (a healthy Postgres or Redis answers in milliseconds), a breaker like order
 *   creation's. Its retries apply only to calls that are safe to repeat: the table of which store
 *   call is retried, and why, is in `internal/storeCall.ts`.
 * - half-open lets 10 payment probes through (Resilience4j's default), 5 for our own stores, 3
 *   for the carrier.
 *
 * Every value is overridable through Effect `Config` (see `config`), and decoded with `Policies`,
 * so a bad override fails at startup, never at the first call.
 */
import { Config, Duration, Effect, Schedule, Schema } from "effect"
import { decodeConfig } from "./internal/decodeConfig.js"
import { IntBetween } from "./internal/intBetween.js"
import * as CircuitBreaker from "./CircuitBreaker.js"

/** The five guarded operations. These exact names are what `Resilience.withPolicy` accepts. */
export const PolicyName = Schema.Literals(["payment", "inventory", "orderCreation", "shipping", "store"])
export type PolicyName = typeof PolicyName.Type
export const names: ReadonlyArray<PolicyName> = PolicyName.literals

export const MAX_RETRIES = 10
export const MAX_TIMEOUT_MS = 300_000
export const MAX_BACKOFF_MS = 300_000

export const Policy = Schema.Struct({
  /** Each attempt's own deadline; a late attempt fails with `OperationTimedOut`. */
  timeoutMs: IntBetween(1, MAX_TIMEOUT_MS),
  /** Retries after the first attempt, for transient errors only. */
  retries: IntBetween(0, MAX_RETRIES),
  /** The delay before retry i is `backoffMs[i - 1]`; past the end of the list the last delay repeats. */
  backoffMs: Schema.Array(IntBetween(0, MAX_BACKOFF_MS)).check(Schema.isMaxLength(MAX_RETRIES)),
  breaker: CircuitBreaker.Settings
}).check(
  Schema.makeFilter((policy) =>
    policy.retries > 0 && policy.backoffMs.length === 0
      ? "a policy with retries needs at least one backoff delay"
      : undefined
  )
)
export type Policy = typeof Policy.Type

export const Policies = Schema.Struct({
  payment: Policy,
  inventory: Policy,
  orderCreation: Policy,
  shipping: Policy,
  store: Policy
})
export type Policies = typeof Policies.Type

/** The seed's table, with Till's breaker choices (see the module comment). */
export const defaults: Policies = {
  payment: {
    timeoutMs: 10_000,
    retries: 2,
    backoffMs: [1_000, 3_000],
    breaker: {
      slidingWindowType: "countBased",
      slidingWindowSize: 100,
      minimumNumberOfCalls: 20,
      failureRateThreshold: 50,
      slowCallRateThreshold: 80,
      slowCallDurationThresholdMs: 5_000,
      waitDurationInOpenStateMs: 60_000,
      permittedNumberOfCallsInHalfOpenState: 10
    }
  },
  inventory: {
    timeoutMs: 2_000,
    retries: 3,
    backoffMs: [100, 500, 1_000],
    breaker: {
      slidingWindowType: "countBased",
      slidingWindowSize: 50,
      minimumNumberOfCalls: 10,
      failureRateThreshold: 30,
      slowCallRateThreshold: 100,
      slowCallDurationThresholdMs: 2_000,
      waitDurationInOpenStateMs: 30_000,
      permittedNumberOfCallsInHalfOpenState: 5
    }
  },
  orderCreation: {
    timeoutMs: 5_000,
    retries: 2,
    backoffMs: [1_000, 2_000],
    breaker: {
      slidingWindowType: "countBased",
      slidingWindowSize: 50,
      minimumNumberOfCalls: 10,
      failureRateThreshold: 50,
      slowCallRateThreshold: 100,
      slowCallDurationThresholdMs: 5_000,
      waitDurationInOpenStateMs: 30_000,
      permittedNumberOfCallsInHalfOpenState: 5
    }
  },
  shipping: {
    timeoutMs: 3_000,
    retries: 2,
    backoffMs: [500, 1_000],
    breaker: {
      slidingWindowType: "timeBased",
      slidingWindowSize: 60,
      minimumNumberOfCalls: 10,
      failureRateThreshold: 50,
      slowCallRateThreshold: 80,
      slowCallDurationThresholdMs: 1_500,
      waitDurationInOpenStateMs: 30_000,
      permittedNumberOfCallsInHalfOpenState: 3
    }
  },
  store: {
    timeoutMs: 2_000,
    retries: 2,
    backoffMs: [100, 500],
    breaker: {
      slidingWindowType: "countBased",
      slidingWindowSize: 50,
      minimumNumberOfCalls: 10,
      failureRateThreshold: 50,
      slowCallRateThreshold: 100,
      slowCallDurationThresholdMs: 2_000,
      waitDurationInOpenStateMs: 30_000,
      permittedNumberOfCallsInHalfOpenState: 5
    }
  }
}

/** The delay before each retry, one per retry. */
export const delaysMs = (policy: Policy): ReadonlyArray<number> =>
  Array.from(
    { length: policy.retries },
    (_, i) => policy.backoffMs[Math.min(i, policy.backoffMs.length - 1)]!
  )

/**
 * The longest one guarded call can take: every attempt runs to its timeout and every backoff is
 * waited. With the defaults: payment 3 x 10 s + 4 s = 34 s, inventory 4 x 2 s + 1.6 s = 9.6 s,
 * order creation 3 x 5 s + 3 s = 18 s, shipping 3 x 3 s + 1.5 s = 10.5 s, a retried store call
 * 3 x 2 s + 0.6 s = 6.6 s (one not retried: 2 s). Leases that must outlast
 * a piece of work (idempotency keys, retry-queue claims) are sized from it.
 */
export const worstCaseMs = (policy: Policy): number =>
  policy.timeoutMs * (policy.retries + 1) + delaysMs(policy).reduce((sum, ms) => sum + ms, 0)

/** The retry schedule of a policy: one recurrence per retry, after its delay (none without retries). */
export const schedule = (policy: Policy): Schedule.Schedule<Duration.Duration> => {
  const [first, ...rest] = delaysMs(policy).map((ms) => Schedule.duration(Duration.millis(ms)))
  if (first === undefined) return Schedule.recurs(0).pipe(Schedule.map(() => Duration.zero))
  return rest.reduce((sequence, next) => Schedule.concat(sequence, next), first)
}

/** A `Config` reading each leaf of `value` under its key, defaulting to `value` itself. */
const overridable = (value: unknown, key: string): Config.Config<unknown> => {
  if (typeof value === "number") return Config.withDefault(Config.Number(key), value)
  if (typeof value === "string") return Config.withDefault(Config.String(key), value)
  if (Array.isArray(value)) return Config.withDefault(Config.Array(Schema.Number, key), value)
  const fields: Record<string, Config.Config<unknown>> = {}
  for (const [field, fieldValue] of Object.entries(value as object))
    fields[field] = overridable(fieldValue, field)
  return Config.nested(Config.all(fields), key)
}

/**
 * The policies from `Config`, every leaf defaulting to `base` (the seed's table), then decoded.
 * Keys are `resilience.<policy>.<field>` and `resilience.<policy>.breaker.<setting>`; with
 * `ConfigProvider.fromEnv().pipe(ConfigProvider.constantCase)` that is
 * `RESILIENCE_PAYMENT_TIMEOUT_MS=8000`, `RESILIENCE_PAYMENT_BACKOFF_MS=1000,3000`,
 * `RESILIENCE_SHIPPING_BREAKER_WAIT_DURATION_IN_OPEN_STATE_MS=10000`.
 */
export const config = (base: Policies = defaults): Config.Config<Policies> =>
  Config.mapEffect(overridable(base, "resilience"), decodeConfig(Policies, "resilience"))

/** Decodes policies given as plain data (a defect when invalid: use it for constants in code). */
export const decode = (input: unknown): Effect.Effect<Policies> =>
  Effect.orDie(Schema.decodeUnknownEffect(Policies)(input))
