/**
 * Group commit for calls to one server: a call made while fewer than `maxInFlight` batches are
 * out is sent at once (with whatever waits), so a lone caller pays no delay; calls made while the
 * server is busy wait, and go together as the next batch when one returns. Under load the batch
 * grows by itself to what arrived during a round trip (capped at `maxBatch`): one command, one
 * breaker call and one reply instead of one each per call.
 *
 * Why not Effect's `RequestResolver`: it holds every batch, a lone call's too, for a scheduler
 * turn (`yieldNow`) and forks two fibers per batch; this sends a lone call at once on its caller's
 * fiber. Measured at concurrency 1 (bench/redis.bench.ts, one run each on the same machine): 0.64
 * of rate-limiter-flexible's checks/s with the resolver, 0.78 with this; rounds there move by
 * ±30 %, so the design, not that gap, is the reason.
 */
import { type Context, Effect, Exit } from "effect"

export interface Batcher<I, A, E> {
  /** `input`'s result, computed in a batch with the inputs waiting beside it. */
  readonly call: (input: I) => Effect.Effect<A, E>
}

interface Waiting<I, A, E> {
  readonly input: I
  readonly resume: (exit: Exit.Exit<A, E>) => void
}

/**
 * `run` gets the inputs of a batch (1 to `maxBatch`, in arrival order) and answers one exit per
 * input, in the same order; it runs with `services`.
 */
export const make = <I, A, E>(options: {
  readonly maxBatch: number
  readonly maxInFlight: number
  readonly services: Context.Context<never>
  readonly run: (inputs: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<Exit.Exit<A, E>>>
}): Batcher<I, A, E> => {
  const runFork = Effect.runForkWith(options.services)
  const queue: Array<Waiting<I, A, E>> = []
  let inFlight = 0

  // A batch is back (whatever its exit): its slot frees, and what waits goes out.
  const done = Effect.sync(() => {
    inFlight--
    flush()
  })

  // A defect in `run` reaches every caller of the batch: none is left waiting.
  const settle = (
    batch: ReadonlyArray<Waiting<I, A, E>>,
    exit: Exit.Exit<ReadonlyArray<Exit.Exit<A, E>>>
  ) => {
    for (let i = 0; i < batch.length; i++) {
      batch[i]!.resume(Exit.isSuccess(exit) ? exit.value[i]! : Exit.failCause(exit.cause))
    }
  }

  const sendBatch = (batch: ReadonlyArray<Waiting<I, A, E>>) =>
    Effect.ensuring(
      Effect.onExit(options.run(batch.map((waiting) => waiting.input)), (exit) =>
        Effect.sync(() => settle(batch, exit))
      ),
      done
    )

  const flush = (): void => {
    while (inFlight < options.maxInFlight && queue.length > 0) {
      inFlight++
      runFork(sendBatch(queue.splice(0, options.maxBatch)))
    }
  }

  // Queued behind busy batches: resumed when a later batch answers.
  const wait = (input: I): Effect.Effect<A, E> =>
    Effect.callback<A, E>((resume) => {
      const waiting: Waiting<I, A, E> = { input, resume }
      queue.push(waiting)
      flush()
      // Interrupted while waiting: leave the queue. Once sent, the server acts on it regardless.
      return Effect.sync(() => {
        const at = queue.indexOf(waiting)
        if (at >= 0) queue.splice(at, 1)
      })
    })

  // Nothing waiting and room in flight: the caller's own fiber sends its batch of one (no fork,
  // no hand-over: a lone call costs what an unbatched one does).
  const alone = (input: I): Effect.Effect<A, E> => {
    inFlight++
    return Effect.flatMap(Effect.ensuring(options.run([input]), done), (exits) => exits[0]!)
  }

  const call = (input: I): Effect.Effect<A, E> =>
    Effect.suspend(() => (queue.length === 0 && inFlight < options.maxInFlight ? alone(input) : wait(input)))

  return { call }
}
