/**
 * Idempotent execution with Stripe's semantics, scoped per user:
 * - the same key with the same request answers the first outcome (success or a final
 *   domain error such as a decline or out-of-stock) for `ttlMs` (24 h);
 * - the same key with a different request fails `IdempotencyConflict`;
 * - a second request while the first holds the key fails `RequestInFlight`;
 * - a transient failure, a defect or an interruption ends the lease instead of storing an
 *   outcome, so a retry with the key takes over — with the resource id of the first claim,
 *   so nothing the first attempt did (a reservation, an order, a charge) is done twice.
 *
 * The claim's fencing token (IdempotencyStore.ts) goes with `complete` and `abandon`, so a run
 * whose lease was taken over changes nothing of the new holder's, and still answers its own outcome
 * (the decision is written where `run` completes).
 */
import { Clock, Context, Effect, Exit, Layer, Schema } from "effect"
import {
  IdempotencyConflict,
  isTransient,
  RequestInFlight,
  type StoreUnavailable,
  ValidationError
} from "./Errors.js"
import { IdempotencyStore } from "./IdempotencyStore.js"
import { Ids } from "./Ids.js"
import { canonicalJson } from "./internal/canonicalJson.js"

export interface Config {
  /** How long a completed answer is kept. */
  readonly ttlMs: number
  /** How long a claim is held before another request may take it over. */
  readonly leaseMs: number
}

/**
 * The lease must outlast one checkout, or a same-key retry takes over a live request. Worst case
 * of a checkout's guarded calls under the default policies (`Policy.worstCaseMs`): a shipping
 * quote (10.5 s), up to four inventory calls (reserve, release and reserve again after a cart
 * edit, commit: 4 x 9.6 s = 38.4 s), the order insert (18 s), the charge (34 s) and the refund
 * of a charge that landed after its order died (34 s): 134.9 s. 180 s leaves 45 s for the
 * unguarded store calls (cart, rate limit, order steps). A lease that still runs out is safe, only
 * wasteful: the retry redoes the same keyed steps, and fencing keeps the late holder from ending
 * the new one's lease (tested in Idempotency.test.ts against these numbers).
 */
export const defaults: Config = { ttlMs: 24 * 60 * 60 * 1000, leaseMs: 180 * 1000 }

export const maxKeyLength = 255

export interface RunOptions<A, I, F, FI> {
  readonly scope: string
  readonly key: string
  /** The request data; its canonical JSON is the fingerprint. */
  readonly request: unknown
  /** Prefix of the resource id minted at the first claim (`ord` -> `ord_…`). */
  readonly resourcePrefix: string
  readonly success: Schema.Codec<A, I>
  /** The final errors, stored and answered again; any other error is treated as transient. */
  readonly failure: Schema.Codec<F, FI>
}

export class Idempotency extends Context.Service<
  Idempotency,
  {
    readonly run: <A, I, F, FI, E, R>(
      options: RunOptions<A, I, F, FI>,
      use: (resourceId: string) => Effect.Effect<A, E, R>
    ) => Effect.Effect<
      A,
      E | F | IdempotencyConflict | RequestInFlight | ValidationError | StoreUnavailable,
      R
    >
  }
>()("@till/core/Idempotency") {}

const makeOutcome = <A, I, F, FI>(success: Schema.Codec<A, I>, failure: Schema.Codec<F, FI>) =>
  Schema.Union([
    Schema.TaggedStruct("Success", { value: success }),
    Schema.TaggedStruct("Failure", { error: failure })
  ])

// Built once per (success, failure) pair: a new schema per call is a new AST, whose parser and
// encoder Effect compiles again. Measured on Effect 4.1.0 (CPU time of a cart + checkout journey
// on the in-memory ports, 40 interleaved rounds): building it per call made the journey 30-36 %
// slower. The final-error guard needs no such cache: `Schema.is` of the caller's constant schema
// reuses Effect's compiled parser (per call: within noise, 0.96-1.03x).
const outcomes = new WeakMap<object, WeakMap<object, unknown>>()
const Outcome = <A, I, F, FI>(success: Schema.Codec<A, I>, failure: Schema.Codec<F, FI>) => {
  let byFailure = outcomes.get(success)
  if (byFailure === undefined) {
    byFailure = new WeakMap()
    outcomes.set(success, byFailure)
  }
  let outcome = byFailure.get(failure) as ReturnType<typeof makeOutcome<A, I, F, FI>> | undefined
  if (outcome === undefined) {
    outcome = makeOutcome(success, failure)
    byFailure.set(failure, outcome)
  }
  return outcome
}

