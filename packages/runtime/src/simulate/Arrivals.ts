/**
 * The arrival loop of `till simulate`: open loop, as real shoppers are, so a slow Till does not
 * slow the arrivals down (a closed loop would hide its latency by asking less). The n-th checkout
 * starts at t0 + n / rate whatever the earlier ones are doing; each is one shopper's journey
 * through the API: a new cart (POST /v1/carts), one unit of a SKU drawn with the skew
 * (POST .../items), then POST /v1/checkout with the shopper's saved card, one the gateway declines
 * for `declineRate` of the checkouts.
 *
 * Every draw is made before the clock starts (one seed, one plan), and the cards the plan needs
 * are saved then too (POST /v1/payment-methods), as a shop's returning shoppers have theirs: so a
 * gateway storm hits the checkouts' charges, which the breaker turns into queued 202s, and not
 * the card form.
 */
import { Duration, Effect, FiberSet } from "effect"
import type * as Client from "../demo/Client.js"
import { address, cards } from "../demo/Shop.js"
import type { Answer } from "../demo/World.js"
import * as Draw from "./Draw.js"
import { type Settings, SimulateRefused } from "./Options.js"
import { isError, type Series } from "./Series.js"

/** Most checkouts in flight at once; an arrival beyond it is shed (counted, not started). */
export const maxInFlight = 5_000

/** Every arrival's draws, by arrival number. */
export interface Plan {
  readonly settings: Settings
  /** The SKUs on the shelf, hottest first. */
  readonly skus: ReadonlyArray<string>
  /** The shopper ids' prefix (a `--target` run's own, so two runs do not share rate limits). */
  readonly userPrefix: string
  readonly arrivals: number
  /** 1 when the n-th arrival pays with the declined card. */
  readonly declined: Uint8Array
  readonly skuIndex: Uint32Array
}

/** The draws of every arrival of `settings`, from its seed. */
export const plan = (settings: Settings, skus: ReadonlyArray<string>, userPrefix: string): Plan => {
  const random = Draw.random(settings.seed)
  const sku = Draw.zipf(skus.length, settings.skew)
  const arrivals = Math.ceil(settings.durationSeconds * settings.ratePerSecond)
  const declined = new Uint8Array(arrivals)
  const skuIndex = new Uint32Array(arrivals)
  for (let n = 0; n < arrivals; n++) {
    declined[n] = random() < settings.declineRate ? 1 : 0
    skuIndex[n] = sku(random)
  }
  return { settings, skus, userPrefix, arrivals, declined, skuIndex }
}

const userOf = (plan: Plan, n: number) => `${plan.userPrefix}${(n % plan.settings.users) + 1}`
const cardKey = (user: string, declined: boolean) => `${user}/${declined ? "declined" : "visa"}`

/** Saves the cards `plan` uses (one per shopper and kind); their payment method ids by `user/kind`. */
export const saveCards = (
  client: Client.Client,
  plan: Plan
): Effect.Effect<ReadonlyMap<string, string>, SimulateRefused> =>
  Effect.gen(function* () {
    const needed = new Map<string, { readonly user: string; readonly declined: boolean }>()
    for (let n = 0; n < plan.arrivals; n++) {
      const user = userOf(plan, n)
      const declined = plan.declined[n] === 1
      needed.set(cardKey(user, declined), { user, declined })
    }
    const methods = new Map<string, string>()
    yield* Effect.forEach(
      needed,
      ([key, { user, declined }]) =>
        Effect.flatMap(
          client.call("POST", "/v1/payment-methods", {
            as: user,
            quiet: true,
            body: {
              card: {
                number: declined ? cards.declined : cards.visa,
                exp_month: 12,
                exp_year: 2030,
                cvc: "123"
              }
            }
          }),
          (answer) =>
            answer.status === 201
              ? Effect.sync(() => void methods.set(key, answer.body.payment_method_id))
              : Effect.fail(
                  new SimulateRefused({ reason: `till simulate: saving a card answered ${answer.status}` })
                )
        ),
      { concurrency: 16, discard: true }
    )
    return methods
  })

const timed = (call: Effect.Effect<Answer>) =>
  Effect.map(Effect.timed(call), ([duration, answer]) => ({ answer, latencyMs: Duration.toMillis(duration) }))

/** One journey's end: the status that ended it, whether that is an error, how long its last call took. */
interface Outcome {
  readonly status: number
  readonly error: boolean
  readonly latencyMs: number
}

const outcomeOf = ({
  answer,
  latencyMs
}: {
  readonly answer: Answer
  readonly latencyMs: number
}): Outcome => ({
  status: answer.status,
  error: isError(answer.status, answer.body),
  latencyMs
})

/**
 * Plays `plan` through `client` from `series.t0Ms`; returns when every journey ended, or when the
 * drain's deadline passed (the journeys still out are interrupted then: counted unanswered).
 */
export const run = (
  client: Client.Client,
  plan: Plan,
  methods: ReadonlyMap<string, string>,
  series: Series
): Effect.Effect<void> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { settings } = plan
      let inFlight = 0

      const journey = (n: number): Effect.Effect<Outcome> =>
        Effect.gen(function* () {
          const user = userOf(plan, n)
          const as = { as: user, quiet: true } as const
          const cart = yield* timed(client.call("POST", "/v1/carts", { ...as, body: {} }))
          if (cart.answer.status !== 201) return outcomeOf(cart)
          const cartId = cart.answer.body.cart_id as string
          const item = yield* timed(
            client.call("POST", `/v1/carts/${cartId}/items`, {
              ...as,
              body: { sku: plan.skus[plan.skuIndex[n]!]!, quantity: 1 }
            })
          )
          if (item.answer.status !== 200) return outcomeOf(item)
          const placed = yield* timed(
            client.call("POST", "/v1/checkout", {
              ...as,
              key: `${plan.userPrefix}checkout-${n}`,
              body: {
                cart_id: cartId,
                payment_method_id: methods.get(cardKey(user, plan.declined[n] === 1)),
                shipping_address: address
              }
            })
          )
          return outcomeOf(placed)
        })

      const set = yield* FiberSet.make<void>()
      const everyMs = 1_000 / settings.ratePerSecond
      for (let n = 0; n < plan.arrivals; n++) {
        const wait = series.t0Ms + n * everyMs - Date.now()
        if (wait > 0) yield* Effect.sleep(wait)
        if (inFlight >= maxInFlight) {
          series.shed(Date.now())
          continue
        }
        inFlight++
        series.started(Date.now())
        yield* FiberSet.run(
          set,
          Effect.flatMap(journey(n), (outcome) =>
            Effect.sync(() => {
              inFlight--
              series.answered(Date.now(), outcome.status, outcome.latencyMs, outcome.error)
            })
          )
        )
      }
      const drainUntilMs = series.t0Ms + (settings.durationSeconds + settings.drainSeconds) * 1_000
      yield* Effect.timeoutOption(FiberSet.awaitEmpty(set), Math.max(0, drainUntilMs - Date.now()))
    })
  )
