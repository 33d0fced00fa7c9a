import { describe, expect, it } from "@effect/vitest"
import { InMemoryEventPublisher, InMemoryInventoryStore, InMemoryOrderStore } from "@till/testkit"
import { Effect, Fiber, Layer, Queue, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Outbox from "../src/Outbox.js"
import { OrderStore } from "../src/OrderStore.js"
import * as Resilience from "../src/Resilience.js"

/**
 * The in-memory OrderStore with a relay that always finds one more event (every round moves one,
 * so the relay stays busy), counting its lag reads.
 */
const busyStore = (counts: { lagReads: number; relays: number }) =>
  Layer.effect(
    OrderStore,
    Effect.map(Effect.service(OrderStore), (store) => {
      let calls = 0
      return OrderStore.of({
        ...store,
        relayEvents: () =>
          Effect.sync(() => {
            counts.relays++
            return calls++ % 2 === 0 ? 1 : 0
          }),
        outboxLagMs: (nowMs) =>
          Effect.andThen(
            Effect.sync(() => counts.lagReads++),
            store.outboxLagMs(nowMs)
          )
      })
    })
  ).pipe(Layer.provide(InMemoryOrderStore.layer.pipe(Layer.provide(InMemoryInventoryStore.layer))))

describe("Outbox.runWhenWoken", () => {
  it.effect("while busy it looks every 20 ms but reads the lag about once a second, not every round", () => {
    const counts = { lagReads: 0, relays: 0 }
    return Effect.gen(function* () {
      const relay = yield* Effect.forkChild(Outbox.runWhenWoken(Stream.never))
      for (let ms = 0; ms < 2_000; ms += 10) yield* TestClock.adjust(10)
      yield* Fiber.interrupt(relay)
      // 100 rounds in 2 s (one every 20 ms); the lag read at the first and once a second after.
      expect(counts.lagReads).toBeGreaterThanOrEqual(2)
      expect(counts.lagReads).toBeLessThanOrEqual(3)
    }).pipe(Effect.provide(Layer.mergeAll(busyStore(counts), InMemoryEventPublisher.layer, Resilience.layer)))
  })

  it.effect(
    "while busy a wake-up does not cut its 20 ms wait short: one round per look, not per commit",
    () => {
      const counts = { lagReads: 0, relays: 0 }
      return Effect.gen(function* () {
        // A commit that finds the outbox drained notifies; a busy relay drains it after each round,
        // so under load nearly every commit woke it, and a round per commit cost more statements
        // than the commits themselves.
        const wakeups = yield* Queue.unbounded<void>()
        const relay = yield* Effect.forkChild(Outbox.runWhenWoken(Stream.fromQueue(wakeups)))
        for (let ms = 0; ms < 1_000; ms += 2) {
          yield* Queue.offer(wakeups, undefined)
          yield* TestClock.adjust(2)
        }
        yield* Fiber.interrupt(relay)
        // One claim a look, 50 looks in 1 s.
        expect(counts.relays).toBeGreaterThanOrEqual(45)
        expect(counts.relays).toBeLessThanOrEqual(55)
      }).pipe(
        Effect.provide(Layer.mergeAll(busyStore(counts), InMemoryEventPublisher.layer, Resilience.layer))
      )
    }
  )
})
