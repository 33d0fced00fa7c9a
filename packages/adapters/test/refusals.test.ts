/**
 * The Redis rate-limit store's refusal cache on its own (no server): what it keeps, what it
 * answers, when it lets go, and its bound. Its answers against Redis and the sliding-window model
 * are tested in redis.stores.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Refusals from "../src/redis/internal/refusals.js"

const request = (
  key: string,
  nowMs: number,
  more: { limit?: number; windowMs?: number; cost?: number } = {}
) => ({
  key,
  limit: more.limit ?? 3,
  windowMs: more.windowMs ?? 1_000,
  cost: more.cost ?? 1,
  nowMs
})
const refused = (retryAfterMs: number) => ({ allowed: false, remaining: 0, retryAfterMs })

describe("Refusals", () => {
  it("answers a kept refusal of one unit until it ends, and only for the same limit, window and one unit", () => {
    const refusals = Refusals.make(10)
    refusals.remember(request("a", 1_000), refused(400))
    expect(refusals.answer(request("a", 1_100))).toEqual(refused(300))
    expect(refusals.answer(request("a", 1_399))).toEqual(refused(1))
    expect(refusals.answer(request("a", 1_100, { cost: 2 }))).toBeUndefined()
    expect(refusals.answer(request("a", 1_100, { limit: 4 }))).toBeUndefined()
    expect(refusals.answer(request("a", 1_100, { windowMs: 2_000 }))).toBeUndefined()
    expect(refusals.answer(request("b", 1_100))).toBeUndefined()
    expect(refusals.answer(request("a", 1_400))).toBeUndefined()
    expect(refusals.size()).toBe(0)
  })

  it("keeps neither admissions nor refusals of several units", () => {
    const refusals = Refusals.make(10)
    refusals.remember(request("a", 1_000), { allowed: true, remaining: 0, retryAfterMs: 0 })
    refusals.remember(request("b", 1_000, { cost: 2 }), refused(400))
    expect(refusals.size()).toBe(0)
  })

  it("holds at most maxKeys, the refusal kept longest going first; 0 keeps none", () => {
    const refusals = Refusals.make(2)
    refusals.remember(request("a", 1_000), refused(500))
    refusals.remember(request("b", 1_000), refused(500))
    refusals.remember(request("a", 1_001), refused(499))
    refusals.remember(request("c", 1_000), refused(500))
    expect(refusals.size()).toBe(2)
    expect(refusals.answer(request("b", 1_100))).toBeUndefined()
    expect(refusals.answer(request("a", 1_100))).toEqual(refused(400))
    const none = Refusals.make(0)
    none.remember(request("a", 1_000), refused(500))
    expect(none.answer(request("a", 1_100))).toBeUndefined()
  })
})
