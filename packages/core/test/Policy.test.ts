import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, ConfigProvider, Context, Effect, Exit, Fiber, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import {
  GatewayUnavailable,
  OperationTimedOut,
  PaymentDeclined,
  PaymentMethodInvalid,
  StoreUnavailable
} from "../src/Errors.js"
import * as Policy from "../src/Policy.js"
import * as Resilience from "../src/Resilience.js"

const unavailable = new GatewayUnavailable({ reason: "503" })

const Attempt = Context.Reference<number>("test/Attempt", { defaultValue: () => 0 })

class Greeting extends Context.Service<Greeting, string>()("test/Greeting") {}

/** Runs `call` under the named policy, recording the TestClock time of every attempt. */
const attempts = <A, E>(
  name: Policy.PolicyName,
  call: Effect.Effect<A, E>,
  horizonMs: number,
  options?: Resilience.PolicyOptions<E, A, never, never>
) =>
  Effect.gen(function* () {
    const resilience = yield* Resilience.Resilience
    const startMs = yield* Clock.currentTimeMillis
    const timesMs: Array<number> = []
    const recorded = Effect.andThen(
      Effect.flatMap(Clock.currentTimeMillis, (ms) => Effect.sync(() => timesMs.push(ms - startMs))),
      call
    )
    const fiber = yield* Effect.forkChild(
      options === undefined
        ? resilience.withPolicy(name, recorded)
        : resilience.withPolicy(name, recorded, options)
    )
    // One adjust suffices: TestClock wakes each sleeper at its own time, in order.
    yield* TestClock.adjust(horizonMs)
    // Still running at the horizon: `exit` is undefined and the call is abandoned.
    const exit = fiber.pollUnsafe()
    if (exit === undefined) yield* Fiber.interrupt(fiber)
    return { timesMs, exit }
  })

const failure = (exit: Exit.Exit<unknown, unknown> | undefined) =>
  exit !== undefined && Exit.isFailure(exit)
    ? Option.getOrUndefined(Cause.findErrorOption(exit.cause))
    : undefined

// The seed's table: policy, retry delays, attempt times when every attempt fails at once, and
// when every attempt hangs (each then ends at its timeout).
const table = [
  { name: "payment", failing: [0, 1_000, 4_000], hanging: [0, 11_000, 24_000], endsAtMs: 34_000 },
  { name: "inventory", failing: [0, 100, 600, 1_600], hanging: [0, 2_100, 4_600, 7_600], endsAtMs: 9_600 },
  { name: "orderCreation", failing: [0, 1_000, 3_000], hanging: [0, 6_000, 13_000], endsAtMs: 18_000 },
  { name: "shipping", failing: [0, 500, 1_500], hanging: [0, 3_500, 7_500], endsAtMs: 10_500 },
  { name: "store", failing: [0, 100, 600], hanging: [0, 2_100, 4_600], endsAtMs: 6_600 }
] as const

