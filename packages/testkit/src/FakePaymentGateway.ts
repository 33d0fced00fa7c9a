/**
 * A Stripe-like fake of the PaymentGateway port, with the public test cards:
 * `4242424242424242` succeeds, `4000000000000002` declines `card_declined` (a few more
 * decline cards below), any other Luhn-valid number succeeds, and a number failing Luhn is
 * refused at tokenization (`PaymentMethodInvalid`).
 *
 * What it keeps of a card is its token, brand, last four digits and decline behaviour, never
 * the number. `charge` is idempotent by key: the first result (success or decline) is stored
 * and answered again without moving money twice; the same key with another amount, currency or
 * payment method fails `IdempotencyKeyReused`. `refund` is idempotent by its own key: the same
 * key answers the same refund, a key used for another charge fails `IdempotencyKeyReused`, and
 * a charge is refunded once (another key answers the first refund). `captures` pages through
 * the charges by capture time, oldest first; the cursor is the last charge id of a page.
 *
 * Late captures (review bug 10's gateway): with `lateCaptureRate` / `lateCaptureNext` a new
 * charge call is answered as a failure (`GatewayUnavailable`, or a hang the caller's timeout
 * cuts) and the charge is made only `lateCaptureMs` later, stamped with that time; until then the
 * key is in flight (`retrieve` answers None, a charge with it fails `GatewayUnavailable`, as
 * Stripe answers 409 to a key in use). A due capture lands before whatever the fake does next
 * (any call or `Inspector` read at or after its time), so every observer sees it at its time.
 *
 * Faults are set at runtime through `Control`, all timed by Effect's `Clock` (so `TestClock`
 * drives them) and drawn from one seeded `Random` (so a seed replays a run exactly).
 * `Inspector` counts the money that actually moved, for the simulator's money invariants.
 */
import { Errors, Ids, Money, PaymentGateway, PaymentMethod } from "@till/core"
import { Clock, Context, Duration, Effect, Layer, Option, Random, Redacted, Result, Semaphore } from "effect"
import { requireCapacity } from "./internal/limits.js"

/** Numbers that tokenize but decline every charge, with their decline code. */
export const declineCards: ReadonlyMap<string, string> = new Map([
  ["4000000000000002", "card_declined"],
  ["4000000000009995", "insufficient_funds"],
  ["4000000000009987", "lost_card"],
  ["4000000000009979", "stolen_card"],
  ["4000000000000069", "expired_card"],
  ["4000000000000127", "incorrect_cvc"]
])

export const successCard = "4242424242424242"
export const declineCard = "4000000000000002"

/** A card to tokenize in tests: `number`, expiry 12/2030, CVC 123. */
export const card = (number: string): PaymentMethod.CardInput =>
  new PaymentMethod.CardInput({
    number: Redacted.make(number),
    exp_month: 12,
    exp_year: 2030,
    cvc: Redacted.make("123")
  })

/** A span of time, `[fromMs, toMs)` in epoch ms of Effect's `Clock`. */
export interface Window {
  readonly fromMs: number
  readonly toMs: number
}

