/**
 * "A stored answer that no longer decodes becomes a 500": a replay whose stored outcome fails to
 * decode (written by an older Till) answers the order's current state, or `StoredAnswerUnreadable`
 * (409) when no order was made; never a defect, never new work.
 */
import { describe, expect, it } from "@effect/vitest"
import { Carts, Errors, type IdempotencyStore, Sku } from "@till/core"
import { FakePaymentGateway, InMemoryIdempotencyStore, TestTill } from "@till/testkit"
import { Effect } from "effect"
import { cartWith, place } from "./fixtures.js"

/** An idempotency store whose completed answers come back in a shape no decoder knows. */
const unreadable = (state: { corrupt: boolean }) =>
  InMemoryIdempotencyStore.layerFrom(
    Effect.map(InMemoryIdempotencyStore.make(), (s) => ({
      ...s,
      claim: (request: IdempotencyStore.ClaimRequest) =>
        Effect.map(s.claim(request), (claim) =>
          state.corrupt && claim._tag === "Completed"
            ? {
                ...claim,
                record: { ...claim.record, outcome: { _tag: "Success", value: { v: 0, legacy: true } } }
              }
            : claim
        )
    }))
  )

describe("a stored answer that no longer decodes", () => {
  it.effect("a 201's replay answers the order as it is now: no defect, no second charge", () => {
    const state = { corrupt: false }
    return Effect.gen(function* () {
      yield* TestTill.stock("mug", "Mug", 1_500, 5)
      const { cartId, paymentMethodId } = yield* cartWith("alice", [["mug", 1]])
      const first = yield* place("alice", "k1", cartId, paymentMethodId)
      state.corrupt = true
      const replay = yield* place("alice", "k1", cartId, paymentMethodId)
      expect(replay.status).toBe(201)
      expect(replay.order.order_id).toBe(first.order.order_id)
      expect(replay.order.status).toBe("confirmed")
      const money = yield* FakePaymentGateway.Inspector
      expect((yield* money.allCharges).length).toBe(1)
    }).pipe(Effect.provide(TestTill.layer({ seed: 3, idempotencyStore: unreadable(state) })))
  })

  it.effect(
    "a refusal's replay with no order answers StoredAnswerUnreadable (409), and makes no order",
    () => {
      const state = { corrupt: false }
      return Effect.gen(function* () {
        yield* TestTill.stock("mug", "Mug", 1_500, 5)
        const { cartId, paymentMethodId } = yield* cartWith("alice", [])
        const refused = yield* Effect.flip(place("alice", "k1", cartId, paymentMethodId))
        expect(refused._tag).toBe("EmptyCart")
        // The shopper fills the cart; a replay of the refused key must not now buy it.
        yield* Effect.flatMap(Carts.Carts, (c) => c.addItem("alice", cartId, Sku.make("mug"), 1))
        state.corrupt = true
        const error = yield* Effect.flip(place("alice", "k1", cartId, paymentMethodId))
        expect(error).toEqual(new Errors.StoredAnswerUnreadable({ key: "k1" }))
        expect(Errors.httpStatus.StoredAnswerUnreadable).toBe(409)
        const money = yield* FakePaymentGateway.Inspector
        expect((yield* money.allCharges).length).toBe(0)
        expect((yield* Effect.flatMap(Carts.Carts, (c) => c.get("alice", cartId))).status).toBe("active")
      }).pipe(Effect.provide(TestTill.layer({ seed: 3, idempotencyStore: unreadable(state) })))
    }
  )

  it.effect("a declined payment retry's replay answers the order's decline again", () => {
    const state = { corrupt: false }
    return Effect.gen(function* () {
      yield* TestTill.stock("mug", "Mug", 1_500, 5)
      const { cartId, paymentMethodId } = yield* cartWith(
        "alice",
        [["mug", 1]],
        FakePaymentGateway.declineCard
      )
      const declined = yield* Effect.flip(place("alice", "k1", cartId, paymentMethodId))
      expect(declined._tag).toBe("PaymentDeclined")
      state.corrupt = true
      const again = yield* Effect.flip(place("alice", "k1", cartId, paymentMethodId))
      expect(again).toEqual(declined)
    }).pipe(Effect.provide(TestTill.layer({ seed: 3, idempotencyStore: unreadable(state) })))
  })
})
