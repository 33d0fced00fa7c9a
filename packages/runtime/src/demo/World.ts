/**
 * A demo world: the embedded default (Embedded.ts) split in two, as a real deployment is.
 *
 * - **The stores** (the testkit's in-memory ports, the fake payment gateway, the event log) are
 *   built once and outlive any process, like a database and a payment provider do.
 * - **The process** (core services, background jobs, the HTTP app) is built over them, as
 *   Embedded.ts builds it (the jobs as scoped fibers, `Till.layerJobsWith`, not `till start`'s
 *   cluster singletons: one process needs no cluster to run each job once), and can be
 *   crashed and started again: a crash interrupts every request where it stands (its
 *   `AbortSignal`) and closes the process's layer (jobs, breakers, rate limiter), and a restart
 *   builds new ones over the same stores.
 *
 * Time is compressed so that every scenario takes seconds, not the production minutes: payment
 * retries after 100 ms and 200 ms, the payment breaker judges 20 calls and waits 1.5 s open (the
 * stores' breaker too), the retry drainer polls every 200 ms, recovery runs every second, and a
 * cart idle for 2 s is abandoned (checked every 500 ms).
 */
import { Degradation, Policy, RetryDrainer, Till } from "@till/core"
import { TestTill } from "@till/testkit"
import { type Context, Effect, Layer, Redacted, References, type Scope } from "effect"
import { randomBytes, randomUUID } from "node:crypto"
import * as App from "../http/App.js"
import * as Auth from "../http/Auth.js"
import * as Health from "../http/Health.js"

/** The payment policy of the demo: the seed's shape, on a compressed clock. */
export const paymentPolicy: Policy.Policy = {
  timeoutMs: 2_000,
  retries: 2,
  backoffMs: [100, 200],
  breaker: {
    ...Policy.defaults.payment.breaker,
    slidingWindowSize: 20,
    minimumNumberOfCalls: 10,
    slowCallDurationThresholdMs: 1_000,
    waitDurationInOpenStateMs: 1_500,
    permittedNumberOfCallsInHalfOpenState: 3
  }
}

/**
 * The stores' policy of the demo: the seed's, its breaker waiting 1.5 s open like the payment's. A
 * store outage (the simulator's `redis-down`) opens it, and the production 30 s would outlast a run.
 */
export const storePolicy: Policy.Policy = {
  ...Policy.defaults.store,
  breaker: { ...Policy.defaults.store.breaker, waitDurationInOpenStateMs: 1_500 }
}

/** The background jobs of the demo, on the same compressed clock. */
export const jobs: Partial<Till.JobSettings> = {
  retryDrainer: {
    ...RetryDrainer.defaults,
    baseDelayMs: 250,
    maxDelayMs: 1_000,
    pollIntervalMs: 200,
    claimLeaseMs: 10_000
  },
  recoveryEveryMs: 1_000,
  recovery: { staleAfterMs: 3_000 },
  outboxEveryMs: 100,
  abandonment: { idleForMs: 2_000, everyMs: 500 }
}

/** What a world's stores provide (the in-memory ports with their inspectors and controls). */
export type Stores = TestTill.Ports

/** One HTTP call's answer, as a client saw it; `status` 0 when the process died under it. */
export interface Answer {
  readonly status: number
  // biome-ignore lint/suspicious/noExplicitAny: a JSON answer, read loosely by each scenario
  readonly body: any
}

export interface World {
  /** The JWT secret of this world (the demo mints its own tokens with it). */
  readonly secret: string
  /** Sends `request` to the running process; resolves `status: 0` when a crash cuts it off. */
  readonly send: (request: Request) => Promise<Answer>
  /** Runs `effect` against the stores, outside any process (what the invariant checks read). */
  readonly inspect: <A, E>(effect: Effect.Effect<A, E, Stores>) => Effect.Effect<A, E>
  /** Kills the process: every in-flight request interrupted, its jobs and services gone. */
  readonly crash: Effect.Effect<void>
  /** Starts a new process on the same stores (its recovery sweep runs at once). */
  readonly restart: (settings?: Partial<Till.JobSettings>) => Effect.Effect<void>
}

export interface Options {
  /** Replaces stores of the world (a test plants a broken one to see the checks fail). */
  readonly stores?: Omit<TestTill.Options, "seed"> | undefined
}

/** The process's services over `stores`: what App.webHandler needs, with the jobs running. */
const processLayer = (
  stores: Context.Context<Stores>,
  secret: string,
  settings: Partial<Till.JobSettings>
): Layer.Layer<App.Requirements> =>
  Layer.mergeAll(Till.layerJobsWith({ ...jobs, ...settings }), Health.layer([])).pipe(
    Layer.provideMerge(Till.layerWith({ policies: { payment: paymentPolicy, store: storePolicy } })),
    Layer.provideMerge(Degradation.layer),
    Layer.provideMerge(Layer.succeed(Auth.JwtSecret, Redacted.make(secret))),
    // The demo prints what happens; the process's own log lines (a job's round, the requests a
    // crash interrupts) would only interleave with it.
    Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "None")),
    Layer.provideMerge(Layer.succeedContext(stores))
  )

/** A JSON body, or undefined for an empty or non-JSON one. */
const parse = (text: string): unknown => {
  try {
    return text.length > 0 ? JSON.parse(text) : undefined
  } catch {
    return undefined
  }
}

/** A world for the length of the enclosing scope; its process is stopped when the scope closes. */
export const open = (options: Options = {}): Effect.Effect<World, never, Scope.Scope> =>
  Effect.gen(function* () {
    const secret = randomBytes(32).toString("base64url")
    const stores = yield* Layer.build(TestTill.ports({ seed: randomUUID(), ...options.stores }))
    let current = App.webHandler(processLayer(stores, secret, {}))
    const inFlight = new Set<AbortController>()

    const send = async (request: Request): Promise<Answer> => {
      const abort = new AbortController()
      inFlight.add(abort)
      const cutOff = new Promise<Answer>((resolve) =>
        abort.signal.addEventListener("abort", () => resolve({ status: 0, body: undefined }), { once: true })
      )
      try {
        const answered = current
          .handler(new Request(request, { signal: abort.signal }))
          .then(async (r) => ({ status: r.status, body: parse(await r.text()) }))
        return await Promise.race([answered, cutOff])
      } finally {
        inFlight.delete(abort)
      }
    }

    const crash = Effect.promise(async () => {
      for (const abort of inFlight) abort.abort()
      await current.dispose()
    })

    yield* Effect.addFinalizer(() => Effect.promise(() => current.dispose()))
    return {
      secret,
      send,
      inspect: (effect) => Effect.provideContext(effect, stores),
      crash,
      restart: (settings = {}) =>
        Effect.sync(() => {
          current = App.webHandler(processLayer(stores, secret, settings))
        })
    } satisfies World
  })

/** Runs `f` on a fresh world, closed afterwards. */
export const use = <A, E>(options: Options, f: (world: World) => Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.scoped(Effect.flatMap(open(options), f))
