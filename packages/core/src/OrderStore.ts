/**
 * Port: orders with their stock movements, payment, audit log and outbox, each step written
 * in one transaction (one Postgres transaction, one synchronous block in memory; DESIGN.md §2).
 *
 * - `create` is TX1: the order (version 1), the hold of its lines for attempt 1 and its events.
 *   All or nothing: out of stock writes no order, and refuses that order id for good. One cart is
 *   ordered at most once.
 * - `step` is every later change: a compare-and-set on the order's `version` (not its status,
 *   which can come back: payment_failed -> pending -> payment_failed), with the stock movement
 *   of the order's current attempt and the step's events. A process acting on a stale read
 *   finds the version moved and writes nothing.
 * - The outbox is read through claims with a lease, so competing relays do not publish the
 *   same batch, and an order's events are never claimed while an earlier one of the same
 *   order is claimed by another relay (per-order order is kept). `relayEvents` is a claim that
 *   lasts as long as its publish: what the relay (Outbox.ts) uses.
 */
import { Context, type Effect, type Option, type Result } from "effect"
import type { CartNotActive, OutOfStock, StoreUnavailable } from "./Errors.js"
import type { Event, StoredEvent } from "./Event.js"
import type { StockMove } from "./InventoryStore.js"
import type { Order, OrderStatus } from "./Order.js"

export interface AuditEntry {
  readonly order_id: string
  readonly from: OrderStatus | null
  readonly to: OrderStatus
  /** The order's version after the step. */
  readonly version: number
  readonly at: string
}

export interface OrderPage {
  readonly orders: ReadonlyArray<Order>
  readonly nextCursor: string | null
}

/** A batch of outbox events claimed by one relay until `leaseMs` after the claim. */
export interface EventClaim {
  /** Presented to `markPublished`; a claim that was taken over answers nothing. */
  readonly token: string
  readonly events: ReadonlyArray<Event>
}

/** An order to create with its events: one entry of `createMany`. */
export interface NewOrder {
  readonly order: Order
  readonly events: ReadonlyArray<Event>
}

export class OrderStore extends Context.Service<
  OrderStore,
  {
    /**
     * TX1: inserts the order (its `version` must be 1) with a hold of `lines` for its attempt
     * until its `hold_expires_at`, and its events. If the id exists, answers the stored order
     * unchanged. Fails `OutOfStock` when a line is short, and `CartNotActive` when another order
     * of the same cart exists; neither writes an order, stock or event.
     *
     * An id refused `OutOfStock` is refused for good: every later create of it fails with the
     * same lines, even once stock is back. A create can land late (a retry after a timeout, a
     * crashed process's statement), and its caller's twin that was refused gives the cart back
     * (Checkout); without this, the late copy would make an order of a cart that is active again.
     */
    readonly create: (
      order: Order,
      events: ReadonlyArray<Event>
    ) => Effect.Effect<Order, OutOfStock | CartNotActive | StoreUnavailable>
    /**
     * `create` of each order in turn, in one transaction: the answers come in the batch's order,
     * each what `create` of that order alone would answer at its turn (a line short for one order
     * fails that order only, and the stock it did not take stays for the orders after it). For a
     * hot SKU, where single creates queue on one stock row's lock, one commit for many orders
     * (runtime `HotSkuEntity`). Fails `StoreUnavailable` as a whole when nothing was written.
     */
    readonly createMany: (
      batch: ReadonlyArray<NewOrder>
    ) => Effect.Effect<
      ReadonlyArray<Result.Result<Order, OutOfStock | CartNotActive | StoreUnavailable>>,
      StoreUnavailable
    >
    readonly get: (orderId: string) => Effect.Effect<Option.Option<Order>, StoreUnavailable>
    /**
     * Refuses `orderId` for good unless a create made its order: answers that order when there is
     * one, else None, and from then on every create of the id fails `CartNotActive` (an id
     * refused `OutOfStock` before keeps that answer). For a cart claimed by an order that never
     * came: whichever of this and a late create of the id lands first wins, so the cart can be
     * given back once this answers None (Checkout).
     */
    readonly refuseUnmade: (orderId: string) => Effect.Effect<Option.Option<Order>, StoreUnavailable>
    /**
     * Writes `next` (with version `expectedVersion + 1`), the stock movement of `next`'s payment
     * attempt, an audit entry and `events`, only if the stored version is `expectedVersion`;
     * None (and nothing written) otherwise. `hold` takes the lines of `next` for its attempt
     * (failing `OutOfStock`, nothing written, when short); `commit` and `release` move that
     * attempt's hold. A movement of a hold that is not held is a defect, never silently skipped.
     */
    readonly step: (
      next: Order,
      expectedVersion: number,
      stock: StockMove | null,
      events: ReadonlyArray<Event>
    ) => Effect.Effect<Option.Option<Order>, OutOfStock | StoreUnavailable>
    /**
     * Orders in these statuses last updated at or before `updatedBeforeIso`, oldest first,
     * after `cursor` (from a previous page; null for the first).
     */
    readonly listByStatus: (
      statuses: ReadonlyArray<OrderStatus>,
      updatedBeforeIso: string,
      limit: number,
      cursor: string | null
    ) => Effect.Effect<OrderPage, StoreUnavailable>
    /** A user's orders, newest first, paged by an opaque cursor. */
    readonly listByUser: (
      userId: string,
      limit: number,
      cursor: string | null
    ) => Effect.Effect<OrderPage, StoreUnavailable>
    readonly audit: (orderId: string) => Effect.Effect<ReadonlyArray<AuditEntry>, StoreUnavailable>
    /**
     * Claims up to `limit` unpublished events until `nowMs + leaseMs`, in commit order: events
     * under another live claim are skipped, with every later event of their order.
     */
    readonly claimEvents: (
      nowMs: number,
      limit: number,
      leaseMs: number
    ) => Effect.Effect<EventClaim, StoreUnavailable>
    /**
     * Relays one batch: holds up to `limit` unpublished events (what `claimEvents` would take),
     * runs `publish` on them in commit order (as stored: `StoredEvent`), and marks them published
     * only if it succeeds (on Postgres a published event leaves the outbox); answers how many it
     * moved. The events are held for as long as `publish` runs, at most `leaseMs`: when it fails,
     * or its holder dies, nothing is marked and they go out again with a later batch. Concurrent
     * relays hold disjoint events, and an order's later events wait while an earlier one is held.
     * Postgres holds them with row locks for the batch's transaction, so an event is written once
     * after its insert (deleted when sent) instead of twice (claimed, then marked).
     */
    readonly relayEvents: <E>(
      nowMs: number,
      limit: number,
      leaseMs: number,
      publish: (events: ReadonlyArray<StoredEvent>) => Effect.Effect<void, E>
    ) => Effect.Effect<number, E | StoreUnavailable>
    /** Marks events of a claim published; those whose claim was taken over are left alone. */
    readonly markPublished: (
      token: string,
      eventIds: ReadonlyArray<string>
    ) => Effect.Effect<void, StoreUnavailable>
    /**
     * The outbox's lag: how long before `nowMs` the oldest unpublished event occurred (its
     * `occurred_at`), claimed or not; 0 when every event is published.
     */
    readonly outboxLagMs: (nowMs: number) => Effect.Effect<number, StoreUnavailable>
  }
>()("@till/core/OrderStore") {}
