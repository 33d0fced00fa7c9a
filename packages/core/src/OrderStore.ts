/**
 * Port: orders, their payment, the audit log and the outbox, written together (one
 * transaction in Postgres). Every status change is a compare-and-set on the current status,
 * so concurrent processes (a request, the sweeper, the retry drainer) can never both move
 * one order, and an event is in the outbox if and only if its state change committed.
 */
import { Context, type Effect, type Option } from "effect"
import type { StoreUnavailable } from "./Errors.js"
import type { Event } from "./Event.js"
import type { Order, OrderStatus } from "./Order.js"

export interface AuditEntry {
  readonly order_id: string
  readonly from: OrderStatus | null
  readonly to: OrderStatus
  readonly at: string
}

export interface OrderPage {
  readonly orders: ReadonlyArray<Order>
  readonly nextCursor: string | null
}

export class OrderStore extends Context.Service<
  OrderStore,
  {
    /** Inserts the order with its events; if the id exists, returns the stored order unchanged. */
    readonly create: (order: Order, events: ReadonlyArray<Event>) => Effect.Effect<Order, StoreUnavailable>
    readonly get: (orderId: string) => Effect.Effect<Option.Option<Order>, StoreUnavailable>
    /**
     * Replaces the order with `next` and appends `events` only if its status is still
     * `expected`; None (and nothing written) otherwise.
     */
    readonly update: (
      next: Order,
      expected: OrderStatus,
      events: ReadonlyArray<Event>
    ) => Effect.Effect<Option.Option<Order>, StoreUnavailable>
    /** Orders in these statuses last updated at or before `updatedBeforeIso`, oldest first. */
    readonly listByStatus: (
      statuses: ReadonlyArray<OrderStatus>,
      updatedBeforeIso: string,
      limit: number
    ) => Effect.Effect<ReadonlyArray<Order>, StoreUnavailable>
    /** A user's orders, newest first, paged by an opaque cursor. */
    readonly listByUser: (
      userId: string,
      limit: number,
      cursor: string | null
    ) => Effect.Effect<OrderPage, StoreUnavailable>
    readonly audit: (orderId: string) => Effect.Effect<ReadonlyArray<AuditEntry>, StoreUnavailable>
    /** Unpublished outbox events, in commit order. */
    readonly pendingEvents: (limit: number) => Effect.Effect<ReadonlyArray<Event>, StoreUnavailable>
    readonly markPublished: (eventIds: ReadonlyArray<string>) => Effect.Effect<void, StoreUnavailable>
  }
>()("@till/core/OrderStore") {}
