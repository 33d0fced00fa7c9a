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

    it.effect("draws from globalThis.crypto.getRandomValues a 4 KiB block at a time, each byte once", () =>
      Effect.gen(function* () {
        const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
        let calls = 0
        const spy = vi.spyOn(globalThis.crypto, "getRandomValues").mockImplementation(<T>(array: T) => {
          const bytes = array as unknown as Uint8Array
          calls++
          // Byte i of block c is (i + c) mod 256: where an id's bytes came from shows in the id.
          for (let i = 0; i < bytes.length; i++) bytes[i] = (i + calls) & 255
          return array
        })
        try {
          const perBlock = Math.floor(4_096 / Ids.randomIdLength)
          const ids = yield* drawFrom(Ids.layer, perBlock + 1)
          expect(calls).toBe(2)
          const expected = (block: number, from: number) =>
            `ord_${Array.from({ length: Ids.randomIdLength }, (_, i) => alphabet[(from + i + block) & 31]).join("")}`
          // Consecutive ids take consecutive bytes of the block, never the same ones...
          expect(ids[0]).toBe(expected(1, 0))
          expect(ids[1]).toBe(expected(1, Ids.randomIdLength))
          expect(ids[perBlock - 1]).toBe(expected(1, (perBlock - 1) * Ids.randomIdLength))
          // ...and the id that does not fit in what is left of the block comes from a fresh one.
          expect(ids[perBlock]).toBe(expected(2, 0))
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
