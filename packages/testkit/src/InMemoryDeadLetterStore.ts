/**
 * The DeadLetterStore port in memory (DeadLetterStore.ts): one letter per order, bounded by
 * `maxLetters` (a full store refuses a new order's letter with `StoreUnavailable`; a letter that
 * replaces one of the same order is always accepted).
 */
import { Effect, Layer } from "effect"
import { DeadLetterStore } from "@till/core"
import { full, pageLimit, requireCapacity } from "./internal/limits.js"

export interface Options {
  readonly maxLetters?: number
}

export const defaultMaxLetters = 100_000

type Letter = DeadLetterStore.DeadLetter

const oldestFirst = (a: Letter, b: Letter): number =>
  a.failedAt - b.failedAt || (a.orderId < b.orderId ? -1 : a.orderId > b.orderId ? 1 : 0)

export const make = (options: Options = {}): Effect.Effect<DeadLetterStore.DeadLetterStore["Service"]> =>
  Effect.sync(() => {
    const maxLetters = requireCapacity("maxLetters", options.maxLetters ?? defaultMaxLetters)
    const letters = new Map<string, Letter>()

    return DeadLetterStore.DeadLetterStore.of({
      put: (letter) =>
        Effect.suspend(() => {
          if (!letters.has(letter.orderId) && letters.size >= maxLetters)
            return full("dead-letter", maxLetters)
          letters.set(letter.orderId, { ...letter })
          return Effect.void
        }),
      list: (limit) => Effect.sync(() => [...letters.values()].sort(oldestFirst).slice(0, pageLimit(limit)))
    })
  })

export const layer: Layer.Layer<DeadLetterStore.DeadLetterStore> = Layer.effect(
  DeadLetterStore.DeadLetterStore,
  make()
)

export const layerWith = (options: Options): Layer.Layer<DeadLetterStore.DeadLetterStore> =>
  Layer.effect(DeadLetterStore.DeadLetterStore, make(options))
