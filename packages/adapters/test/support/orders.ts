/** Orders and events for the Postgres tests: the contract suites' own fixtures. */
import type { Sku } from "@till/core"
import { makeOrder } from "@till/testkit/contracts"

export { makeEvent as eventOf, moved } from "@till/testkit/contracts"

/** A new order (version 1, pending) of `lines`, with fresh ids. */
export const newOrder = (lines: ReadonlyArray<readonly [Sku.Sku, number]>) => makeOrder({ lines })
