/**
 * The simulator's deterministic executor: a virtual `Clock` and a `Scheduler`, driven by one
 * synchronous loop (run every ready task until none is left, then move time to the next
 * sleeper and wake it). Nothing in a run touches a real timer, so a run is a pure function of
 * its seed and as fast as its fibers.
 *
 * The scheduler is FIFO, or, given a `shuffle` stream, runs the ready tasks in an order drawn from
 * it, and sleepers due at the same moment wake in a drawn order: each seed then also explores
 * another interleaving of the same fibers (a stress seed), not only other ids and faults.
 *
 * Both are plain Effect 4 services: the clock is provided as `Clock.Clock` (so `Effect.sleep`,
 * `Clock.currentTimeMillis` and every timeout read it), the scheduler is the run's
 * `Scheduler` (`Effect.runFork(effect, { scheduler })`), and every fiber of the run gets its one
 * dispatcher, so tasks run strictly in the order they were scheduled, whichever fiber queued them.
 *
 * Why not `TestClock`: it is moved from inside the program (`TestClock.adjust`, by a known
 * amount, a scheduler turn per woken sleeper, a latch and a warning fiber per sleep), while a
 * simulated world's fibers sleep on their own and only the loop below knows when all of them
 * are blocked. The virtual clock has the same semantics (sleepers wake in deadline order, time
 * only moves when everything is blocked) and every service still reads time through Effect's
 * `Clock`, exactly as under `TestClock`.
 */
import { Clock, Duration, Effect, type Exit, type Fiber, type Scheduler } from "effect"
import { ExternalIo } from "./simIo.js"
import type { Prng } from "./simPrng.js"

interface Sleeper {
  readonly atMs: number
  readonly seq: number
  readonly wake: () => void
  /** Interrupted: left in the heap, dropped when it comes up (`prune`). */
  cancelled: boolean
}

const before = (x: Sleeper, y: Sleeper): boolean => x.atMs < y.atMs || (x.atMs === y.atMs && x.seq < y.seq)

/** Virtual time: sleepers wait in a binary heap ordered by (deadline, arrival or a drawn rank). */
export class SimClock implements Clock.Clock {
  private heap: Array<Sleeper> = []
  private seq = 0
  private readonly shuffle: Prng | undefined

  constructor(
    public nowMs: number,
    shuffle?: Prng
  ) {
    this.shuffle = shuffle?.fork("sleepers")
  }

  currentTimeMillisUnsafe(): number {
    return this.nowMs
  }

  currentTimeNanosUnsafe(): bigint {
    return BigInt(Math.floor(this.nowMs * 1_000_000))
  }

  /** Virtual time never goes back: it is the monotonic time too. */
  monotonicTimeNanosUnsafe(): bigint {
    return this.currentTimeNanosUnsafe()
  }