export const validateKey = (key: string): Effect.Effect<string, ValidationError> =>
  key.length >= 1 && key.length <= maxKeyLength
    ? Effect.succeed(key)
    : Effect.fail(
        new ValidationError({
          errors: [{ path: "Idempotency-Key", message: `must be 1-${maxKeyLength} characters` }]
        })
      )

export const make = (config: Config = defaults) =>
  Effect.gen(function* () {
    const store = yield* IdempotencyStore
    const ids = yield* Ids

    const run = Effect.fn("Idempotency.run")(function* <A, I, F, FI, E, R>(
      options: RunOptions<A, I, F, FI>,
      use: (resourceId: string) => Effect.Effect<A, E, R>
    ) {
      const key = yield* validateKey(options.key)
      const outcome = Outcome(options.success, options.failure)
      const nowMs = yield* Clock.currentTimeMillis
      const claim = yield* store.claim({
        scope: options.scope,
        key,
        fingerprint: canonicalJson(options.request),
        resourceId: yield* ids.next(options.resourcePrefix),
        nowMs,
        leaseMs: config.leaseMs,
        ttlMs: config.ttlMs
      })
      switch (claim._tag) {
        case "Mismatch":
          return yield* Effect.fail(new IdempotencyConflict({ key }))
        case "InFlight":
          return yield* Effect.fail(new RequestInFlight({ key }))
        case "Completed": {
          const stored = yield* Schema.decodeUnknownEffect(outcome)(claim.record.outcome).pipe(Effect.orDie)
          return yield* stored._tag === "Success" ? Effect.succeed(stored.value) : Effect.fail(stored.error)
        }
        case "Claimed":
          break
      }
      const token = claim.record.token
      const exit = yield* Effect.exit(
        // An interruption (a crash, a shutdown) ends the lease so a retry can take over.
        use(claim.record.resourceId).pipe(
          Effect.onInterrupt(() => Effect.ignore(store.abandon(options.scope, key, token)))
        )
      )
      const final = Exit.match(exit, {
        onSuccess: (value) => ({ _tag: "Success" as const, value }),
        onFailure: (cause) => {
          const reason = cause.reasons.length === 1 ? cause.reasons[0] : undefined
          const failure = reason?._tag === "Fail" ? reason.error : undefined
          // Only a final domain answer is kept; anything transient is left for a retry to redo.
          return failure !== undefined && !isTransient(failure) && Schema.is(options.failure)(failure)
            ? { _tag: "Failure" as const, error: failure }
            : undefined
        }
      })
      if (final === undefined) {
        // A stale abandon means another holder took over: its lease is not ours to end.
        yield* store.abandon(options.scope, key, token)
      } else {
        const encoded = yield* Schema.encodeEffect(outcome)(final).pipe(Effect.orDie)
        const settled = yield* store.complete(options.scope, key, token, encoded)
        // Stale: our lease ran out and a retry with this key took over (or has already answered).
        // This run still answers its own outcome: every step it took (the hold, the order, the
        // charge) is keyed by the resource id both holders share, so it did nothing twice, and
        // the key will answer whatever the current holder stores, which ran the same steps.
        if (settled === "stale") {
          yield* Effect.logWarning("idempotency lease taken over before completion; outcome not stored").pipe(
            Effect.annotateLogs({ key, resourceId: claim.record.resourceId })
          )
        }
      }
      return yield* exit
    })

    return Idempotency.of({ run })
  })

export const layer = (config: Config = defaults): Layer.Layer<Idempotency, never, IdempotencyStore | Ids> =>
  Layer.effect(Idempotency, make(config))