export interface Faults {
  /** Added to every call (`Effect.sleep`). */
  readonly latencyMs: number
  /** Extra latency per call, uniform in `[0, latencyJitterMs]`, drawn from the seed. */
  readonly latencyJitterMs: number
  /** A call made inside a window fails `GatewayUnavailable` (a 503 storm); nothing happens. */
  readonly unavailableWindows: ReadonlyArray<Window>
  /** Share (0..1) of calls failing `GatewayUnavailable` before anything happens. */
  readonly unavailableRate: number
  /** Share (0..1) of charge calls that hang before being processed (no money moves). */
  readonly hangRate: number
  /** The next N charge calls hang before being processed. */
  readonly hangNext: number
  /** How long a hang lasts; "forever" waits until the caller's timeout interrupts it. */
  readonly hangMs: number | "forever"
  /** Share (0..1) of processed charge calls whose response is lost: the result is stored, the caller sees a failure. */
  readonly lostResponseRate: number
  /** The next N processed charge calls lose their response. */
  readonly lostResponseNext: number
  /** How a lost response shows: `GatewayUnavailable` at once, or a hang (`hangMs`) that the caller's timeout cuts. */
  readonly lostResponseAs: "unavailable" | "hang"
  /**
   * Share (0..1) of charge calls with a new key captured late: the caller sees a failure (see
   * `lateCaptureAs`) and the charge is made `lateCaptureMs` later (a decline is decided then).
   */
  readonly lateCaptureRate: number
  /** The next N charge calls with a new key are captured late. */
  readonly lateCaptureNext: number
  /** How long after its call a late capture lands: the key's result appears then. */
  readonly lateCaptureMs: number
  /** How the call of a late capture shows: `GatewayUnavailable` at once, or a hang (`hangMs`) that the caller's timeout cuts. */
  readonly lateCaptureAs: "unavailable" | "hang"
  /** Share (0..1) of new charges on a good card declined `card_declined`. */
  readonly declineRate: number
  /**
   * PLANTED BUG, a test switch for the simulator's self-check: when true the gateway ignores
   * idempotency keys, so every charge call moves money again (a retry after a lost response
   * double-charges). A simulator that does not report it is broken. Never set it elsewhere.
   */
  readonly ignoreIdempotencyKey: boolean
}

export const noFaults: Faults = {
  latencyMs: 0,
  latencyJitterMs: 0,
  unavailableWindows: [],
  unavailableRate: 0,
  hangRate: 0,
  hangNext: 0,
  hangMs: "forever",
  lostResponseRate: 0,
  lostResponseNext: 0,
  lostResponseAs: "unavailable",
  lateCaptureRate: 0,
  lateCaptureNext: 0,
  lateCaptureMs: 5 * 60 * 1000,
  lateCaptureAs: "unavailable",
  declineRate: 0,
  ignoreIdempotencyKey: false
}

export interface Options {
  /** Seed of every random choice (ids, jitter, rates). */
  readonly seed?: number | string
  readonly faults?: Partial<Faults>
  /** Most tokens kept. */
  readonly maxPaymentMethods?: number
  /** Most charge results kept (one per idempotency key). */
  readonly maxCharges?: number
}

export const defaultMaxPaymentMethods = 100_000
export const defaultMaxCharges = 1_000_000

export interface CallCounts {
  readonly tokenize: number
  readonly charge: number
  readonly retrieve: number
  readonly refund: number
  readonly captures: number
}

/** What tests and the simulator read: the money that really moved. */
export class Inspector extends Context.Service<
  Inspector,
  {
    /** Money movements made under this idempotency key (at most one, unless the planted bug is on). */
    readonly chargesFor: (idempotencyKey: string) => Effect.Effect<ReadonlyArray<PaymentGateway.Charge>>
    /** Every money movement in order, with its current status (succeeded or refunded). */
    readonly allCharges: Effect.Effect<ReadonlyArray<PaymentGateway.Charge>>
    /** Sum of the charges in this currency that are still captured (refunds taken out). */
    readonly capturedTotal: (currency: string) => Effect.Effect<Money.Money>
    readonly refundCount: Effect.Effect<number>
    /** Calls received per operation, including the ones a fault failed. */
    readonly callCounts: Effect.Effect<CallCounts>
    /** Charges received and not yet made (the late-capture fault), by key, with when each lands. */
    readonly lateCaptures: Effect.Effect<
      ReadonlyArray<{ readonly idempotencyKey: string; readonly dueMs: number }>
    >
  }
>()("@till/testkit/FakePaymentGateway/Inspector") {}

