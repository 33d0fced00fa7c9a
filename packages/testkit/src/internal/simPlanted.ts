/**
 * Bugs planted on purpose, for the simulator's self-check: each is a known-broken variant of a
 * port (an in-memory store switch, or a wrapper around the shared stores) of one class of bug a
 * review found in Till, and the simulator alone must find each within 200 seeds (tested in
 * Simulator.test.ts). `pnpm sim --list-planted` lists them; `--planted NAME` runs one.
 */
import { CartStore, Ids, InventoryStore, OrderStore } from "@till/core"
import { Context, Effect, Option } from "effect"
import * as InMemoryIdempotencyStore from "../InMemoryIdempotencyStore.js"
import * as InMemoryInventoryStore from "../InMemoryInventoryStore.js"
import * as InMemoryOrderStore from "../InMemoryOrderStore.js"
import * as InMemoryRateLimitStore from "../InMemoryRateLimitStore.js"
import type * as TestTill from "../TestTill.js"

export const plantedBugs = [
  /** Rate limits: a fixed window read then written (InMemoryRateLimitStore.makeGetThenSet). */
  "getThenSetRateLimiter",
  /** Oversell: holds skip the stock condition (InMemoryInventoryStore.layerUnconditional). */
  "unconditionalReservation",
  /** Double charge: the gateway ignores idempotency keys, every charge call moves money. */
  "ignoreIdempotencyKey",
  /** Stale steps (review bugs 1, 3): an order step compares no version, so a stale decision lands. */
  "stepIgnoresVersion",
  /** One cart, two orders (review bug 2): cart writes ignore the version, orders the cart. */
  "twoOrdersPerCart",
  /** Carts last-writer-wins (review bug 9): cart writes ignore the version, so an edit and a checkout's claim overwrite each other. */
  "cartLastWriterWins",
  /** Unfenced leases (review bug 5): complete/abandon ignore the fencing token. */
  "idempotencyIgnoresToken",
  /** Queues without claims (review bug 6): competing relays publish an order's events out of order. */
  "relayIgnoresOrderBlocking",
  /** Blind retries (review bug 8): restock forgets its movement id, so a retried one adds twice. */
  "restockIgnoresMovementId",
  /** Weak ids (review bug 4): ids from a tiny space, so two requests share an order id. */
  "weakIds",
  /** Events without a trace (review bug 7): a refund's step loses its `payment.refunded` event. */
  "refundEventDropped",
  /** Late captures never looked at again (review bug 10): no process runs the reconciliation. */
  "noReconciliation"
] as const
export type PlantedBug = (typeof plantedBugs)[number]

/** The TestTill options that switch a planted store in. */
export const portOptions = (planted: ReadonlyArray<PlantedBug>): TestTill.Options => {
  const has = (bug: PlantedBug) => planted.includes(bug)
  const orders = {
    plantedManyOrdersPerCart: has("twoOrdersPerCart"),
    plantedNoOrderBlocking: has("relayIgnoresOrderBlocking")
  }
  return {
    gateway: { faults: { ignoreIdempotencyKey: has("ignoreIdempotencyKey") } },
    ...(has("unconditionalReservation") ? { inventoryStore: InMemoryInventoryStore.layerUnconditional } : {}),
    ...(has("getThenSetRateLimiter") ? { rateLimitStore: InMemoryRateLimitStore.layerGetThenSet } : {}),
    ...(orders.plantedManyOrdersPerCart || orders.plantedNoOrderBlocking
      ? { orderStore: InMemoryOrderStore.layerWith(orders) }
      : {}),
    ...(has("idempotencyIgnoresToken")
      ? { idempotencyStore: InMemoryIdempotencyStore.layerWith({ plantedUnfenced: true }) }
      : {})
  }
}

/** The shared stores with the planted wrappers around them (the processes see these). */
export const wrapPorts = <R>(
  raw: Context.Context<R>,
  planted: ReadonlyArray<PlantedBug>
): Context.Context<R> => {
  let ports = raw as Context.Context<unknown>
  if (planted.includes("stepIgnoresVersion")) {
    const store = Context.get(raw as Context.Context<OrderStore.OrderStore>, OrderStore.OrderStore)
    ports = Context.add(ports, OrderStore.OrderStore, {
      ...store,
      // Compare-and-set on whatever version is there now: a stale decision always lands.
      step: (next, _expected, stock, events) =>
        Effect.flatMap(store.get(next.order_id), (current) =>
          Option.isNone(current)
            ? Effect.succeed(Option.none())
            : store.step(next, current.value.version, stock, events)
        )
    })
  }
  if (planted.includes("refundEventDropped")) {
    const store = Context.get(ports as Context.Context<OrderStore.OrderStore>, OrderStore.OrderStore)
    ports = Context.add(ports, OrderStore.OrderStore, {
      ...store,
      step: (next, expected, stock, events) =>
        store.step(
          next,
          expected,
          stock,
          events.filter((e) => e.type !== "payment.refunded")
        )
    })
  }
  if (planted.includes("twoOrdersPerCart") || planted.includes("cartLastWriterWins")) {
    const carts = Context.get(raw as Context.Context<CartStore.CartStore>, CartStore.CartStore)
    ports = Context.add(ports, CartStore.CartStore, {
      ...carts,
      // Last writer wins: the version read is never compared.
      update: (next, _expected, ttlMs) =>
        Effect.flatMap(carts.get(next.cart_id), (current) =>
          Option.isNone(current)
            ? Effect.succeed(Option.none())
            : carts.update(next, current.value.version, ttlMs)
        )
    })
  }
  if (planted.includes("restockIgnoresMovementId")) {
    const inventory = Context.get(
      raw as Context.Context<InventoryStore.InventoryStore>,
      InventoryStore.InventoryStore
    )
    let n = 0
    ports = Context.add(ports, InventoryStore.InventoryStore, {
      ...inventory,
      // Each run of the call (a retry re-runs it) is a movement of its own.
      restock: (sku, delta, movementId) =>
        Effect.suspend(() => inventory.restock(sku, delta, `${movementId}#${++n}`))
    })
  }
  if (planted.includes("weakIds")) {
    let n = 0
    // 36 ids per prefix, in a shuffled but repeating order: collisions within a few dozen.
    const next = (prefix: string) => Effect.sync(() => `${prefix}_weak${((n++ * 7) % 36).toString(36)}`)
    ports = Context.add(ports, Ids.Ids, Ids.Ids.of({ next }))
  }
  return ports as Context.Context<R>
}
