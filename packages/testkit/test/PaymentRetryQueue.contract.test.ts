import { describe, expect, it } from "@effect/vitest"
import { InMemoryPaymentRetryQueue } from "@till/testkit"
import { paymentRetryQueueContract } from "@till/testkit/contracts"
import { Effect } from "effect"

paymentRetryQueueContract("in-memory", InMemoryPaymentRetryQueue.layer)

describe("InMemoryPaymentRetryQueue limits", () => {
  it.effect("a full queue refuses a new order but still answers for a queued one", () =>
    Effect.gen(function* () {
      const queue = yield* InMemoryPaymentRetryQueue.make({ maxEntries: 1 })
      expect(yield* queue.enqueue({ orderId: "a", attempt: 0, nextAttemptAt: 0 })).toBe("enqueued")
      expect(yield* queue.enqueue({ orderId: "a", attempt: 0, nextAttemptAt: 0 })).toBe("alreadyQueued")
      expect((yield* Effect.flip(queue.enqueue({ orderId: "b", attempt: 0, nextAttemptAt: 0 })))._tag).toBe(
        "StoreUnavailable"
      )
      const [claimed] = yield* queue.claimDue(0, 1, 1_000)
      expect(yield* queue.remove("a", claimed!.token)).toBe("removed")
      expect(yield* queue.enqueue({ orderId: "b", attempt: 0, nextAttemptAt: 0 })).toBe("enqueued")
    })
  )
})
