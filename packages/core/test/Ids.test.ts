import { describe, expect, it } from "@effect/vitest"
import { Effect, Random } from "effect"
import { vi } from "vitest"
import * as Ids from "../src/Ids.js"

const drawFrom = (layer: typeof Ids.layer, n: number) =>
  Effect.gen(function* () {
    const ids = yield* Ids.Ids
    return yield* Effect.forEach(Array.from({ length: n }), () => ids.next("ord"))
  }).pipe(Effect.provide(layer, { local: true }))

const draw = (seed: number, n: number) => drawFrom(Ids.layerSeeded(seed), n)

describe("Ids", () => {
  describe("layer (Web Crypto)", () => {
    it.effect("a prefix, an underscore and 26 base-32 characters (130 random bits)", () =>
      Effect.gen(function* () {
        const ids = yield* drawFrom(Ids.layer, 500)
        for (const id of ids) expect(id).toMatch(/^ord_[0-9a-hjkmnp-tv-z]{26}$/)
        expect(new Set(ids).size).toBe(500)
      })
    )

    it.effect("ignores the fiber's Random: two processes seeded alike still mint different ids", () =>
      Effect.gen(function* () {
        // Effect's default Random is seeded from 32 bits: two processes may share a seed.
        const first = yield* drawFrom(Ids.layer, 50).pipe(Random.withSeed(42))
        const second = yield* drawFrom(Ids.layer, 50).pipe(Random.withSeed(42))
        expect(new Set([...first, ...second]).size).toBe(100)
      })
    )

    it.effect("draws from globalThis.crypto.getRandomValues", () =>
      Effect.gen(function* () {
        const spy = vi.spyOn(globalThis.crypto, "getRandomValues")
        try {
          yield* drawFrom(Ids.layer, 3)
          expect(spy).toHaveBeenCalledTimes(3)
        } finally {
          spy.mockRestore()
        }
      })
    )

    it.effect("every character of the alphabet appears in every position (no dead bits)", () =>
      Effect.gen(function* () {
        const ids = yield* drawFrom(Ids.layer, 4_000)
        for (let position = 4; position < 4 + Ids.randomIdLength; position++) {
          expect(new Set(ids.map((id) => id[position])).size).toBe(32)
        }
      })
    )
  })

  describe("layerSeeded", () => {
    it.effect("a prefix, an underscore and 20 base-32 characters; the same seed gives the same ids", () =>
      Effect.gen(function* () {
        const first = yield* draw(42, 500)
        for (const id of first) expect(id).toMatch(/^ord_[0-9a-hjkmnp-tv-z]{20}$/)
        expect(new Set(first).size).toBe(500)
        expect(yield* draw(42, 500)).toEqual(first)
        expect(yield* draw(43, 500)).not.toEqual(first)
      })
    )

    it.effect("every character of the alphabet appears in every position (no dead bits)", () =>
      Effect.gen(function* () {
        const ids = yield* draw(7, 4_000)
        for (let position = 4; position < 4 + Ids.seededIdLength; position++) {
          expect(new Set(ids.map((id) => id[position])).size).toBe(32)
        }
      })
    )
  })
})
