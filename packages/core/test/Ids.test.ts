import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Ids from "../src/Ids.js"

const draw = (seed: number, n: number) =>
  Effect.gen(function* () {
    const ids = yield* Ids.Ids
    return yield* Effect.forEach(Array.from({ length: n }), () => ids.next("ord"))
  }).pipe(Effect.provide(Ids.layerSeeded(seed)))

describe("Ids", () => {
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
      for (let position = 4; position < 24; position++) {
        expect(new Set(ids.map((id) => id[position])).size).toBe(32)
      }
    })
  )
})
