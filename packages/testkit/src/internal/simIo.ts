/**
 * Real I/O under the virtual clock: ports given from outside the simulator (a database) answer
 * when the world outside answers, so a fiber waiting for one is neither ready nor sleeping. The
 * executor's loop must then wait for the answer instead of moving time (or calling it a deadlock):
 * `ExternalIo` counts what is outstanding and wakes the loop (`runWithIo` in simRuntime.ts).
 *
 * Decisions, and why:
 * - Each call of an outside port runs on Effect's default runtime (`Effect.runFork`: real timers,
 *   Node's scheduler), never on the simulator's scheduler or clock: a driver's own timeouts and
 *   pool timers are real time, so virtual time jumping ahead (a 40-minute settle) cannot fire
 *   them. Only the clock's *readings* are virtual (`IoClock`): a store that stamps rows with
 *   `Clock.currentTimeMillis` (an idempotency lease) stamps them in the run's time.
 * - A call takes no virtual time: the loop moves time only when no call is outstanding, so the
 *   store's round trip is zero virtual milliseconds (the fault plan still adds its latency around
 *   it, as for the in-memory stores).
 * - Answers are taken in by the loop (`drain`), one after another on its own stack, not inside
 *   the driver's callbacks: the simulated fibers only ever run when the loop runs them.
 * - An interrupted caller (a crashed process) stops waiting, but its statement runs to its end
 *   and stays counted until then: a database does not roll back a statement because its client
 *   went away, and nothing outside may still be running when the loop moves time.
 * - Reads of the invariant checks are consistent (`quiet`): a check that reads several tables
 *   waits until no store call is outstanding and none starts until it is done, so it never sees a
 *   write whose answer (and the ledger entry the store wrapper makes from it) the world has not
 *   taken in yet. In memory every call is atomic and this holds for free.
 * - Runs on real ports are not deterministic: which of two concurrent statements the database
 *   answers first, and so the order fibers resume in, is the database's business. The seed still
 *   draws the same world, faults and shoppers.
 */
import { Clock, Duration, Effect, type Exit } from "effect"

/** A call of a port's method (may be queued behind a check), or a read of the checks. */
export type IoKind = "store" | "probe"

/** Virtual readings, real waits: the clock of every call run outside the simulator. */
class IoClock implements Clock.Clock {
  constructor(private readonly virtual: Clock.Clock) {}
  currentTimeMillisUnsafe(): number {
    return this.virtual.currentTimeMillisUnsafe()
  }
  currentTimeNanosUnsafe(): bigint {
    return this.virtual.currentTimeNanosUnsafe()
  }
  monotonicTimeNanosUnsafe(): bigint {
    return this.virtual.monotonicTimeNanosUnsafe()
  }
  readonly currentTimeMillis: Effect.Effect<number> = Effect.sync(() => this.currentTimeMillisUnsafe())
  readonly currentTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.currentTimeNanosUnsafe())
  readonly monotonicTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.monotonicTimeNanosUnsafe())
  sleep(duration: Duration.Duration): Effect.Effect<void> {
    const ms = Duration.toMillis(duration)
    if (!(ms > 0)) return Effect.yieldNow
    if (!Number.isFinite(ms)) return Effect.never
    return Effect.callback<void>((resume) => {
      const timer = setTimeout(() => resume(Effect.void), Math.min(ms, 2 ** 31 - 1))
      return Effect.sync(() => clearTimeout(timer))
    })
  }
}

export class ExternalIo {
  private readonly clock: IoClock
  /** Store calls started whose answer the loop has not taken in (queued ones wait in `queued`). */
  private storeOps = 0
  private probeOps = 0
  /** Store calls whose answer was taken in since the ready fibers last ran (their wrappers may not have seen it yet). */
  private settling = 0
  /** Checks holding the world quiet, and checks waiting to. */
  private quietHolders = 0
  private quietWaiters: Array<() => void> = []
  /** Store calls waiting for the quiet checks to end. */
  private queued: Array<() => void> = []
  /** Answers (and grants) for the loop to take in, in arrival order. */
  private completions: Array<() => void> = []
  private wake: (() => void) | undefined

  constructor(virtual: Clock.Clock) {
    this.clock = new IoClock(virtual)
  }

