import { describe, expect, it } from "@effect/vitest"
import { Checker, finalAnswer } from "../src/internal/simInvariants.js"
import { Trace } from "../src/internal/simTrace.js"

// The client-side rate-limit check: more first final answers than the limit inside one window is
// an admission the limiter must have refused. A key's work can only have been admitted after the
// key was first sent, which is where its span starts, not at the send of the retry that got its
// final answer (seed 35047: a checkout lost its connection at 110.8 s, its retry was answered 201
// at 151.9 s, and ten more checkouts were answered at 198.4-198.7 s).
describe("the simulator's client-side rate-limit check", () => {
  const make = () => {
    let now = 0
    const clock = () => now
    const checker = new Checker(
      new Trace(clock, 0, "full"),
      clock,
      0,
      { checkout: { limit: 10, windowMs: 60_000 } },
      [],
      new Map()
    )
    const final = finalAnswer({ _tag: "error", error: { _tag: "CartNotActive", cartId: "c" } })
    const notFinal = finalAnswer({ _tag: "error", error: { _tag: "Unreachable" } })
    const answer = (key: string, sentAtMs: number, answeredAtMs: number, isFinal = true) => {
      now = answeredAtMs
      checker.sent("u1", "place", key, sentAtMs)
      checker.answered("u1", "place", key, "body", isFinal ? final : notFinal, sentAtMs)
    }
    return { checker, answer }
  }

  it("a key answered on a retry counts from its first send", () => {
    const { checker, answer } = make()
    answer("k0", 110_000, 110_800, false) // connection lost: admitted, maybe, but no final answer
    answer("k0", 150_000, 151_900) // the retry's final answer
    for (let i = 1; i <= 10; i++) answer(`k${i}`, 198_400, 198_400 + i * 10)
    expect(checker.violations).toEqual([])
  })

  it("eleven keys sent and answered inside one window are a violation", () => {
    const { checker, answer } = make()
    answer("k0", 150_000, 151_900)
    for (let i = 1; i <= 10; i++) answer(`k${i}`, 198_400, 198_400 + i * 10)
    expect(checker.violations.map((v) => v.invariant)).toEqual(["rate-limit"])
  })
})