  readonly currentTimeMillis: Effect.Effect<number> = Effect.sync(() => this.nowMs)
  readonly currentTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.currentTimeNanosUnsafe())
  readonly monotonicTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.monotonicTimeNanosUnsafe())

  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return this.sleepMs(Duration.toMillis(duration))
  }

  /**
   * `sleep` in milliseconds. As Effect's own clock: nothing to wait is a yield, forever is never,
   * and an interrupted sleep is cancelled (marked, and dropped from the heap when it comes up), so
   * time never moves to a deadline nobody waits for and a deadlock is seen as soon as it happens.
   */
  sleepMs(ms: number): Effect.Effect<void> {
    if (!(ms > 0)) return Effect.yieldNow
    if (!Number.isFinite(ms)) return Effect.never
    // One parameter only: `Effect.callback` makes an AbortController for a register taking two.
    return Effect.callback<void>((resume) => {
      const sleeper: Sleeper = {
        atMs: this.nowMs + ms,
        // Shuffled: sleepers due together wake in a drawn order (ties broken by arrival).
        seq:
          this.shuffle === undefined
            ? this.seq++
            : this.shuffle.int(0, (1 << 20) - 1) * 4096 + (this.seq++ % 4096),
        wake: () => resume(Effect.void),
        cancelled: false
      }
      this.push(sleeper)
      return Effect.sync(() => {
        sleeper.cancelled = true
      })
    })
  }

  /** The next deadline of a live sleeper, if any sleeps. */
  peekMs(): number | undefined {
    this.prune()
    return this.heap[0]?.atMs
  }

  /**
   * Moves time to the earliest deadline and wakes every sleeper due then, in (deadline, arrival)
   * order; false when none sleeps. A woken fiber runs at once, on this call stack, as under a
   * real timer: Effect resumes a fiber inside the callback's `resume`.
   */
  advance(): boolean {
    const atMs = this.peekMs()
    if (atMs === undefined) return false
    if (atMs > this.nowMs) this.nowMs = atMs
    while (this.heap.length > 0 && this.heap[0]!.atMs <= this.nowMs) {
      const sleeper = this.pop()!
      if (!sleeper.cancelled) sleeper.wake()
    }
    return true
  }

  private prune() {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop()
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

type Task = () => void

/**
 * Runs tasks in the order they were scheduled (by priority first, lower first, as the
 * `SchedulerDispatcher` contract says; Effect itself only uses priority 0). Every fiber of a run
 * shares its one dispatcher, so the order is global. `runReady` runs until none is left.
 */
export class SimScheduler implements Scheduler.Scheduler, Scheduler.SchedulerDispatcher {
  readonly executionMode = "sync" as const
  private queue: Array<Task | undefined> = []
  private head = 0
  private readonly shuffle: Prng | undefined

  constructor(shuffle?: Prng) {
    this.shuffle = shuffle?.fork("tasks")
  }
  /** Tasks of another priority than 0, kept sorted by (priority, arrival): none in practice. */
  private others: Array<{ readonly priority: number; readonly task: Task }> = []
  tasksRun = 0
  /** Run-loop steps: the runtime asks whether to yield once per step. */
  steps = 0

  /**
   * Yields once a fiber ran its `References.MaxOpsBeforeYield` operations (2048 by default), as
   * Effect's own scheduler does; the budget is read from the fiber's cached references.
   */
  shouldYield(fiber: Fiber.Fiber<unknown, unknown>): boolean {
    this.steps++
    return fiber.currentOpCount >= fiber.cache.maxOpsBeforeYield
  }

  makeDispatcher(): Scheduler.SchedulerDispatcher {
    return this
  }

  scheduleTask(task: Task, priority: number): void {
    if (priority === 0) {
      this.queue.push(task)
      return
    }
    let at = this.others.length
    while (at > 0 && this.others[at - 1]!.priority > priority) at--
    this.others.splice(at, 0, { priority, task })
  }

  /** Runs every ready task (and the ones they schedule); the runtime's own synchronous drain. */
  flush(): void {
    this.runReady(Number.POSITIVE_INFINITY)
  }

  /**
   * Runs ready tasks until none is left, or until the run took `maxSteps` runtime steps in all
   * (false): a fiber that never waits still yields every few thousand steps, so a livelock comes
   * back here, while a fiber resumed by another runs inline and queues no task.
   */
  runReady(maxSteps: number): boolean {
    while (this.head < this.queue.length || this.others.length > 0) {
      if (this.steps >= maxSteps) return false
      this.tasksRun++
      this.next()()
    }
    this.queue = []
    this.head = 0
    return true
  }

  /** The next task: of a negative priority, else of priority 0, else of a positive one. */
  private next(): Task {
    const others = this.others
    if (others.length > 0 && (others[0]!.priority < 0 || this.head >= this.queue.length)) {
      return others.shift()!.task
    }
    const queue = this.queue
    if (this.shuffle !== undefined) {
      // Any ready task may go next: swap a drawn one to the head.
      const pick = this.shuffle.int(this.head, queue.length - 1)
      const drawn = queue[pick]!
      queue[pick] = queue[this.head]
      queue[this.head] = drawn
    }
    const task = queue[this.head]!
    queue[this.head++] = undefined
    return task
  }
}

export type Outcome<A, E> =
  | { readonly _tag: "Done"; readonly exit: Exit.Exit<A, E> }
  /** Every fiber is blocked and nobody sleeps: nothing can ever happen again. */
  | { readonly _tag: "Deadlock"; readonly atMs: number }
  /** Virtual time passed `maxTimeMs`, or the run took `maxSteps` runtime steps, before the end. */
  | { readonly _tag: "OutOfBudget"; readonly atMs: number; readonly reason: string }

export interface Limits {
  /** The stream the order of ready tasks and simultaneous sleepers is drawn from; FIFO when absent. */
  readonly shuffle?: Prng | undefined
  readonly startMs: number
  readonly maxTimeMs: number
  readonly maxSteps: number
}

/** The outcome of a run that took more runtime steps than its limit. */
const outOfSteps = (clock: SimClock, limits: Limits): Outcome<never, never> => ({
  _tag: "OutOfBudget",
  atMs: clock.nowMs,
  reason: `more than ${limits.maxSteps} runtime steps`
})

/** Runs `make(clock)` to its end on virtual time, synchronously. */
export const runDeterministic = <A, E>(make: (clock: SimClock) => Effect.Effect<A, E>, limits: Limits) => {
  const clock = new SimClock(limits.startMs, limits.shuffle)
  const scheduler = new SimScheduler(limits.shuffle)
  const fiber = Effect.runFork(Effect.provideService(make(clock), Clock.Clock, clock), { scheduler })
  let outcome: Outcome<A, E> | undefined
  while (outcome === undefined) {
    if (!scheduler.runReady(limits.maxSteps)) {
      outcome = outOfSteps(clock, limits)
      break
    }
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) outcome = { _tag: "Done", exit }
    else if ((clock.peekMs() ?? Number.POSITIVE_INFINITY) > limits.maxTimeMs) {
      outcome =
        clock.peekMs() === undefined
          ? { _tag: "Deadlock", atMs: clock.nowMs }
          : { _tag: "OutOfBudget", atMs: clock.nowMs, reason: `virtual time past ${limits.maxTimeMs}` }
    } else clock.advance()
  }
  return { outcome, tasksRun: scheduler.tasksRun, steps: scheduler.steps, endMs: clock.nowMs }
}

