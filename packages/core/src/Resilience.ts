/**
 * The resilience service: one circuit breaker per policy and `withPolicy`, the single combinator
 * every guarded call goes through.
 *
 *   withPolicy(name, call) = fallback( retry( breaker( timeout(call) ) ) )
 *
 * - **timeout** per attempt: a late attempt is interrupted and fails with `OperationTimedOut`.
 *   It sits inside the breaker so that timeouts count as failures and a slow call is never
 *   measured longer than the timeout. Same semantics as `Effect.timeout`, at less than half its
 *   cost per call (internal/ResilienceTimeout.ts says why, with the numbers).
 * - **breaker** per attempt: every attempt, retries included, is one call in its window, which is
 *   how Resilience4j composes `Retry(CircuitBreaker(call))`.
 * - **retry** (`Effect.retry` with the policy's `Schedule`, started at the first failure): transient errors only (`isTransient`:
 *   5xx, network, store failures, timeouts). Never a decline, never a 4xx, and never
 *   `CallNotPermitted`: failing fast while the breaker is open is the breaker's whole point.
 * - **fallback**, optional and supplied by the caller because it needs domain data (payment ->
 *   queue the order, shipping -> default cost). It receives the final "unavailable" error
 *   (`CallNotPermitted`, `OperationTimedOut` or the last transient error); any other error passes
 *   through untouched. Without a fallback that final error surfaces as is (inventory -> reject
 *   the checkout).
 *
 * - **once** (`withPolicyOnce`): timeout and breaker without the retry, for a call that is not safe
 *   to repeat (it counts, or claims): a lost answer must surface, never be sent again.
 *
 * No span is opened here: callers name their spans (`Payments.charge`), and a span per guarded
 * call would cost more than the rest of the stack together (bench/resilience.bench.ts).
 */
import { Context, Effect, Layer, Stream } from "effect"
import type { Config } from "effect"
import * as CircuitBreaker from "./CircuitBreaker.js"
import {
  type CallNotPermitted,
  type GatewayUnavailable,
  isTransient,
  OperationTimedOut,
  type StoreUnavailable
} from "./Errors.js"
import * as ResilienceTimeout from "./internal/ResilienceTimeout.js"
import * as Policy from "./Policy.js"

/**
 * Till's own stores, each with a breaker of its own under the `store` policy (`store.cart`,
 * `store.order`, ...): they live in different services (carts and rate limits in Redis, the rest
 * in Postgres), so one failing must not stop the others. With one breaker for all, a Redis outage
 * opened it for the orders too, and order reads answered 503 for 30 s after Redis was back.
 */
export const storeNames = [
  "cart",
  "rateLimit",
  "order",
  "idempotency",
  "paymentRetryQueue",
  "deadLetter",
  "outbox"
] as const
export type StoreName = (typeof storeNames)[number]

/** The errors `isTransient` recognises: retried, counted by breakers, handed to fallbacks. */
export type Transient = GatewayUnavailable | StoreUnavailable | OperationTimedOut

/** What a fallback receives: the reason the operation is unavailable. */
export type FallbackCause<E> = CallNotPermitted | OperationTimedOut | Extract<E, Transient>

export interface PolicyOptions<E, B, E2, R2> {
  /** Answers instead when the operation is unavailable; other errors never reach it. */
  readonly fallback: (cause: FallbackCause<E>) => Effect.Effect<B, E2, R2>
}

