/**
 * The Notifier contract: every kind of notification is accepted and reaches its user, once
 * per call. `readBack` answers what a user has received so far (a sandbox inbox for a real
 * provider; the `Inspector`, in memory).
 */
import { expect, layer } from "@effect/vitest"
import { Notifier } from "@till/core"
import { Effect, type Layer } from "effect"
import { uniqueId } from "../internal/contract.js"

const kinds: ReadonlyArray<Notifier.OrderNotification["kind"]> = [
  "order_confirmed",
  "payment_failed",
  "order_expired"
]

export const notifierContract = <R>(
  name: string,
  notifierLayer: Layer.Layer<Notifier.Notifier | R, unknown>,
  readBack: (userId: string) => Effect.Effect<ReadonlyArray<Notifier.Notification>, unknown, R>
): void => {
  layer(notifierLayer)(`Notifier contract: ${name}`, (it) => {
    it.effect("every kind of notification reaches its user", () =>
      Effect.gen(function* () {
        const notifier = yield* Notifier.Notifier
        const userId = yield* uniqueId("user")
        const sent = yield* Effect.forEach(kinds, (kind) =>
          Effect.map(uniqueId("ord"), (orderId): Notifier.Notification => ({ userId, kind, orderId }))
        )
        sent.push({ userId, kind: "cart_abandoned", cartId: yield* uniqueId("cart") })
        yield* Effect.forEach(sent, notifier.notify, { discard: true })
        expect(yield* readBack(userId)).toEqual(sent)
      })
    )

    it.effect("concurrent notifications to many users each arrive", () =>
      Effect.gen(function* () {
        const notifier = yield* Notifier.Notifier
        const sent = yield* Effect.all(
          Array.from({ length: 20 }, () =>
            Effect.map(
              Effect.all({ userId: uniqueId("user"), orderId: uniqueId("ord") }),
              ({ userId, orderId }): Notifier.Notification => ({ userId, kind: "order_confirmed", orderId })
            )
          )
        )
        yield* Effect.forEach(sent, notifier.notify, { concurrency: "unbounded", discard: true })
        for (const n of sent) expect(yield* readBack(n.userId)).toEqual([n])
      })
    )
  })
}