describe("Policy", () => {
  it("holds the seed's table", () => {
    expect(Policy.delaysMs(Policy.defaults.payment)).toEqual([1_000, 3_000])
    expect(Policy.delaysMs(Policy.defaults.inventory)).toEqual([100, 500, 1_000])
    expect(Policy.delaysMs(Policy.defaults.orderCreation)).toEqual([1_000, 2_000])
    expect(Policy.delaysMs(Policy.defaults.shipping)).toEqual([500, 1_000])
    expect(Policy.defaults.payment.timeoutMs).toBe(10_000)
    expect(Policy.defaults.payment.breaker).toMatchObject({
      slidingWindowSize: 100,
      failureRateThreshold: 50,
      waitDurationInOpenStateMs: 60_000
    })
    expect(Policy.defaults.inventory.breaker).toMatchObject({
      slidingWindowSize: 50,
      failureRateThreshold: 30,
      waitDurationInOpenStateMs: 30_000
    })
  })

  it("repeats the last delay when retries outnumber the delays", () => {
    expect(Policy.delaysMs({ ...Policy.defaults.payment, retries: 4 })).toEqual([1_000, 3_000, 3_000, 3_000])
    expect(Policy.delaysMs({ ...Policy.defaults.payment, retries: 0 })).toEqual([])
  })

  it("a call's worst case is every attempt timed out plus every backoff", () => {
    expect(Policy.names.map((name) => Policy.worstCaseMs(Policy.defaults[name]))).toEqual([
      34_000, 9_600, 18_000, 10_500, 6_600
    ])
    expect(Policy.worstCaseMs({ ...Policy.defaults.payment, retries: 0 })).toBe(10_000)
  })

  for (const row of table) {
    it.effect(`${row.name}: transient failures are retried at ${row.failing.join(", ")} ms`, () =>
      Effect.gen(function* () {
        const { timesMs, exit } = yield* attempts(row.name, Effect.fail(unavailable), 10_000)
        expect(timesMs).toEqual(row.failing)
        expect(failure(exit)).toBe(unavailable)
      }).pipe(Effect.provide(Resilience.layer))
    )

    it.effect(`${row.name}: hanging attempts time out, then retry at ${row.hanging.join(", ")} ms`, () =>
      Effect.gen(function* () {
        const { timesMs, exit } = yield* attempts(row.name, Effect.never, row.endsAtMs - 1)
        expect(timesMs).toEqual(row.hanging)
        expect(exit).toBeUndefined() // the last attempt is still within its timeout
      }).pipe(Effect.provide(Resilience.layer))
    )
  }

  it.effect("the final timeout surfaces as OperationTimedOut at the last deadline", () =>
    Effect.gen(function* () {
      const { timesMs, exit } = yield* attempts("payment", Effect.never, 34_000)
      expect(timesMs).toEqual([0, 11_000, 24_000])
      expect(failure(exit)).toEqual(new OperationTimedOut({ operation: "payment", timeoutMs: 10_000 }))
      const resilience = yield* Resilience.Resilience
      expect((yield* resilience.breaker("payment").metrics).failedCallsTotal).toBe(3)
    }).pipe(Effect.provide(Resilience.layer))
  )

  it.effect("an attempt that answers just before its deadline is not timed out", () =>
    Effect.gen(function* () {
      const { timesMs, exit } = yield* attempts("inventory", Effect.as(Effect.sleep(1_999), "stock"), 2_000)
      expect(timesMs).toEqual([0])
      expect(exit).toEqual(Exit.succeed("stock"))
    }).pipe(Effect.provide(Resilience.layer))
  )

  it.effect("a call that recovers succeeds on its retry", () =>
    Effect.gen(function* () {
      let calls = 0
      const flaky = Effect.suspend(() => (++calls < 3 ? Effect.fail(unavailable) : Effect.succeed("charged")))
      const { timesMs, exit } = yield* attempts("payment", flaky, 5_000)
      expect(timesMs).toEqual([0, 1_000, 4_000])
      expect(exit).toEqual(Exit.succeed("charged"))
    }).pipe(Effect.provide(Resilience.layer))
  )

  it.effect("non-retryable errors are not retried: a decline, a 4xx", () =>
    Effect.gen(function* () {
      const declined = new PaymentDeclined({ orderId: "ord_1", declineCode: "insufficient_funds" })
      const decline = yield* attempts("payment", Effect.fail(declined), 10_000)
      expect(decline.timesMs).toEqual([0])
      expect(failure(decline.exit)).toBe(declined)
      const invalid = new PaymentMethodInvalid({ reason: "expired card" })
      const fourXx = yield* attempts("payment", Effect.fail(invalid), 10_000)
      expect(fourXx.timesMs).toEqual([0])
      expect(failure(fourXx.exit)).toBe(invalid)
      // And neither counts against the breaker.
      const resilience = yield* Resilience.Resilience
      expect((yield* resilience.breaker("payment").metrics).failedCallsTotal).toBe(0)
    }).pipe(Effect.provide(Resilience.layer))
  )

  it.effect("an open breaker fails fast with CallNotPermitted, without retrying", () =>
    Effect.gen(function* () {
      const resilience = yield* Resilience.Resilience
      // Inventory: at least 10 calls, 30 % failed. Ten failing checkouts make 40 failed calls.
      for (let i = 0; i < 10; i++)
        yield* attempts(
          "inventory",
          Effect.fail(new StoreUnavailable({ store: "inventory", reason: "down" })),
          1_600
        )
      expect(yield* resilience.breaker("inventory").state).toBe("open")
      const { timesMs, exit } = yield* attempts("inventory", Effect.succeed("never called"), 2_000)
      expect(timesMs).toEqual([])
      expect(failure(exit)).toMatchObject({ _tag: "CallNotPermitted", breaker: "inventory", state: "open" })
    }).pipe(Effect.provide(Resilience.layer))
  )

  it.effect(
    "Till's own stores are judged on failures, not slowness: calls just under their timeout keep those breakers closed; a slow gateway opens its own",
    () =>
      Effect.gen(function* () {
        const resilience = yield* Resilience.Resilience
        // Under load a store call's time is mostly Till's own queueing (Policy.ts): 50 calls of
        // each, answering 100 ms before their deadline, are slow by any measure but not failed.
        const slowly = (ms: number) => Effect.as(Effect.sleep(ms), "answered")
        const fibers = yield* Effect.forkChild(
          Effect.all(
            [
              ...Array.from({ length: 50 }, () => resilience.withPolicy("inventory", slowly(1_900))),
              ...Array.from({ length: 50 }, () => resilience.withPolicy("orderCreation", slowly(4_900))),
              ...Array.from({ length: 50 }, () => resilience.withStorePolicy("idempotency", slowly(1_900))),
              ...Array.from({ length: 50 }, () => resilience.withStorePolicyOnce("order", slowly(1_900))),
              // The payment gateway is someone else's service: 6 s of its 10 s is slow, and 80 % slow opens.
              ...Array.from({ length: 30 }, () => resilience.withPolicy("payment", slowly(6_000)))
            ],
            { concurrency: "unbounded" }
          )
        )
        yield* TestClock.adjust(6_000)
        expect((yield* Fiber.join(fibers)).every((answer) => answer === "answered")).toBe(true)
        expect(yield* resilience.breaker("inventory").state).toBe("closed")
        expect(yield* resilience.breaker("orderCreation").state).toBe("closed")
        expect(yield* resilience.storeBreaker("idempotency").state).toBe("closed")
        expect(yield* resilience.storeBreaker("order").state).toBe("closed")
        expect(yield* resilience.breaker("payment").state).toBe("open")
      }).pipe(Effect.provide(Resilience.layer))
  )

  it.effect("the fallback answers when the operation stays unavailable (shipping -> default cost)", () =>
    Effect.gen(function* () {
      const seen: Array<unknown> = []
      const fallback = (cause: unknown) => Effect.sync(() => seen.push(cause)).pipe(Effect.as(499))
      const { timesMs, exit } = yield* attempts(
        "shipping",
        Effect.fail(unavailable) as Effect.Effect<number, GatewayUnavailable>,
        2_000,
        { fallback }
      )
      expect(timesMs).toEqual([0, 500, 1_500])
      expect(exit).toEqual(Exit.succeed(499))
      expect(seen).toEqual([unavailable])
      // A timeout reaches the fallback as OperationTimedOut.
      const hung = yield* attempts("shipping", Effect.never as Effect.Effect<number>, 10_500, { fallback })
      expect(hung.exit).toEqual(Exit.succeed(499))
      expect(seen[1]).toEqual(new OperationTimedOut({ operation: "shipping", timeoutMs: 3_000 }))
    }).pipe(Effect.provide(Resilience.layer))
  )

  it.effect("the fallback never sees a non-transient error", () =>
    Effect.gen(function* () {
      const declined = new PaymentDeclined({ orderId: "ord_1", declineCode: "card_declined" })
      let fallbacks = 0
      const { exit } = yield* attempts(
        "payment",
        Effect.fail(declined) as Effect.Effect<string, PaymentDeclined>,
        1_000,
        {
          fallback: () => Effect.sync(() => fallbacks++).pipe(Effect.as("queued"))
        }
      )
      expect(failure(exit)).toBe(declined)
      expect(fallbacks).toBe(0)
    }).pipe(Effect.provide(Resilience.layer))
  )

  it.effect("the fallback answers at once while the breaker is open (payment -> queue)", () =>
    Effect.gen(function* () {
      const resilience = yield* Resilience.Resilience
      for (let i = 0; i < 7; i++) yield* attempts("payment", Effect.fail(unavailable), 4_000)
      expect(yield* resilience.breaker("payment").state).toBe("open")
      const { timesMs, exit } = yield* attempts("payment", Effect.succeed("charged"), 0, {
        fallback: (cause) => Effect.succeed(`queued after ${cause._tag}`)
      })
      expect(timesMs).toEqual([])
      expect(exit).toEqual(Exit.succeed("queued after CallNotPermitted"))
    }).pipe(Effect.provide(Resilience.layer))
  )

  it.effect("interrupting the caller interrupts the guarded call", () =>
    Effect.gen(function* () {
      const resilience = yield* Resilience.Resilience
      let interrupted = false
      const fiber = yield* Effect.forkChild(
        resilience.withPolicy(
          "payment",
          Effect.onInterrupt(Effect.never, () => Effect.sync(() => (interrupted = true)))
        )
      )
      yield* TestClock.adjust(100)
      yield* Fiber.interrupt(fiber)
      expect(interrupted).toBe(true)
    }).pipe(Effect.provide(Resilience.layer))
  )

  it.effect("the guarded call sees the caller's services and clock, whether it ends at once or waits", () =>
    Effect.gen(function* () {
      const resilience = yield* Resilience.Resilience
      const readGreeting = Effect.zip(Greeting, Clock.currentTimeMillis)
      const atOnce = yield* resilience.withPolicy("orderCreation", readGreeting)
      const waiting = yield* Effect.forkChild(
        resilience.withPolicy("orderCreation", Effect.andThen(Effect.sleep(10), readGreeting))
      )
      yield* TestClock.adjust(10)
      expect(atOnce).toEqual(["hello", 0])
      expect(yield* Fiber.join(waiting)).toEqual(["hello", 10])
    }).pipe(Effect.provideService(Greeting, "hello"), Effect.provide(Resilience.layer))
  )

  // Effect 3 pinned here that fiber refs the call *set* stayed with it; Effect 4 has no settable
  // fiber refs, only references provided around an effect, and this is their behaviour.
  it.effect("a guarded call sees the caller's references; what it provides itself stays with it", () =>
    Effect.gen(function* () {
      const resilience = yield* Resilience.Resilience
      const seen = yield* resilience.withPolicy(
        "payment",
        Effect.zip(Attempt, Effect.provideService(Attempt, Attempt, 2))
      )
      expect(seen).toEqual([1, 2])
      expect(yield* Attempt).toBe(1)
    }).pipe(Effect.provideService(Attempt, 1), Effect.provide(Resilience.layer))
  )

  it.effect("a long synchronous call (the runtime yields inside it) still completes", () =>
    Effect.gen(function* () {
      const resilience = yield* Resilience.Resilience
      const counted = Effect.reduce(
        Array.from({ length: 5_000 }, (_, i) => i),
        () => 0,
        (sum, i) => Effect.succeed(sum + i)
      )
      expect(yield* resilience.withPolicy("inventory", counted)).toBe(12_497_500)
    }).pipe(Effect.provide(Resilience.layer))
  )

  describe("config", () => {
    it.effect("overrides any leaf through Config, constant-case env style", () =>
      Effect.gen(function* () {
        const policies = yield* Policy.config()
        expect(policies.payment).toMatchObject({ timeoutMs: 8_000, retries: 1, backoffMs: [250] })
        expect(policies.shipping.breaker.waitDurationInOpenStateMs).toBe(10_000)
        expect(policies.inventory).toEqual(Policy.defaults.inventory)
      }).pipe(
        Effect.provideService(
          ConfigProvider.ConfigProvider,
          ConfigProvider.fromEnv({
            env: {
              RESILIENCE_PAYMENT_TIMEOUT_MS: "8000",
              RESILIENCE_PAYMENT_RETRIES: "1",
              RESILIENCE_PAYMENT_BACKOFF_MS: "250",
              RESILIENCE_SHIPPING_BREAKER_WAIT_DURATION_IN_OPEN_STATE_MS: "10000"
            }
          }).pipe(ConfigProvider.constantCase)
        )
      )
    )

    it.effect("layerConfig applies the overrides to withPolicy", () =>
      Effect.gen(function* () {
        const { timesMs } = yield* attempts("payment", Effect.fail(unavailable), 10_000)
        expect(timesMs).toEqual([0, 250])
      }).pipe(
        Effect.provide(
          Resilience.layerConfig().pipe(
            Layer.provide(
              ConfigProvider.layer(
                ConfigProvider.fromUnknown({ resilience: { payment: { retries: 1, backoffMs: [250] } } })
              )
            )
          )
        )
      )
    )

    it.effect("an invalid override fails at startup", () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(Policy.config())
        expect(exit._tag).toBe("Failure")
        expect(String(Exit.isFailure(exit) && Cause.squash(exit.cause))).toContain("resilience")
      }).pipe(
        Effect.provideService(
          ConfigProvider.ConfigProvider,
          ConfigProvider.fromUnknown({
            resilience: { inventory: { retries: 11 }, shipping: { breaker: { failureRateThreshold: 0 } } }
          })
        )
      )
    )

    it.effect("retries without any delay are refused", () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(
          Policy.decode({ ...Policy.defaults, payment: { ...Policy.defaults.payment, backoffMs: [] } })
        )
        expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      })
    )
  })
})
