/**
 * The simulator's deterministic executor: a virtual `Clock` and a FIFO `Scheduler`, driven by
 * one synchronous loop (run every ready fiber until none is left, then move time to the next
 * sleeper and wake it). Nothing in a run touches a real timer, so a run is a pure function of
 * its seed and as fast as its fibers.
 *
 * Why not `TestClock`: every `TestClock.adjust` waits for the fibers to settle through real
 * `setTimeout(0)` polls (`awaitSuspended`), a millisecond or more per wake-up, which caps a
 * simulated world at a few hundred timer wake-ups per second. The virtual clock has the same
 * semantics (sleepers wake in deadline order, time only moves when everything is blocked) and
 * every service still reads time through Effect's `Clock`, exactly as under `TestClock`.
 */
import { Clock, Duration, Effect, type Exit, type Fiber, type Scheduler } from "effect"

interface Sleeper {
  readonly atMs: number
  readonly seq: number
  readonly wake: () => void
}

const before = (x: Sleeper, y: Sleeper): boolean => x.atMs < y.atMs || (x.atMs === y.atMs && x.seq < y.seq)

/** Virtual time: sleepers wait in a binary heap ordered by (deadline, arrival). */
export class SimClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  private heap: Array<Sleeper> = []
  private seq = 0

  constructor(public nowMs: number) {}

  readonly currentTimeMillis: Effect.Effect<number> = Effect.sync(() => this.nowMs)
  readonly currentTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.unsafeCurrentTimeNanos())

  unsafeCurrentTimeMillis(): number {
    return this.nowMs
  }

  unsafeCurrentTimeNanos(): bigint {
    return BigInt(Math.floor(this.nowMs * 1_000_000))
  }

  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return this.sleepMs(Duration.toMillis(duration))
  }

  /**
   * `sleep` without a `Duration` or a `Clock` lookup: what the simulator's own actors call.
   *
   * No canceller: `Effect.async` with one wraps the wait in `onInterrupt`, which costs more Effect
   * steps than the wait itself. An interrupted sleeper stays queued until its deadline, where its
   * wake-up is a no-op (a fiber ignores a second resume). Fibers see no difference; the executor
   * may move time to such a deadline with nothing to run, so a deadlock is reported at the last
   * such deadline (or as running out of virtual time, if that comes first).
   */
  sleepMs(ms: number): Effect.Effect<void> {
    if (!(ms > 0)) return Effect.void
    if (!Number.isFinite(ms)) return Effect.never
    return Effect.async<void>((resume) => {
      this.push({ atMs: this.nowMs + ms, seq: this.seq++, wake: () => resume(Effect.void) })
    })
  }

  /** The next deadline, if anyone sleeps (an interrupted sleeper's included, see `sleepMs`). */
  peekMs(): number | undefined {
    return this.heap[0]?.atMs
  }

  /** Moves time to the earliest deadline and wakes every sleeper due then; false when none sleeps. */
  advance(): boolean {
    const atMs = this.peekMs()
    if (atMs === undefined) return false
    if (atMs > this.nowMs) this.nowMs = atMs
    while (this.heap.length > 0 && this.heap[0]!.atMs <= this.nowMs) this.pop()!.wake()
    return true
  }

  private push(sleeper: Sleeper) {
    const heap = this.heap
    heap.push(sleeper)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }

  private pop(): Sleeper | undefined {
    const heap = this.heap
    const top = heap[0]
    const last = heap.pop()
    if (top === undefined || last === undefined || heap.length === 0) return top
    heap[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < heap.length && before(heap[l]!, heap[m]!)) m = l
      if (r < heap.length && before(heap[r]!, heap[m]!)) m = r
      if (m === i) break
      ;[heap[i], heap[m]] = [heap[m]!, heap[i]!]
      i = m
    }
    return top
  }
}

const maxOpsBeforeYield = 2048

/** Runs tasks strictly in the order they were scheduled; `flush` runs until none is left. */
export class SimScheduler implements Scheduler.Scheduler {
  private queue: Array<Scheduler.Task | undefined> = []
  private head = 0
  tasksRun = 0

  scheduleTask(task: Scheduler.Task): void {
    this.queue.push(task)
  }

  /**
   * Yields every 2048 steps, as Effect's default does, without reading the fiber's
   * `MaxOpsBeforeYield` ref on every step (it is read once per step otherwise: a few % of a run).
   */
  shouldYield(fiber: Fiber.RuntimeFiber<unknown, unknown>): number | false {
    return fiber.currentOpCount > maxOpsBeforeYield ? 0 : false
  }

  /** Runs ready tasks until none is left or `budget` tasks have run in all; false when over budget. */
  flush(budget: number): boolean {
    while (this.head < this.queue.length) {
      if (this.tasksRun >= budget) return false
      const task = this.queue[this.head]!
      this.queue[this.head++] = undefined
      this.tasksRun++
      task()
    }
    this.queue = []
    this.head = 0
    return true
  }
}

export type Outcome<A, E> =
  | { readonly _tag: "Done"; readonly exit: Exit.Exit<A, E> }
  /** Every fiber is blocked and nobody sleeps: nothing can ever happen again. */
  | { readonly _tag: "Deadlock"; readonly atMs: number }
  /** Virtual time passed `maxTimeMs`, or `maxTasks` scheduler tasks ran, before the end. */
  | { readonly _tag: "OutOfBudget"; readonly atMs: number; readonly reason: string }

export interface Limits {
  readonly startMs: number
  readonly maxTimeMs: number
  readonly maxTasks: number
}

/** Runs `make(clock)` to its end on virtual time, synchronously. */
export const runDeterministic = <A, E>(make: (clock: SimClock) => Effect.Effect<A, E>, limits: Limits) => {
  const clock = new SimClock(limits.startMs)
  const scheduler = new SimScheduler()
  const fiber = Effect.runFork(Effect.withClock(make(clock), clock), { scheduler })
  let outcome: Outcome<A, E> | undefined
  while (outcome === undefined) {
    if (!scheduler.flush(limits.maxTasks)) {
      outcome = {
        _tag: "OutOfBudget",
        atMs: clock.nowMs,
        reason: `more than ${limits.maxTasks} scheduler tasks`
      }
      break
    }
    const exit = fiber.unsafePoll()
    if (exit !== null) outcome = { _tag: "Done", exit }
    else if ((clock.peekMs() ?? Number.POSITIVE_INFINITY) > limits.maxTimeMs) {
      outcome =
        clock.peekMs() === undefined
          ? { _tag: "Deadlock", atMs: clock.nowMs }
          : { _tag: "OutOfBudget", atMs: clock.nowMs, reason: `virtual time past ${limits.maxTimeMs}` }
    } else clock.advance()
  }
  return { outcome, tasksRun: scheduler.tasksRun, endMs: clock.nowMs }
}
