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
import { Clock, Context, Effect, Config as EffectConfig, Exit, Layer, Schema } from "effect"
import {
  IdempotencyConflict,
  isTransient,
  RequestInFlight,
  StoredAnswerUnreadable,
  type StoreUnavailable,
  ValidationError
} from "./Errors.js"
import { IdempotencyStore } from "./IdempotencyStore.js"
import { Ids } from "./Ids.js"
import { canonicalJson } from "./internal/canonicalJson.js"
import { decodeConfig, settingsLayers } from "./internal/decodeConfig.js"
import { IntBetween } from "./internal/intBetween.js"
import { storeCall } from "./internal/storeCall.js"
import { Resilience } from "./Resilience.js"

const dayMs = 24 * 60 * 60 * 1000

/** The keys' settings, with their bounds (a bad value fails at startup, see `layerConfig`). */
export const Config = Schema.Struct({
  /** How long a completed answer is kept (Stripe: 24 h). */
  ttlMs: IntBetween(60_000, 30 * dayMs),
  /** How long a claim is held before another request may take it over. */
  leaseMs: IntBetween(1_000, dayMs)
}).check(
  Schema.makeFilter((config) =>
    config.leaseMs <= config.ttlMs ? undefined : "leaseMs must not exceed ttlMs"
  )
)
export type Config = typeof Config.Type

/**
 * The lease must outlast one checkout, or a same-key retry takes over a live request. Worst case
 * of a checkout's guarded calls under the default policies (`Policy.worstCaseMs`): a shipping
 * quote (10.5 s), up to four inventory calls (reserve, release and reserve again after a cart
 * edit, commit: 4 x 9.6 s = 38.4 s), the order insert (18 s), the charge (34 s) and the refund
 * of a charge that landed after its order died (34 s): 134.9 s. 180 s leaves 45 s for the
 * store calls (cart, rate limit, order steps: each bounded by the `store` policy, 2 s sent once or
 * 6.6 s retried). A lease that still runs out is safe, only
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
  /**
   * The answer when the stored outcome no longer decodes (stored by an older version): typically
   * the current state of the resource the first request made (`resourceId`), read without doing
   * any work again. Without it such a replay fails `StoredAnswerUnreadable` (409). Never a defect:
   * a changed schema is a fact of deployments, not a bug of this request.
   */
  readonly replayUnreadable?:
    | ((resourceId: string) => Effect.Effect<A, F | StoredAnswerUnreadable>)
    | undefined
}

export class Idempotency extends Context.Service<
  Idempotency,
  {
    /**
     * Runs `use` once per (scope, key). `use` gets the resource id, and `fresh`: true when this
     * claim minted it (the key's first run), false when it took over a run that stopped (the
     * resource may exist already, part done).
     */
    readonly run: <A, I, F, FI, E, R>(
      options: RunOptions<A, I, F, FI>,
      use: (resourceId: string, fresh: boolean) => Effect.Effect<A, E, R>
    ) => Effect.Effect<
      A,
      | E
      | F
      | IdempotencyConflict
      | RequestInFlight
      | StoredAnswerUnreadable
      | ValidationError
      | StoreUnavailable,
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
    const raw = yield* IdempotencyStore
    const ids = yield* Ids
    // Under the `store` policy; the claim is sent once, the fenced complete and abandon may be
    // repeated (internal/storeCall.ts). A timeout is `StoreUnavailable`: transient, so the lease is
    // abandoned below and a retry with the key takes over.
    const call = storeCall(yield* Resilience, "idempotency")
    const store: typeof raw = {
      claim: (request) => call("once", raw.claim(request)),
      complete: (scope, key, token, outcome) => call("retry", raw.complete(scope, key, token, outcome)),
      abandon: (scope, key, token) => call("retry", raw.abandon(scope, key, token))
    }

    const run = Effect.fn("Idempotency.run")(function* <A, I, F, FI, E, R>(
      options: RunOptions<A, I, F, FI>,
      use: (resourceId: string, fresh: boolean) => Effect.Effect<A, E, R>
    ) {
      const key = yield* validateKey(options.key)
      const outcome = Outcome(options.success, options.failure)
      const nowMs = yield* Clock.currentTimeMillis
      const minted = yield* ids.next(options.resourcePrefix)
      const claim = yield* store.claim({
        scope: options.scope,
        key,
        fingerprint: canonicalJson(options.request),
        resourceId: minted,
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
          const decoded = yield* Effect.result(Schema.decodeUnknownEffect(outcome)(claim.record.outcome))
          if (decoded._tag === "Failure") {
            // Not the client's fault and not a bug of this request: answer what can be answered
            // without doing the work again (see `replayUnreadable`), and tell the operators.
            yield* Effect.logWarning("stored idempotent answer no longer decodes").pipe(
              Effect.annotateLogs({
                key,
                resourceId: claim.record.resourceId,
                issue: decoded.failure.message
              })
            )
            return yield* options.replayUnreadable === undefined
              ? Effect.fail(new StoredAnswerUnreadable({ key }))
              : options.replayUnreadable(claim.record.resourceId)
          }
          const stored = decoded.success
          return yield* stored._tag === "Success" ? Effect.succeed(stored.value) : Effect.fail(stored.error)
        }
        case "Claimed":
          break
      }
      const token = claim.record.token
      const exit = yield* Effect.exit(
        // An interruption (a crash, a shutdown) ends the lease so a retry can take over.
        use(claim.record.resourceId, claim.record.resourceId === minted).pipe(
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

/** What idempotency needs: its store, ids (the resource id of a first claim) and the store policy. */
export type Requirements = IdempotencyStore | Ids | Resilience

/**
 * Idempotency with the default settings.
 * @category layers
 */
export const layer: Layer.Layer<Idempotency, never, Requirements> = Layer.effect(Idempotency, make(defaults))

const layers = settingsLayers(Idempotency, Config, defaults, make)

/**
 * Idempotency with settings given in code, each defaulting to `defaults`; an out-of-bounds value
 * is a defect when the layer is built.
 * @example Idempotency.layerWith({ leaseMs: 60_000 })
 * @category layers
 */
export const layerWith = (settings: Partial<Config>): Layer.Layer<Idempotency, never, Requirements> =>
  layers.layerWith(settings)

/**
 * The settings from Effect `Config` under `idempotency.*`, each defaulting to `base`, then decoded
 * with `Config` (env with `ConfigProvider.constantCase`: `IDEMPOTENCY_LEASE_MS=240000`).
 */
export const config = (base: Config = defaults): EffectConfig.Config<Config> =>
  EffectConfig.all({
    ttlMs: EffectConfig.withDefault(EffectConfig.Int("ttlMs"), base.ttlMs),
    leaseMs: EffectConfig.withDefault(EffectConfig.Int("leaseMs"), base.leaseMs)
  }).pipe(EffectConfig.nested("idempotency"), EffectConfig.mapEffect(decodeConfig(Config, "idempotency")))

/**
 * Idempotency with settings read from `Config` (`config()`): an invalid value fails the layer at
 * startup with a `ConfigError` naming the key.
 * @category layers
 */
export const layerConfig = (
  settings: EffectConfig.Config<Config> = config()
): Layer.Layer<Idempotency, EffectConfig.ConfigError, Requirements> => layers.layerConfig(settings)
