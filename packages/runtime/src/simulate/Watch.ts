/**
 * What an operator would watch during a simulation, read as one does: through the admin routes
 * (`GET /v1/admin/circuit-breakers`: the payment breaker and the stores' one, which a Redis outage
 * opens; `GET /v1/admin/payment-queue`), so an embedded run and a `--target` run are watched
 * alike. Sampled every 100 ms into the series; a state shorter than that may not show. A sample that fails (a restart under way) is skipped.
 */
import { Effect } from "effect"
import type * as Client from "../demo/Client.js"
import type { Breaker, Series } from "./Series.js"

export const sampleEveryMs = 100

const admin = { as: "sim-ops", admin: true, quiet: true } as const

const breakerOf = (body: unknown, name: string): Breaker | undefined => {
  if (!Array.isArray(body)) return undefined
  const state: unknown = body.find((b: { name?: unknown }) => b?.name === name)?.state
  return state === "closed" || state === "open" || state === "halfOpen" ? state : undefined
}

/** One sample of the payment and carts' breakers and the payment queue into `series`. */
export const sample = (client: Client.Client, series: Series): Effect.Effect<void> =>
  Effect.gen(function* () {
    const [breakers, queue] = yield* Effect.all(
      [
        client.call("GET", "/v1/admin/circuit-breakers", admin),
        client.call("GET", "/v1/admin/payment-queue", admin)
      ],
      { concurrency: 2 }
    )
    const breaker = breakers.status === 200 ? breakerOf(breakers.body, "payment") : undefined
    // The carts' breaker (`store.cart`): the store a Redis outage takes down.
    const storeBreaker = breakers.status === 200 ? breakerOf(breakers.body, "store.cart") : undefined
    const depth: unknown = queue.status === 200 ? queue.body?.depth : undefined
    if (breaker !== undefined && storeBreaker !== undefined && typeof depth === "number")
      series.sampled(Date.now(), { breaker, storeBreaker, depth })
  })

/** Samples forever (fork it; interrupt it at the end). */
export const forever = (client: Client.Client, series: Series): Effect.Effect<never> =>
  Effect.forever(Effect.andThen(sample(client, series), Effect.sleep(sampleEveryMs)))
