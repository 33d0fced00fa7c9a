/**
 * The group-commit batcher on its own (no server): a lone call is sent at once, calls made while
 * the batches in flight are out go together in arrival order, a defect reaches every caller of
 * its batch, and a caller interrupted while it waits is never sent.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import * as Batcher from "../src/internal/batcher.js"

/** A server whose batches answer when the test says so; each input's answer is itself doubled. */
const server = Effect.gen(function* () {
  const sent: Array<ReadonlyArray<number>> = []
  const gates: Array<Deferred.Deferred<void>> = []
  const batcher = Batcher.make({
    maxBatch: 3,
    maxInFlight: 1,
    services: yield* Effect.context<never>(),
    run: (inputs: ReadonlyArray<number>) =>
      Effect.gen(function* () {
        sent.push(inputs)
        const gate = yield* Deferred.make<void>()
        gates.push(gate)
        yield* Deferred.await(gate)
        if (inputs.includes(-1)) return yield* Effect.die("broken batch")
        return inputs.map((n) => Exit.succeed(n * 2))
      })
  })
  const release = (i: number) => Deferred.succeed(gates[i]!, undefined)
  return { batcher, sent, release }
})

describe("Batcher", () => {
  it.effect("a lone call is sent at once; calls made meanwhile go together, in order, at most maxBatch", () =>
    Effect.gen(function* () {
      const { batcher, sent, release } = yield* server
      const first = yield* Effect.forkChild(batcher.call(1))
      yield* Effect.yieldNow
      expect(sent).toEqual([[1]])
      const rest = yield* Effect.forkChild(
        Effect.all(
          [2, 3, 4, 5, 6].map((n) => batcher.call(n)),
          { concurrency: "unbounded" }
        )
      )
      yield* Effect.yieldNow
      expect(sent).toEqual([[1]])
      yield* release(0)
      expect(yield* Fiber.join(first)).toBe(2)
      yield* Effect.yieldNow
      expect(sent).toEqual([[1], [2, 3, 4]])
      yield* release(1)
      yield* Effect.yieldNow
      expect(sent).toEqual([[1], [2, 3, 4], [5, 6]])
      yield* release(2)
      expect(yield* Fiber.join(rest)).toEqual([4, 6, 8, 10, 12])
    })
  )

  it.effect("a defect in a batch reaches each of its callers, and the next batch still goes", () =>
    Effect.gen(function* () {
      const { batcher, sent, release } = yield* server
      const busy = yield* Effect.forkChild(batcher.call(0))
      yield* Effect.yieldNow
      const broken = yield* Effect.forkChild(
        Effect.all(
          [7, -1].map((n) => Effect.exit(batcher.call(n))),
          { concurrency: "unbounded" }
        )
      )
      yield* Effect.yieldNow
      yield* release(0)
      yield* Fiber.join(busy)
      yield* Effect.yieldNow
      yield* release(1)
      const exits = yield* Fiber.join(broken)
      expect(exits.every((exit) => Exit.hasDies(exit))).toBe(true)
      const after = yield* Effect.forkChild(batcher.call(4))
      yield* Effect.yieldNow
      yield* release(2)
      expect(yield* Fiber.join(after)).toBe(8)
      expect(sent).toEqual([[0], [7, -1], [4]])
    })
  )

  it.effect("a caller interrupted while it waits is never sent", () =>
    Effect.gen(function* () {
      const { batcher, sent, release } = yield* server
      const busy = yield* Effect.forkChild(batcher.call(1))
      yield* Effect.yieldNow
      const gone = yield* Effect.forkChild(batcher.call(2))
      const kept = yield* Effect.forkChild(batcher.call(3))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(gone)
      yield* release(0)
      yield* Fiber.join(busy)
      yield* Effect.yieldNow
      yield* release(1)
      expect(yield* Fiber.join(kept)).toBe(6)
      expect(sent).toEqual([[1], [3]])
    })
  )
})