/** Longest real wait for an answer from outside before the run is given up (a hung database). */
export const ioAnswerTimeoutMs = 120_000

/**
 * `runDeterministic` for a world with ports outside the simulator (simIo.ts): the same loop, but
 * while a call is outstanding it awaits the answer instead of moving time, so a query in flight
 * is never taken for a deadlock and never lets a sleeper wake early. A separate function, so the
 * in-memory loop stays synchronous and exactly as it was.
 */
export const runWithIo = async <A, E>(
  make: (clock: SimClock, io: ExternalIo) => Effect.Effect<A, E>,
  limits: Limits
) => {
  const clock = new SimClock(limits.startMs, limits.shuffle)
  const scheduler = new SimScheduler(limits.shuffle)
  const io = new ExternalIo(clock)
  const fiber = Effect.runFork(Effect.provideService(make(clock, io), Clock.Clock, clock), { scheduler })
  let outcome: Outcome<A, E> | undefined
  let ioWaits = 0
  while (outcome === undefined) {
    if (!scheduler.runReady(limits.maxSteps)) {
      outcome = outOfSteps(clock, limits)
      break
    }
    io.settle()
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) outcome = { _tag: "Done", exit }
    else if (io.hasAnswers) io.drain()
    else if (io.busy) {
      ioWaits++
      if (!(await io.changed(ioAnswerTimeoutMs))) {
        outcome = {
          _tag: "OutOfBudget",
          atMs: clock.nowMs,
          reason: `no answer from outside the simulator within ${ioAnswerTimeoutMs / 1000}s`
        }
      }
    } else if ((clock.peekMs() ?? Number.POSITIVE_INFINITY) > limits.maxTimeMs) {
      outcome =
        clock.peekMs() === undefined
          ? { _tag: "Deadlock", atMs: clock.nowMs }
          : { _tag: "OutOfBudget", atMs: clock.nowMs, reason: `virtual time past ${limits.maxTimeMs}` }
    } else clock.advance()
  }
  // Calls nobody waits for any more (a crashed process's) still run outside: let them end, so
  // nothing of this run touches the ports once it returns. A run given up does not wait.
  while (outcome._tag === "Done" && io.busy && (await io.changed(ioAnswerTimeoutMs))) {
    io.drain()
    scheduler.runReady(limits.maxSteps)
    io.settle()
  }
  return { outcome, tasksRun: scheduler.tasksRun, steps: scheduler.steps, endMs: clock.nowMs, ioWaits }
}
