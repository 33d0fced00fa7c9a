/** Orders and events for the Postgres tests: the contract suites' own fixtures. */
import { OrderStore, type Sku } from "@till/core"
import { makeEvent, makeOrder, moved } from "@till/testkit/contracts"
import { Effect } from "effect"

export { makeEvent as eventOf, moved } from "@till/testkit/contracts"

/** A new order (version 1, pending) of `lines`, with fresh ids. */
export const newOrder = (lines: ReadonlyArray<readonly [Sku.Sku, number]>) => makeOrder({ lines })

/**
 * A checkout's two store steps for a new order of `lines`: created (its hold and `order.created`),
 * then confirmed (the hold committed, `order.confirmed`); answers what the step answered.
 */
export const placedAndConfirmed = (lines: ReadonlyArray<readonly [Sku.Sku, number]>) =>
  Effect.gen(function* () {
    const orders = yield* OrderStore.OrderStore
    const order = yield* newOrder(lines)
    const created = yield* orders.create(order, [yield* makeEvent(order, "order.created")])
    const confirmed = moved(created, "confirmed")
    return yield* orders.step(confirmed, created.version, "commit", [
      yield* makeEvent(confirmed, "order.confirmed")
    ])
  })
