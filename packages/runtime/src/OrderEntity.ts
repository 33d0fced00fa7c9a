/**
 * The order entity: one `effect/cluster` entity per order id drives that order's saga forward
 * (`Checkout.resume`: confirm a charge the gateway made, retry the payment, expire the order and
 * release its stock when its hold ran out). The jobs that find such orders (the payment retry
 * drainer, the recovery sweeper: Jobs.ts) resume them through it.
 *
 * - **One order's steps in turn, anywhere**: the drainer and the sweeper run as singletons,
 *   possibly on two instances, and may pick the same order; through its entity their resumes
 *   queue in one mailbox, on the instance owning the order's shard, instead of racing the store's
 *   compare-and-set (which still guards them: a resume that finds the order moved does nothing).
 *   Orders spread over the instances by shard, so the gateway calls of a long queue do too.
 * - **A cache, never the only copy**: the entity holds nothing; the order and its payment queue
 *   entry stay in the stores, so an instance dying mid-resume loses nothing (the queue's lease or
 *   the next sweep resumes it elsewhere).
 * - **Not on the checkout path**: a checkout drives its own order; only the jobs wake entities, so
 *   a live one costs memory only while an order is being recovered (idle ones passivate).
 * - **Limits**: a full mailbox, a moving shard or no answer within `callTimeoutMs` fails the resume
 *   with `StoreUnavailable`; the jobs take that as "retry later", as for any store outage.
 */
import { Checkout, Errors } from "@till/core"
import { Effect, Layer, Schema } from "effect"
import { Entity, type Sharding } from "effect/cluster"
import { Rpc } from "effect/rpc"
import * as Entities from "./Entities.js"

export type Settings = Entities.Settings

export const defaults: Settings = { maxIdleMs: 5_000, mailboxCapacity: 64, callTimeoutMs: 60_000 }

const ResumeErrors = Schema.Union([
  Errors.StoreUnavailable,
  Errors.GatewayUnavailable,
  Errors.CallNotPermitted,
  Errors.OperationTimedOut,
  Errors.OrderNotFound
])
type ResumeError = typeof ResumeErrors.Type

export const OrderEntity = Entity.make("till/order", [
  Rpc.make("resume", { success: Schema.Literals(["done", "retry"]), error: ResumeErrors })
])

/**
 * `Checkout` whose `resume` goes through the order entity, and the entity itself, over the
 * `Checkout` and the cluster in context. Provide it to the jobs (Start.ts).
 */
export const layer = (
  settings: Settings = defaults
): Layer.Layer<Checkout.Checkout, never, Checkout.Checkout | Sharding.Sharding> => {
  const entity = Layer.unwrap(
    Effect.map(Checkout.Checkout, (checkout) =>
      Entities.registered(
        OrderEntity.toLayer(
          // One handlers object for every order (the order is the call's address): nothing per entity.
          OrderEntity.of({ resume: ({ address }) => checkout.resume(address.entityId) }),
          Entities.options(OrderEntity.type, settings)
        )
      )
    )
  )
  const routed = Layer.effect(
    Checkout.Checkout,
    Effect.gen(function* () {
      const checkout = yield* Checkout.Checkout
      const client = yield* OrderEntity.client
      const send = Entities.answering<"done" | "retry", ResumeError>("order", settings.callTimeoutMs)
      return Checkout.Checkout.of({
        ...checkout,
        resume: (orderId) => send(`order ${orderId}`, client(orderId).resume())
      })
    })
  )
  return Layer.merge(routed, entity)
}
