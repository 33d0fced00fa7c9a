/**
 * The entities' shared supervision (src/Entities.ts): a defect in an entity restarts it after
 * the backoff and counts the restart in `till_entity_restarts_total{entity}`; a slow answer becomes
 * `StoreUnavailable` naming the store (a full mailbox: cartEntity.test.ts).
 */
import { it } from "@effect/vitest"
import { Effect, Metric, Schema } from "effect"
import { Entity, TestRunner } from "effect/cluster"
import { Rpc } from "effect/rpc"
import { expect } from "vitest"
import * as Entities from "../src/Entities.js"

const Flaky = Entity.make("test/flaky", [Rpc.make("ping", { success: Schema.Number })])

it.live("a defect restarts the entity after the backoff, counted per entity type", () => {
  let builds = 0
  let calls = 0
  const entity = Flaky.toLayer(
    Effect.sync(() => {
      builds++
      return Flaky.of({
        ping: () =>
          Effect.suspend(() => (++calls === 1 ? Effect.die(new Error("boom")) : Effect.succeed(builds)))
      })
    }),
    { defectRetryPolicy: Entities.restartSchedule(Flaky.type) }
  )
  return Effect.gen(function* () {
    const restarts = Metric.withAttributes(Entities.restarts, { entity: Flaky.type })
    const before = (yield* Metric.value(restarts)).count
    const client = yield* Flaky.client
    yield* Effect.exit(client("a").ping())
    // The entity was rebuilt: the next call is answered by its second build.
    expect(yield* client("a").ping()).toBe(2)
    expect((yield* Metric.value(restarts)).count - before).toBe(1)
  }).pipe(Effect.provide(entity), Effect.provide(TestRunner.layer))
})

it.live("a call with no answer within the timeout answers StoreUnavailable", () =>
  Effect.gen(function* () {
    const send = Entities.answering<number, never>("cart", 50)
    const slow = yield* Effect.flip(send("cart c1", Effect.never))
    expect(slow).toMatchObject({
      _tag: "StoreUnavailable",
      store: "cart",
      reason: "cart c1: no answer within 50 ms"
    })
  })
)