  /** Whether anything outside is outstanding: the loop must wait before it moves time. */
  get busy(): boolean {
    return (
      this.storeOps + this.probeOps + this.settling + this.quietWaiters.length + this.queued.length > 0 ||
      this.completions.length > 0
    )
  }

  get hasAnswers(): boolean {
    return this.completions.length > 0
  }

  /** `effect`, run outside the simulator, as a step of the calling fiber. */
  call<A, E>(kind: IoKind, effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.callback<A, E>((resume) => {
      const start = () => {
        const fiber = Effect.runFork(Effect.provideService(effect, Clock.Clock, this.clock))
        fiber.addObserver((exit: Exit.Exit<A, E>) => {
          this.completions.push(() => {
            if (kind === "store") {
              this.storeOps--
              this.settling++
            } else this.probeOps--
            resume(exit)
          })
          this.notify()
        })
      }
      if (kind === "probe") {
        this.probeOps++
        start()
      } else if (this.quietHolders > 0 || this.quietWaiters.length > 0) this.queued.push(start)
      else {
        this.storeOps++
        start()
      }
    })
  }

  /** `effect` with no store call outstanding or starting while it runs (the checks' reads). */
  quiet<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    const acquire = Effect.callback<void>((resume) => {
      // A grant is taken in by the loop like an answer; a waiter interrupted in between gives it back.
      let state: "waiting" | "granted" | "holding" | "cancelled" = "waiting"
      const grant = () => {
        if (state === "cancelled") return this.leaveQuiet()
        state = "holding"
        resume(Effect.void)
      }
      const waiter = () => {
        state = "granted"
        this.completions.push(grant)
      }
      this.quietWaiters.push(waiter)
      this.pump()
      return Effect.sync(() => {
        if (state === "waiting") {
          state = "cancelled"
          this.quietWaiters = this.quietWaiters.filter((w) => w !== waiter)
          this.pump()
        } else if (state === "granted") state = "cancelled"
      })
    })
    return Effect.acquireUseRelease(
      acquire,
      () => effect,
      () => Effect.sync(() => this.leaveQuiet())
    )
  }

  private leaveQuiet() {
    this.quietHolders--
    this.pump()
  }

  /** Takes in every answer that arrived, in order; the loop runs the ready fibers next. */
  drain(): void {
    while (this.completions.length > 0) {
      const batch = this.completions
      this.completions = []
      for (const complete of batch) complete()
    }
  }

  /** The fibers that took answers in have run since: their wrappers saw them. */
  settle(): void {
    this.settling = 0
    this.pump()
  }

  /** Resolves when an answer arrives, or after `timeoutMs` (false) of real time. */
  changed(timeoutMs: number): Promise<boolean> {
    if (this.completions.length > 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined
        resolve(false)
      }, timeoutMs)
      this.wake = () => {
        clearTimeout(timer)
        this.wake = undefined
        resolve(true)
      }
    })
  }

  private notify() {
    this.wake?.()
  }

  /** Grants waiting checks once no store call is outstanding; starts queued calls once no check holds. */
  private pump() {
    if (this.quietWaiters.length > 0 && this.storeOps === 0 && this.settling === 0) {
      const grants = this.quietWaiters
      this.quietWaiters = []
      this.quietHolders += grants.length
      for (const grant of grants) grant()
      this.notify()
    }
    if (this.quietHolders === 0 && this.quietWaiters.length === 0 && this.queued.length > 0) {
      const starts = this.queued
      this.queued = []
      this.storeOps += starts.length
      for (const start of starts) start()
    }
  }
}

/**
 * Every Effect a port service holds or answers (methods, fields, nested objects of probes) as a
 * call through `io`; anything else as it is.
 */
export const bridge = <S>(io: ExternalIo, kind: IoKind, service: S): S => {
  if (Effect.isEffect(service)) return io.call(kind, service as Effect.Effect<unknown, unknown>) as S
  if (typeof service !== "object" || service === null || Array.isArray(service)) return service
  const bridged: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(service)) {
    bridged[name] =
      typeof value === "function"
        ? (...args: Array<unknown>) => {
            const result: unknown = value.apply(service, args)
            return Effect.isEffect(result) ? io.call(kind, result as Effect.Effect<unknown, unknown>) : result
          }
        : bridge(io, kind, value)
  }
  return bridged as S
}