/** Fault injection at runtime. */
export class Control extends Context.Service<
  Control,
  {
    readonly faults: Effect.Effect<Faults>
    /** Replaces the named fields of the current faults. */
    readonly setFaults: (patch: Partial<Faults>) => Effect.Effect<void>
    /** Adds a 503 storm for `[fromMs, toMs)` of Effect's clock. */
    readonly unavailableBetween: (fromMs: number, toMs: number) => Effect.Effect<void>
    /** The next `n` charges are made (money moves) but their responses are lost. */
    readonly loseNextResponses: (n: number) => Effect.Effect<void>
    /** The next `n` charge calls hang for `hangMs` before being processed. */
    readonly hangNextCharges: (n: number) => Effect.Effect<void>
    /** The next `n` charge calls with a new key fail for the caller and are captured `lateCaptureMs` later. */
    readonly captureNextLate: (n: number) => Effect.Effect<void>
    /** Back to no faults; recorded charges (and late captures on their way) stay. */
    readonly reset: Effect.Effect<void>
  }
>()("@till/testkit/FakePaymentGateway/Control") {}

export type FakePaymentGateway = PaymentGateway.PaymentGateway["Service"] &
  Inspector["Service"] &
  Control["Service"]

const requireRate = (name: string, rate: number) => {
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`${name} must be between 0 and 1, got ${rate}`)
}
const requireCount = (name: string, n: number) => {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`${name} must be a non-negative integer, got ${n}`)
}

/** Dies (a defect) on a fault setting that cannot be meant: a test setup bug. */
const validated = (faults: Faults): Faults => {
  for (const name of [
    "unavailableRate",
    "hangRate",
    "lostResponseRate",
    "lateCaptureRate",
    "declineRate"
  ] as const) {
    requireRate(name, faults[name])
  }
  for (const name of [
    "latencyMs",
    "latencyJitterMs",
    "hangNext",
    "lostResponseNext",
    "lateCaptureNext",
    "lateCaptureMs"
  ] as const) {
    requireCount(name, faults[name])
  }
  if (faults.hangMs !== "forever") requireCount("hangMs", faults.hangMs)
  for (const w of faults.unavailableWindows) {
    if (!(Number.isFinite(w.fromMs) && Number.isFinite(w.toMs) && w.fromMs <= w.toMs)) {
      throw new RangeError(`unavailable window must have finite fromMs <= toMs, got [${w.fromMs}, ${w.toMs})`)
    }
  }
  return faults
}

type Lookup = PaymentGateway.ChargeLookup

/** Whether an expiry month (1-12 of a year) ended before `nowMs`. */
const expired = (expYear: number, expMonth: number, nowMs: number): boolean => {
  const now = new Date(nowMs)
  return expYear * 12 + expMonth < now.getUTCFullYear() * 12 + now.getUTCMonth() + 1
}

