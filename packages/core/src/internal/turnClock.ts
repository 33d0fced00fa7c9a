/**
 * The time a circuit breaker stamps its calls with.
 *
 * Under the live clock, the wall clock is read at most once per event-loop turn and that reading
 * is reused until the turn ends (nginx caches its time the same way, per event-loop iteration).
 * A breaker reads the time twice per call, to tell slow calls from fast ones, and on this class of
 * machine one `Date.now()` costs about as much as the rest of the breaker's bookkeeping; a
 * dependency's latency is I/O, which always ends in a later turn than it started, so it is
 * measured in full. What a cached reading cannot see is CPU work inside a single turn: a call that
 * never yields to the event loop is measured as taking 0 ms. Resolution is therefore "one turn",
 * which is far finer than any slow-call threshold (`slowCallDurationThresholdMs`, 1 ms at least
 * and seconds in practice).
 *
 * Any other clock (TestClock, a custom one) is read on every call: those are cheap and must be
 * exact, so tests under `TestClock` see time move exactly when they adjust it.
 *
 * Still worth it on Effect 4 (re-measured after the migration, bench/resilience.bench.ts's method,
 * best of 3 interleaved runs): `CircuitBreaker.execute` per call 393 ns with this against 496-511 ns
 * reading `Clock.currentTimeMillisUnsafe()` (`Date.now()`) twice per call, +30 %; the Promise door
 * 143 against 212 ns. Effect 3 with this measured 372 ns in the same runs, so without it the
 * breaker would be about a third slower than on Effect 3.
 */
import { Clock, Context } from "effect"

// The live clock is the default value of the `Clock` reference (what an empty context holds).
const liveClockClass = Context.get(Context.empty(), Clock.Clock).constructor

// Not every platform has setImmediate; a zero timeout also ends with the turn (later, never earlier).
const afterTurn: (f: () => void) => void =
  typeof globalThis.setImmediate === "function"
    ? (f) => globalThis.setImmediate(f)
    : (f) => globalThis.setTimeout(f, 0)

let cachedMs = 0
let cached = false
const expire = (): void => {
  cached = false
}

/** The wall clock in ms, read at most once per event-loop turn. */
export const turnMillis = (): number => {
  if (cached) return cachedMs
  cachedMs = Date.now()
  cached = true
  afterTurn(expire)
  return cachedMs
}

/** How a breaker made with `clock` reads the time. */
export const millisOf = (clock: Clock.Clock): (() => number) =>
  clock.constructor === liveClockClass ? turnMillis : () => clock.currentTimeMillisUnsafe()
