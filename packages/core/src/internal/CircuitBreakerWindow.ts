/**
 * The sliding windows behind `CircuitBreaker`, after Resilience4j's `FixedSizeSlidingWindowMetrics`
 * (count-based) and `SlidingTimeWindowMetrics` (time-based).
 *
 * Both keep running totals next to the raw data so that recording a call and reading the rates are
 * O(1) (amortised O(1) for the time window), with no allocation on the hot path: typed arrays, plain
 * mutable counters. They are only ever touched from inside one synchronous step of a fiber, so
 * JavaScript's run-to-completion gives every update exclusive access; that is the whole concurrency
 * story, and why there is no `Ref` here.
 *
 * Invariant (both windows): `calls`, `failedCalls` and `slowCalls` equal the sums over the calls
 * still inside the window, and `0 <= failedCalls, slowCalls <= calls <= capacity of the window`.
 */

/** Bit flags of one recorded call. */
export const OUTCOME_FAILED = 1
export const OUTCOME_SLOW = 2

export interface Window {
  /** Calls currently inside the window. */
  readonly calls: number
  readonly failedCalls: number
  readonly slowCalls: number
  /** Records one call (a bit set of `OUTCOME_*`) completed at `nowMs`. */
  record(outcome: number, nowMs: number): void
  /** Drops whatever has slid out of the window by `nowMs` (a no-op for count windows). */
  advance(nowMs: number): void
}

/** The last `size` calls, in a ring buffer of outcome bytes. */
export class CountWindow implements Window {
  calls = 0
  failedCalls = 0
  slowCalls = 0
  private readonly outcomes: Uint8Array
  private head = 0

  constructor(readonly size: number) {
    this.outcomes = new Uint8Array(size)
  }

  record(outcome: number): void {
    if (this.calls === this.size) {
      // The ring is full: the slot at `head` holds the oldest call, which slides out now.
      const evicted = this.outcomes[this.head]!
      this.failedCalls -= evicted & OUTCOME_FAILED
      this.slowCalls -= (evicted & OUTCOME_SLOW) >> 1
    } else {
      this.calls++
    }
    this.outcomes[this.head] = outcome
    this.failedCalls += outcome & OUTCOME_FAILED
    this.slowCalls += (outcome & OUTCOME_SLOW) >> 1
    this.head = this.head + 1 === this.size ? 0 : this.head + 1
  }

  advance(): void {}
}

/**
 * The calls of the last `sizeSeconds` seconds, in one bucket per epoch second. The window covers the
 * current (partial) second and the `sizeSeconds - 1` before it, as Resilience4j's does.
 */
export class TimeWindow implements Window {
  calls = 0
  failedCalls = 0
  slowCalls = 0
  private readonly bucketCalls: Uint32Array
  private readonly bucketFailed: Uint32Array
  private readonly bucketSlow: Uint32Array
  private currentSecond: number

  constructor(
    readonly sizeSeconds: number,
    nowMs: number
  ) {
    this.bucketCalls = new Uint32Array(sizeSeconds)
    this.bucketFailed = new Uint32Array(sizeSeconds)
    this.bucketSlow = new Uint32Array(sizeSeconds)
    this.currentSecond = Math.floor(nowMs / 1000)
  }

  record(outcome: number, nowMs: number): void {
    this.advance(nowMs)
    const index = this.currentSecond % this.sizeSeconds
    const failed = outcome & OUTCOME_FAILED
    const slow = (outcome & OUTCOME_SLOW) >> 1
    this.bucketCalls[index]! += 1
    this.bucketFailed[index]! += failed
    this.bucketSlow[index]! += slow
    this.calls += 1
    this.failedCalls += failed
    this.slowCalls += slow
  }

  advance(nowMs: number): void {
    const second = Math.floor(nowMs / 1000)
    // A clock that steps back (it can, outside TestClock) must never un-count calls: stay put.
    if (second <= this.currentSecond) return
    // Clear every bucket the window slid over, at most the whole ring.
    const cleared = Math.min(second - this.currentSecond, this.sizeSeconds)
    for (let step = 1; step <= cleared; step++) {
      const index = (this.currentSecond + step) % this.sizeSeconds
      this.calls -= this.bucketCalls[index]!
      this.failedCalls -= this.bucketFailed[index]!
      this.slowCalls -= this.bucketSlow[index]!
      this.bucketCalls[index] = 0
      this.bucketFailed[index] = 0
      this.bucketSlow[index] = 0
    }
    this.currentSecond = second
  }
}
