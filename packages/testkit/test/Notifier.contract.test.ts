import { describe, expect, it } from "@effect/vitest"
import { InMemoryNotifier } from "@till/testkit"
import { notifierContract } from "@till/testkit/contracts"
import { Effect } from "effect"

notifierContract("in-memory", InMemoryNotifier.layer, (userId) =>
  Effect.flatMap(InMemoryNotifier.Inspector, (inspector) =>
    Effect.map(inspector.sent, (sent) => sent.filter((n) => n.userId === userId))
  )
)

describe("InMemoryNotifier Control", () => {
  it.effect("a provider outage fails notifications and records nothing", () =>
    Effect.gen(function* () {
      const notifier = yield* InMemoryNotifier.make()
      const note = { userId: "u1", kind: "order_confirmed", orderId: "o1" } as const
      yield* notifier.setUnavailable(true)
      expect((yield* Effect.flip(notifier.notify(note)))._tag).toBe("GatewayUnavailable")
      yield* notifier.setUnavailable(false)
      yield* notifier.notify(note)
      expect(yield* notifier.sent).toEqual([note])
    })
  )
})
