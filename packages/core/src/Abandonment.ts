/**
 * The cart-abandonment job: carts nobody changed for more than an hour (`idleForMs`) are reported
 * as `cart.abandoned` (the notifications consumer sends the reminder), once per idle period.
 *
 * A round lists idle carts from the store's index (CartStore.idleSince, no scan of every cart),
 * reads each, publishes one event per cart that, as read, still holds items and is still idle
 * (`idleAsRead`), then tells the store it was reported (`forgetIdle`), which drops it from later
 * listings unless it changed meanwhile.
 * - **At least once, deduplicated downstream**: a crash between publishing and forgetting reports
 *   the cart again in the next round, with the same `event_id` (`<cart>/cart.abandoned/<last change
 *   ms>`, shaped like the order events' ids), so a consumer that dedupes by `event_id` reminds once. The same holds when several
 *   instances run the job at the same time: correctness never depends on one owner.
 * - **Once per idle period, not once per cart for ever**: a cart changed after its reminder is
 *   active again, and idle for another hour it is reported again (a new `event_id`). A shopper who
 *   came back and left again has abandoned the cart again.
 * - An empty cart is not reported (there is nothing to remind of); a checked-out or expired cart
 *   is not listed at all.
 *
 * Published straight to the `EventPublisher`, not through the order outbox: the event describes
 * no state change of Till's own stores, and the store's index is its durable "to do".
 */
import { Clock, Effect, Metric, Option, Schedule } from "effect"
import type { Cart } from "./Cart.js"
import { CartStore, type IdleCart } from "./CartStore.js"
import * as Event from "./Event.js"
import { EventPublisher } from "./EventPublisher.js"
import { storeCall } from "./internal/storeCall.js"
import { Resilience } from "./Resilience.js"

export interface Settings {
  /** A cart unchanged for longer than this is abandoned (default 1 hour). */
  readonly idleForMs: number
  /** Pause between two rounds (default 1 hour). */
  readonly everyMs: number
  /** Carts listed per page of a round (1..`CartStore.maxIdlePage`). */
  readonly pageSize: number
}

export const defaults: Settings = { idleForMs: 3_600_000, everyMs: 3_600_000, pageSize: 100 }

/** Most pages one round works through; the rest waits for the next round. */
export const maxPagesPerRound = 1_000

/** Carts reported abandoned (each one's reminder event published). */
export const abandoned = Metric.counter("till_carts_abandoned_total", {
  description: "Carts found idle for more than the abandonment threshold (their reminder event published)",
  incremental: true
})

/** The event id of `idle`'s report: the same for a report sent twice, new for a new idle period. */
export const eventId = (idle: IdleCart): string => `${idle.cartId}/cart.abandoned/${idle.lastChangeMs}`

/**
 * Whether `cart`, as read, is abandoned: active, holding items, and unchanged for `idleForMs`. The
 * listing alone is not enough: an edit can land between the listing and the read (a cart listed
 * while empty gets its first item), and reporting it then would remind a shopper who is there,
 * under an event id of the old idle period, and again after the new one. Such a cart is skipped
 * and not forgotten: the store lists it again once it is idle from its latest change.
 * (`updated_at` is set by the writer before the store's index score, so it is never the newer.)
 */
const idleAsRead = (cart: Cart, nowMs: number, idleForMs: number): boolean =>
  cart.status === "active" && cart.items.length > 0 && nowMs - Date.parse(cart.updated_at) > idleForMs

/** One round: reports every cart idle longer than `idleForMs`; answers how many were reported. */
export const runOnce = Effect.fn("Abandonment.runOnce")(function* (settings: Partial<Settings> = {}) {
  const { idleForMs, pageSize } = { ...defaults, ...settings }
  const store = yield* CartStore
  const publisher = yield* EventPublisher
  // Reads and the fenced forget are safe to repeat (internal/storeCall.ts).
  const call = storeCall(yield* Resilience, "cart")
  let reported = 0
  for (let page = 0; page < maxPagesPerRound; page++) {
    const idle = yield* call("retry", store.idleSince(idleForMs, pageSize))
    const events: Array<Event.Event> = []
    const nowMs = yield* Clock.currentTimeMillis
    const occurredAt = new Date(nowMs).toISOString()
    for (const entry of idle) {
      const cart = yield* call("retry", store.get(entry.cartId))
      if (Option.isNone(cart) || !idleAsRead(cart.value, nowMs, idleForMs)) continue
      events.push(
        new Event.Event({
          event_id: eventId(entry),
          type: "cart.abandoned",
          occurred_at: occurredAt,
          aggregate_id: entry.cartId,
          data: {
            cart_id: entry.cartId,
            user_id: cart.value.user_id,
            items: cart.value.items.length,
            subtotal: { amount: cart.value.subtotal.amount, currency: cart.value.subtotal.currency },
            last_change_at: new Date(entry.lastChangeMs).toISOString()
          }
        })
      )
    }
    if (events.length > 0) yield* publisher.publish(events)
    for (const entry of idle) yield* call("retry", store.forgetIdle(entry))
    if (events.length > 0) yield* Metric.update(abandoned, events.length)
    reported += events.length
    if (idle.length < pageSize) break
  }
  return reported
})

/** Rounds every `everyMs` until interrupted; a failed round is logged and the next one runs. */
export const run = (settings: Partial<Settings> = {}) =>
  runOnce(settings).pipe(
    Effect.tap((n) => (n > 0 ? Effect.logInfo("abandoned carts reported", n) : Effect.void)),
    Effect.catchCause((cause) => Effect.logWarning("cart abandonment round failed", cause)),
    Effect.repeat(Schedule.spaced({ ...defaults, ...settings }.everyMs)),
    Effect.asVoid
  )