export interface WithPolicy {
  /** Guards `effect` with the named policy; the final unavailability surfaces as an error. */
  <A, E, R>(
    name: Policy.PolicyName,
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | CallNotPermitted | OperationTimedOut, R>
  /**
   * Guards `effect` with the named policy and answers with `fallback` when it stays unavailable.
   * @example resilience.withPolicy("shipping", quoter.quote(request), { fallback: () => Effect.succeed(defaultCost) })
   */
  <A, E, R, B, E2, R2>(
    name: Policy.PolicyName,
    effect: Effect.Effect<A, E, R>,
    options: PolicyOptions<E, B, E2, R2>
  ): Effect.Effect<A | B, Exclude<E, Transient> | E2, R | R2>
}

export class Resilience extends Context.Service<
  Resilience,
  {
    readonly policies: Policy.Policies
    readonly withPolicy: WithPolicy
    /**
     * One attempt under the named policy's timeout and breaker, never retried: for a call that is
     * not idempotent (a rate-limit acquire counts, a claim claims), whose lost answer must not be
     * sent again.
     * @example resilience.withPolicyOnce("store", limits.acquire(request))
     */
    readonly withPolicyOnce: <A, E, R>(
      name: Policy.PolicyName,
      effect: Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E | CallNotPermitted | OperationTimedOut, R>
    /**
     * A call to one of Till's stores under the `store` policy (timeout, retries) and that store's
     * own breaker; `withStorePolicyOnce` without the retry.
     */
    readonly withStorePolicy: <A, E, R>(
      store: StoreName,
      effect: Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E | CallNotPermitted | OperationTimedOut, R>
    readonly withStorePolicyOnce: <A, E, R>(
      store: StoreName,
      effect: Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E | CallNotPermitted | OperationTimedOut, R>
    /** The breaker of a policy, for its state, metrics and transitions. */
    readonly breaker: (name: Policy.PolicyName) => CircuitBreaker.Service
    /** The breaker of one of Till's stores (named `store.<store>`). */
    readonly storeBreaker: (store: StoreName) => CircuitBreaker.Service
    /** The transitions of every breaker (the policies' and the stores') from the moment the stream runs (`breaker(name).subscribe` to miss none). */
    readonly transitions: Stream.Stream<CircuitBreaker.Transition>
  }
>()("@till/core/Resilience") {}

export interface Options {
  /** Which errors count as failures for the breakers. Default: `isTransient`. */
  readonly isFailure?: ((error: unknown) => boolean) | undefined
}

const isUnavailable = (error: unknown): boolean =>
  isTransient(error) ||
  (typeof error === "object" && error !== null && "_tag" in error && error._tag === "CallNotPermitted")

/** One policy's stack, built once so a call allocates only what it must. */
const makeGuard = (
  name: Policy.PolicyName,
  policy: Policy.Policy,
  breaker: CircuitBreaker.Service,
  timeout: ResilienceTimeout.Timeout
) => {
  const timeoutMs = policy.timeoutMs
  const onTimeout = () => new OperationTimedOut({ operation: name, timeoutMs })
  const [firstDelayMs, ...laterDelaysMs] = Policy.delaysMs(policy)
  const later = Policy.schedule({ ...policy, retries: laterDelaysMs.length, backoffMs: laterDelaysMs })
  const once = <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | CallNotPermitted | OperationTimedOut, R> =>
    breaker.execute(timeout.within(effect, onTimeout))
  const retrying = <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | CallNotPermitted | OperationTimedOut, R> => {
    const attempt = once(effect)
    if (firstDelayMs === undefined) return attempt
    // `Effect.retry` builds its schedule driver before the first attempt (about 4.5 µs on Effect 4:
    // the payment stack measured 6.0 µs per successful call with it, 1.4 µs this way). The success
    // path only needs a failure handler, so the schedule starts at the first failure.
    return Effect.catchIf(attempt, isTransient, () =>
      Effect.delay(
        laterDelaysMs.length === 0 ? attempt : Effect.retry(attempt, { schedule: later, while: isTransient }),
        firstDelayMs
      )
    )
  }
  return { retrying, once }
}

/**
 * Makes the service from decoded policies (the seed's table by default); the timeout watchdogs
 * (one fiber per policy) live as long as the scope.
 * @example const resilience = yield* Resilience.make(Policy.defaults)
 */
export const make = Effect.fn("Resilience.make")(function* (
  policies: Policy.Policies = Policy.defaults,
  options: Options = {}
) {
  const decoded = yield* Policy.decode(policies)
  const breakers = {} as Record<Policy.PolicyName, CircuitBreaker.Service>
  const guards = {} as Record<Policy.PolicyName, ReturnType<typeof makeGuard>>
  for (const name of Policy.names) {
    const breaker = yield* CircuitBreaker.make({
      ...decoded[name].breaker,
      name,
      isFailure: options.isFailure
    })
    breakers[name] = breaker
    guards[name] = makeGuard(
      name,
      decoded[name],
      breaker,
      yield* ResilienceTimeout.make(decoded[name].timeoutMs)
    )
  }

  // The stores' breakers share the `store` policy's settings and its timeout watchdog.
  const storeTimeout = yield* ResilienceTimeout.make(decoded.store.timeoutMs)
  const storeBreakers = {} as Record<StoreName, CircuitBreaker.Service>
  const storeGuards = {} as Record<StoreName, ReturnType<typeof makeGuard>>
  for (const store of storeNames) {
    const breaker = yield* CircuitBreaker.make({
      ...decoded.store.breaker,
      name: `store.${store}`,
      isFailure: options.isFailure
    })
    storeBreakers[store] = breaker
    storeGuards[store] = makeGuard("store", decoded.store, breaker, storeTimeout)
  }

  const withPolicy = (<A, E, R, B, E2, R2>(
    name: Policy.PolicyName,
    effect: Effect.Effect<A, E, R>,
    policyOptions?: PolicyOptions<E, B, E2, R2>
  ) => {
    const guarded = guards[name].retrying(effect)
    if (policyOptions === undefined) return guarded
    return Effect.catchIf(guarded, isUnavailable, (cause) =>
      policyOptions.fallback(cause as FallbackCause<E>)
    )
  }) as WithPolicy

  return Resilience.of({
    policies: decoded,
    withPolicy,
    withPolicyOnce: (name, effect) => guards[name].once(effect),
    withStorePolicy: (store, effect) => storeGuards[store].retrying(effect),
    withStorePolicyOnce: (store, effect) => storeGuards[store].once(effect),
    breaker: (name) => breakers[name],
    storeBreaker: (store) => storeBreakers[store],
    transitions: Stream.mergeAll(
      [
        ...Policy.names.map((name) => breakers[name].transitions),
        ...storeNames.map((store) => storeBreakers[store].transitions)
      ],
      { concurrency: "unbounded" }
    )
  })
})

/**
 * The seed's policies.
 * @category layers
 */
export const layer: Layer.Layer<Resilience> = Layer.effect(Resilience, make())

/**
 * Policies given in code, each named policy defaulting to `Policy.defaults`; an invalid policy is
 * a defect when the layer is built.
 * @example Resilience.layerWith({ payment: { ...Policy.defaults.payment, timeoutMs: 8_000 } })
 * @category layers
 */
export const layerWith = (
  policies: Partial<Policy.Policies>,
  options: Options = {}
): Layer.Layer<Resilience> => Layer.effect(Resilience, make({ ...Policy.defaults, ...policies }, options))

/**
 * Policies from `Config` (`Policy.config`), failing at startup on an invalid override.
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<Policy.Policies> = Policy.config()
): Layer.Layer<Resilience, Config.ConfigError> =>
  Layer.effect(
    Resilience,
    Effect.flatMap(config, (p) => make(p))
  )