export const make = (options: Options = {}): Effect.Effect<FakePaymentGateway> =>
  Effect.gen(function* () {
    const maxMethods = requireCapacity(
      "maxPaymentMethods",
      options.maxPaymentMethods ?? defaultMaxPaymentMethods
    )
    const maxCharges = requireCapacity("maxCharges", options.maxCharges ?? defaultMaxCharges)
    // The fake's own generator, drawn from directly (no `Random` service swapped around each
    // draw): `Random.withSeed` provides a seeded generator, which is taken out once here.
    const random = yield* Random.withSeed(Random.Random, options.seed ?? 0)
    // One charge is recorded at a time, so two calls with one key can never both move money.
    // Uncontended, the permit is taken and given back on the spot (no suspension): on Effect 4.1
    // a policy-guarded charge cost 5.0 µs with it against 4.7 µs with Effect 3's flag and
    // yield-and-retry workaround (1.06x, median of 21 alternating rounds), so the plain lock stays.
    const lock = yield* Semaphore.make(1)
    // Uninterruptible inside the permit: a caller's timeout cannot cut a charge between moving
    // money and storing the result (waiting for the permit stays interruptible).
    const oneAtATime = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      lock.withPermit(Effect.uninterruptible(effect))
    let faults = validated({ ...noFaults, ...options.faults })

    // Token -> what the gateway remembers of a card. Never the number.
    const methods = new Map<
      string,
      { readonly brand: string; readonly last4: string; readonly declineCode: string | null }
    >()
    const results = new Map<string, Lookup>()
    // What the first request under each charge key asked for: a key answers only that request.
    const requested = new Map<string, PaymentGateway.ChargeRequest>()
    // Every money movement, in capture order (`captured_at_ms` never decreases along it).
    const charges: Array<PaymentGateway.Charge> = []
    const chargeIndex = new Map<string, number>()
    const chargesByKey = new Map<string, Array<number>>()
    // Charges received but made only later (the late-capture fault): their keys are in flight.
    const parked = new Map<
      string,
      { readonly request: PaymentGateway.ChargeRequest; readonly dueMs: number }
    >()
    const refundsByKey = new Map<string, PaymentGateway.Refund>()
    const refundByCharge = new Map<string, PaymentGateway.Refund>()
    let refundCount = 0
    const counts = { tokenize: 0, charge: 0, retrieve: 0, refund: 0, captures: 0 }

    const nextId = (prefix: string) => Ids.fromGenerator(random, prefix)
    /** True with probability `rate`; a draw is taken only for a positive rate (a seed replays). */
    const draw = (rate: number): boolean => rate > 0 && random.nextDoubleUnsafe() < rate
    const unavailable = (reason: string) => new Errors.GatewayUnavailable({ reason: `${reason} (injected)` })
    const hang = (ms: number | "forever") =>
      ms === "forever" ? Effect.never : Effect.sleep(Duration.millis(ms))

    // The per-call steps are made once with `Effect.fnUntraced`, not as an `Effect.gen` closure
    // per call: a new generator closure costs about 1.4 µs on Node 24, more than the steps it runs.

    /** Latency, then the 503 faults: what every call goes through before the gateway acts. */
    const arrive = Effect.fnUntraced(function* (operation: keyof CallCounts) {
      counts[operation]++
      // Uniform in [0, latencyJitterMs].
      const jitter =
        faults.latencyJitterMs > 0 ? Math.floor(random.nextDoubleUnsafe() * (faults.latencyJitterMs + 1)) : 0
      const delayMs = faults.latencyMs + jitter
      if (delayMs > 0) yield* Effect.sleep(Duration.millis(delayMs))
      const nowMs = yield* Clock.currentTimeMillis
      if (faults.unavailableWindows.some((w) => w.fromMs <= nowMs && nowMs < w.toMs)) {
        return yield* unavailable("503 storm")
      }
      if (draw(faults.unavailableRate)) return yield* unavailable("503")
    })

    /** Why `request` is not the request first made under its key; undefined when it is. */
    const reuseOf = (request: PaymentGateway.ChargeRequest): string | undefined => {
      const first = requested.get(request.idempotencyKey)
      if (first === undefined) return undefined
      if (first.amount.currency !== request.amount.currency) return "another currency"
      if (first.amount.amount !== request.amount.amount) return "another amount"
      if (first.paymentMethodId !== request.paymentMethodId) return "another payment method"
      return undefined
    }

    const keyReused = (idempotencyKey: string, operation: "charge" | "refund", reason: string) =>
      new PaymentGateway.IdempotencyKeyReused({ idempotencyKey, operation, reason })

    /**
     * A capture's stamp: its time, never before the last capture's (a test may set `TestClock`
     * back; the gateway's own clock does not go back), so capture order is time order.
     */
    const captureStamp = (atMs: number): number => Math.max(atMs, charges.at(-1)?.captured_at_ms ?? atMs)

    /** Appends a money movement (stamped by `captureStamp`, so `captures` pages in order). */
    const appendCharge = (charge: PaymentGateway.Charge) => {
      chargeIndex.set(charge.charge_id, charges.length)
      const forKey = chargesByKey.get(charge.idempotency_key)
      if (forKey === undefined) chargesByKey.set(charge.idempotency_key, [charges.length])
      else forKey.push(charges.length)
      charges.push(charge)
    }

    const record = Effect.fnUntraced(function* (request: PaymentGateway.ChargeRequest, atMs: number) {
      if (!faults.ignoreIdempotencyKey) {
        const reused = reuseOf(request)
        if (reused !== undefined) return yield* keyReused(request.idempotencyKey, "charge", reused)
        const stored = results.get(request.idempotencyKey)
        if (stored !== undefined) return stored
      }
      if (results.size >= maxCharges && !results.has(request.idempotencyKey)) {
        return yield* new Errors.GatewayUnavailable({ reason: `fake gateway full (${maxCharges} charges)` })
      }
      const method = methods.get(request.paymentMethodId)
      let result: Lookup
      if (method === undefined) result = { _tag: "Declined", declineCode: "payment_method_not_found" }
      else if (request.amount.amount <= 0) result = { _tag: "Declined", declineCode: "invalid_amount" }
      else if (method.declineCode !== null) result = { _tag: "Declined", declineCode: method.declineCode }
      else if (draw(faults.declineRate)) result = { _tag: "Declined", declineCode: "card_declined" }
      else {
        const charge: PaymentGateway.Charge = {
          charge_id: yield* nextId("ch"),
          idempotency_key: request.idempotencyKey,
          amount: request.amount,
          status: "succeeded",
          brand: method.brand,
          last4: method.last4,
          captured_at_ms: captureStamp(atMs)
        }
        appendCharge(charge)
        result = { _tag: "Succeeded", charge }
      }
      results.set(request.idempotencyKey, result)
      if (!requested.has(request.idempotencyKey)) requested.set(request.idempotencyKey, request)
      return result
    })

    const refundOnce = Effect.fnUntraced(function* (chargeId: string, idempotencyKey: string) {
      const byKey = refundsByKey.get(idempotencyKey)
      if (byKey !== undefined) {
        if (byKey.charge_id === chargeId) return byKey
        return yield* keyReused(idempotencyKey, "refund", `it refunded ${byKey.charge_id}, not ${chargeId}`)
      }
      const index = chargeIndex.get(chargeId)
      const charge = index === undefined ? undefined : charges[index]
      if (index === undefined || charge === undefined) {
        return yield* new PaymentGateway.ChargeNotFound({ chargeId })
      }
      // Full refunds only: a charge refunded under another key answers that refund, moving nothing.
      const earlier = refundByCharge.get(chargeId)
      if (earlier !== undefined) {
        refundsByKey.set(idempotencyKey, earlier)
        return earlier
      }
      const refund: PaymentGateway.Refund = {
        refund_id: yield* nextId("re"),
        charge_id: chargeId,
        idempotency_key: idempotencyKey,
        amount: charge.amount
      }
      const refunded: PaymentGateway.Charge = { ...charge, status: "refunded" }
      charges[index] = refunded
      refundCount++
      refundsByKey.set(idempotencyKey, refund)
      refundByCharge.set(chargeId, refund)
      const stored = results.get(charge.idempotency_key)
      if (stored?._tag === "Succeeded" && stored.charge.charge_id === chargeId) {
        results.set(charge.idempotency_key, { _tag: "Succeeded", charge: refunded })
      }
      return refund
    })

    /** First index whose capture is at or after `sinceMs` (charges are in capture order). */
    const firstCapturedAtOrAfter = (sinceMs: number): number => {
      let low = 0
      let high = charges.length
      while (low < high) {
        const mid = (low + high) >>> 1
        if (charges[mid]!.captured_at_ms < sinceMs) low = mid + 1
        else high = mid
      }
      return low
    }

    const listCaptures = (
      sinceMs: number,
      cursor: string | null,
      limit: number
    ): PaymentGateway.CapturePage => {
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > PaymentGateway.maxCapturesPerPage) {
        throw new RangeError(`captures limit must be 1..${PaymentGateway.maxCapturesPerPage}, got ${limit}`)
      }
      let from = firstCapturedAtOrAfter(sinceMs)
      if (cursor !== null) {
        const at = chargeIndex.get(cursor)
        if (at === undefined)
          throw new RangeError(`captures cursor ${cursor} is not a charge of this gateway`)
        from = Math.max(from, at + 1)
      }
      const page = charges.slice(from, from + limit)
      const nextCursor = from + page.length < charges.length ? (page.at(-1)?.charge_id ?? null) : null
      return { captures: page, nextCursor }
    }

    /** Makes the late captures due by `nowMs`, oldest due first, each at its own time. */
    const land = Effect.fnUntraced(function* (nowMs: number) {
      if (parked.size === 0) return
      const due = [...parked.entries()]
        .filter(([, p]) => p.dueMs <= nowMs)
        .sort((a, b) => a[1].dueMs - b[1].dueMs)
      for (const [key, { request, dueMs }] of due) {
        parked.delete(key)
        // A full fake drops the charge (its key stays unanswered), as `charge` would refuse it.
        yield* Effect.ignore(record(request, dueMs))
      }
    })

    /** Lands due late captures before a read; takes the lock only when one is on its way. */
    const landDue = Effect.suspend(() =>
      parked.size === 0 ? Effect.void : oneAtATime(Effect.flatMap(Clock.currentTimeMillis, land))
    )

    const captureLate = (request: PaymentGateway.ChargeRequest): boolean => {
      if (results.has(request.idempotencyKey) || requested.has(request.idempotencyKey)) return false
      if (faults.lateCaptureNext > 0) {
        faults = { ...faults, lateCaptureNext: faults.lateCaptureNext - 1 }
        return true
      }
      return draw(faults.lateCaptureRate)
    }

    /** A charge call's turn at the gateway: lands what is due, then records, parks or refuses. */
    const process = Effect.fnUntraced(function* (request: PaymentGateway.ChargeRequest, nowMs: number) {
      yield* land(nowMs)
      if (parked.has(request.idempotencyKey)) {
        const reused = reuseOf(request)
        if (reused !== undefined) return yield* keyReused(request.idempotencyKey, "charge", reused)
        return "inFlight" as const
      }
      if (captureLate(request)) {
        parked.set(request.idempotencyKey, { request, dueMs: nowMs + faults.lateCaptureMs })
        requested.set(request.idempotencyKey, request)
        return "parked" as const
      }
      return yield* record(request, nowMs)
    })

    const loseResponse = (): boolean => {
      if (faults.lostResponseNext > 0) {
        faults = { ...faults, lostResponseNext: faults.lostResponseNext - 1 }
        return true
      }
      return draw(faults.lostResponseRate)
    }

    const shouldHang = (): boolean => {
      if (faults.hangNext > 0) {
        faults = { ...faults, hangNext: faults.hangNext - 1 }
        return true
      }
      return draw(faults.hangRate)
    }

    const gateway: PaymentGateway.PaymentGateway["Service"] = {
      tokenize: Effect.fnUntraced(function* (card: PaymentMethod.CardInput) {
        yield* arrive("tokenize")
        const digits = Redacted.value(card.number)
        if (!PaymentMethod.luhnValid(digits)) {
          return yield* new Errors.PaymentMethodInvalid({ reason: "card number failed the Luhn check" })
        }
        if (expired(card.exp_year, card.exp_month, yield* Clock.currentTimeMillis)) {
          return yield* new Errors.PaymentMethodInvalid({ reason: "card has expired" })
        }
        if (methods.size >= maxMethods) {
          return yield* new Errors.GatewayUnavailable({
            reason: `fake gateway full (${maxMethods} payment methods)`
          })
        }
        const paymentMethodId = yield* nextId("pm")
        const kept = {
          brand: PaymentMethod.brandOf(digits),
          last4: digits.slice(-4),
          declineCode: declineCards.get(digits) ?? null
        }
        methods.set(paymentMethodId, kept)
        return new PaymentMethod.PaymentMethod({
          payment_method_id: paymentMethodId,
          brand: kept.brand,
          last4: kept.last4
        })
      }),

      charge: Effect.fnUntraced(function* (request: PaymentGateway.ChargeRequest) {
        yield* arrive("charge")
        if (shouldHang()) yield* hang(faults.hangMs)
        const result = yield* oneAtATime(
          Effect.flatMap(Clock.currentTimeMillis, (nowMs) => process(request, nowMs))
        )
        if (result === "inFlight") return yield* unavailable("a charge with this key is still processing")
        if (result === "parked") {
          if (faults.lateCaptureAs === "hang") yield* hang(faults.hangMs)
          return yield* unavailable("charge accepted, capture delayed")
        }
        if (loseResponse()) {
          if (faults.lostResponseAs === "hang") yield* hang(faults.hangMs)
          return yield* unavailable("response lost after the charge was made")
        }
        if (result._tag === "Declined")
          return yield* new PaymentGateway.GatewayDeclined({ declineCode: result.declineCode })
        return result.charge
      }),

      retrieve: Effect.fnUntraced(function* (idempotencyKey: string) {
        yield* arrive("retrieve")
        yield* landDue
        return Option.fromNullishOr(results.get(idempotencyKey))
      }),

      refund: Effect.fnUntraced(function* (chargeId: string, idempotencyKey: string) {
        yield* arrive("refund")
        const nowMs = yield* Clock.currentTimeMillis
        return yield* oneAtATime(Effect.andThen(land(nowMs), refundOnce(chargeId, idempotencyKey)))
      }),

      captures: Effect.fnUntraced(function* (sinceMs: number, cursor: string | null, limit: number) {
        yield* arrive("captures")
        yield* landDue
        return listCaptures(sinceMs, cursor, limit)
      })
    }

    const inspector: Inspector["Service"] = {
      chargesFor: (key) =>
        Effect.andThen(
          landDue,
          Effect.sync(() => (chargesByKey.get(key) ?? []).map((i) => charges[i]!))
        ),
      allCharges: Effect.andThen(
        landDue,
        Effect.sync(() => [...charges])
      ),
      capturedTotal: (currency) =>
        Effect.andThen(
          landDue,
          Effect.sync(() => {
            const code = Money.currency(currency)
            const captured = charges.filter((c) => c.status === "succeeded" && c.amount.currency === code)
            return Result.getOrThrow(
              Money.sum(
                code,
                captured.map((c) => c.amount)
              )
            )
          })
        ),
      refundCount: Effect.andThen(
        landDue,
        Effect.sync(() => refundCount)
      ),
      callCounts: Effect.sync(() => ({ ...counts })),
      lateCaptures: Effect.sync(() =>
        [...parked.entries()].map(([idempotencyKey, { dueMs }]) => ({ idempotencyKey, dueMs }))
      )
    }

    const control: Control["Service"] = {
      faults: Effect.sync(() => faults),
      setFaults: (patch) =>
        Effect.sync(() => {
          faults = validated({ ...faults, ...patch })
        }),
      unavailableBetween: (fromMs, toMs) =>
        Effect.sync(() => {
          faults = validated({
            ...faults,
            unavailableWindows: [...faults.unavailableWindows, { fromMs, toMs }]
          })
        }),
      loseNextResponses: (n) =>
        Effect.sync(() => {
          faults = validated({ ...faults, lostResponseNext: n })
        }),
      hangNextCharges: (n) =>
        Effect.sync(() => {
          faults = validated({ ...faults, hangNext: n })
        }),
      captureNextLate: (n) =>
        Effect.sync(() => {
          faults = validated({ ...faults, lateCaptureNext: n })
        }),
      reset: Effect.sync(() => {
        faults = noFaults
      })
    }

    return { ...gateway, ...inspector, ...control }
  })

const context = (options: Options) =>
  Layer.effectContext(
    Effect.map(make(options), (fake) =>
      Context.make(PaymentGateway.PaymentGateway, fake).pipe(
        Context.add(Inspector, fake),
        Context.add(Control, fake)
      )
    )
  )

/** Provides `PaymentGateway`, its `Inspector` and `Control` (one fake behind all three), no faults. */
export const layer = (
  seed: number | string = 0
): Layer.Layer<PaymentGateway.PaymentGateway | Inspector | Control> => context({ seed })

export const layerWith = (
  options: Options
): Layer.Layer<PaymentGateway.PaymentGateway | Inspector | Control> => context(options)
