/**
 * Graceful degradation (DESIGN.md §4): under stress Till sheds features in a fixed order,
 *
 *   level 1  order history
 *   level 2  + cart recommendations
 *   level 3  + live shipping quotes (checkouts use the default shipping cost)
 *   level 4  + new orders (checkout answers 503 with Retry-After; carts keep working)
 *
 * so the money path is the last thing standing. The level is the highest of what the signals
 * ask for, unless an operator pins it (`setOperatorLevel`, both up and down, e.g. to hold a level
 * through a flapping alarm; `undefined` hands control back to the signals). It is published as
 * the gauge `till_degradation_level`.
 *
 * Signals and what they ask for (defaults; all of it is `Settings`):
 * - a breaker open or half-open: payment -> 2 (checkouts queue their payment; keep capacity for
 *   the checkout path and the retry backlog), shipping -> 3 (quotes are shed anyway), inventory
 *   and orderCreation -> 4 (no order can be placed: say so at once rather than after a timeout);
 * - p99 latency: >= 1 s -> 1, >= 2 s -> 2, >= 4 s -> 3, >= 8 s -> 4;
 * - pool saturation: >= 70 % -> 1, >= 80 % -> 2, >= 90 % -> 3, >= 97 % -> 4.
 * Each source (a breaker, a latency series, a pool) holds its last level; a source reporting
 * normal again lowers only its own contribution.
 */
import { Config, Context, Effect, Layer, Metric, Option, PubSub, Schema, type Scope, Stream } from "effect"
import { decodeConfig } from "./internal/decodeConfig.js"
import { IntBetween } from "./internal/intBetween.js"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import { FeatureShed } from "./Errors.js"

export const Feature = Schema.Literals(["orderHistory", "recommendations", "liveShippingQuotes", "newOrders"])
export type Feature = typeof Feature.Type

export const Level = IntBetween(0, 4)
export type Level = 0 | 1 | 2 | 3 | 4

/** The level from which each feature is shed: the seed's order. */
export const shedFrom: { readonly [F in Feature]: Level } = {
  orderHistory: 1,
  recommendations: 2,
  liveShippingQuotes: 3,
  newOrders: 4
}

export type Signal =
  | { readonly _tag: "BreakerState"; readonly breaker: string; readonly state: CircuitBreaker.State }
  | { readonly _tag: "Latency"; readonly source: string; readonly p99Ms: number }
  | { readonly _tag: "PoolSaturation"; readonly pool: string; readonly utilizationPercent: number }

/** Four ascending thresholds: reaching the i-th asks for level i + 1. */
const Thresholds = Schema.Tuple([Schema.Number, Schema.Number, Schema.Number, Schema.Number])

export const Settings = Schema.Struct({
  latencyP99MsThresholds: Thresholds,
  poolUtilizationPercentThresholds: Thresholds,
  /** The level an open (or half-open) breaker asks for, by breaker name; others ask for none. */
  breakerOpenLevels: Schema.Record(Schema.String, Level),
  /** What `FeatureShed` tells clients to wait. */
  retryAfterSeconds: IntBetween(1, 3_600),
  /** Distinct signal sources tracked; signals of further sources are ignored (and logged). */
  maxSources: IntBetween(1, 1_024)
})
export type Settings = typeof Settings.Type

export const defaults: Settings = {
  latencyP99MsThresholds: [1_000, 2_000, 4_000, 8_000],
  poolUtilizationPercentThresholds: [70, 80, 90, 97],
  breakerOpenLevels: { payment: 2, shipping: 3, inventory: 4, orderCreation: 4 },
  retryAfterSeconds: 30,
  maxSources: 64
}

export const levelGauge = Metric.gauge("till_degradation_level", {
  description: "Graceful degradation level, 0 (all features) to 4 (new orders shed)"
})

export class Degradation extends Context.Service<
  Degradation,
  {
    /** The effective level: the operator's if set, else the signals'. */
    readonly level: Effect.Effect<Level>
    readonly automaticLevel: Effect.Effect<Level>
    readonly operatorLevel: Effect.Effect<Option.Option<Level>>
    readonly isShed: (feature: Feature) => Effect.Effect<boolean>
    /**
     * Fails with `FeatureShed` when the feature is shed.
     * @example yield* degradation.guard("orderHistory")
     */
    readonly guard: (feature: Feature) => Effect.Effect<void, FeatureShed>
    readonly signal: (signal: Signal) => Effect.Effect<void>
    /** Pins the level (`undefined` unpins it). */
    readonly setOperatorLevel: (level: Level | undefined) => Effect.Effect<void>
  }
>()("@till/core/Degradation") {}

const levelFor = (value: number, thresholds: readonly [number, number, number, number]): Level => {
  let level: Level = 0
  for (let i = 0; i < 4; i++) if (value >= thresholds[i]!) level = (i + 1) as Level
  return level
}

export const make = Effect.fn("Degradation.make")(function* (settings: Settings = defaults) {
  const decoded = yield* Effect.orDie(Schema.decodeEffect(Settings)(settings))
  const sources = new Map<string, Level>()
  let automatic: Level = 0
  let operator: Level | undefined
  const effective = (): Level => operator ?? automatic
  yield* Metric.update(levelGauge, 0)

  const publish = (before: Level) =>
    effective() === before ? Effect.void : Metric.update(levelGauge, effective())

  const signal = (input: Signal): Effect.Effect<void> =>
    Effect.suspend(() => {
      const [source, level] = sourceLevel(input, decoded)
      if (!sources.has(source) && sources.size >= decoded.maxSources) {
        return Effect.logWarning(
          `degradation: ignoring signal of source ${source}, ${decoded.maxSources} sources tracked`
        )
      }
      const before = effective()
      if (level === 0) sources.delete(source)
      else sources.set(source, level)
      automatic = 0
      for (const l of sources.values()) if (l > automatic) automatic = l
      return publish(before)
    })

  const isShed = (feature: Feature) => Effect.sync(() => effective() >= shedFrom[feature])

  return Degradation.of({
    level: Effect.sync(effective),
    automaticLevel: Effect.sync(() => automatic),
    operatorLevel: Effect.sync(() => Option.fromUndefinedOr(operator)),
    isShed,
    guard: (feature) =>
      Effect.flatMap(isShed(feature), (shed) =>
        shed
          ? Effect.fail(new FeatureShed({ feature, retryAfterSeconds: decoded.retryAfterSeconds }))
          : Effect.void
      ),
    signal,
    setOperatorLevel: (level) =>
      Effect.suspend(() => {
        const before = effective()
        operator = level === undefined ? undefined : (Schema.decodeSync(Level)(level) as Level)
        return publish(before)
      })
  })
})

const sourceLevel = (signal: Signal, settings: Settings): readonly [string, Level] => {
  switch (signal._tag) {
    case "BreakerState":
      return [
        `breaker:${signal.breaker}`,
        signal.state === "closed" ? 0 : ((settings.breakerOpenLevels[signal.breaker] ?? 0) as Level)
      ]
    case "Latency":
      return [`latency:${signal.source}`, levelFor(signal.p99Ms, settings.latencyP99MsThresholds)]
    case "PoolSaturation":
      return [
        `pool:${signal.pool}`,
        levelFor(signal.utilizationPercent, settings.poolUtilizationPercentThresholds)
      ]
  }
}

/**
 * Follows one breaker into the degradation signals, subscribed now (in the scope) so no transition
 * is missed: it asks for its level while the breaker is open, for at most `waitMs` (its wait in the
 * open state), and not while half-open. Shedding what a breaker guards stops the calls that would
 * probe it (shipping open sheds the live quotes, so none reaches the shipping breaker), and an open
 * breaker turns half-open only on a call after its wait: followed as it is (`followBreakers`), the
 * level would stay up for good. A failing probe opens the breaker, and the shedding, again.
 * @example yield* Degradation.followBreaker(resilience.breaker("shipping"), 30_000)
 */
export const followBreaker = (
  breaker: CircuitBreaker.Service,
  waitMs: number
): Effect.Effect<void, never, Degradation | Scope.Scope> =>
  Effect.gen(function* () {
    const degradation = yield* Degradation
    const transitions = yield* breaker.subscribe
    let epoch = 0
    const signal = (name: string, state: CircuitBreaker.State) =>
      degradation.signal({ _tag: "BreakerState", breaker: name, state })
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.flatMap(PubSub.take(transitions), (t) => {
          const mine = ++epoch
          if (t.to !== "open") return signal(t.breaker, "closed")
          const lift = Effect.andThen(
            Effect.sleep(waitMs),
            Effect.suspend(() => (epoch === mine ? signal(t.breaker, "closed") : Effect.void))
          )
          return Effect.andThen(signal(t.breaker, "open"), Effect.forkScoped(lift))
        })
      )
    )
  })

/**
 * Feeds breaker transitions into the degradation signals as they are, until interrupted; fork it
 * beside the service. It lifts nothing by itself (see `followBreaker`, which a runtime wants).
 * @example yield* Effect.forkScoped(Degradation.followBreakers(resilience.transitions))
 */
export const followBreakers = (
  transitions: Stream.Stream<CircuitBreaker.Transition>
): Effect.Effect<void, never, Degradation> =>
  Effect.flatMap(Degradation, (degradation) =>
    Stream.runForEach(transitions, (t) =>
      degradation.signal({ _tag: "BreakerState", breaker: t.breaker, state: t.to })
    )
  )

/**
 * Degradation with the default settings.
 * @category layers
 */
export const layer: Layer.Layer<Degradation> = Layer.effect(Degradation, make())

/**
 * Degradation with settings given in code, each defaulting to `defaults`.
 * @category layers
 */
export const layerWith = (settings: Partial<Settings>): Layer.Layer<Degradation> =>
  Layer.effect(Degradation, make({ ...defaults, ...settings }))

/**
 * Settings from `Config` under `degradation.*`, each defaulting to `base`; breaker levels merge
 * into the defaults (env with `ConfigProvider.constantCase`: `DEGRADATION_RETRY_AFTER_SECONDS=60`,
 * `DEGRADATION_LATENCY_P99_MS_THRESHOLDS=500,1000,2000,4000`,
 * `DEGRADATION_BREAKER_OPEN_LEVELS=payment=3,shipping=4`).
 */
export const config = (base: Settings = defaults): Config.Config<Settings> =>
  Config.all({
    latencyP99MsThresholds: Config.withDefault(
      Config.Array(Schema.Number, "latencyP99MsThresholds"),
      base.latencyP99MsThresholds
    ),
    poolUtilizationPercentThresholds: Config.withDefault(
      Config.Array(Schema.Number, "poolUtilizationPercentThresholds"),
      base.poolUtilizationPercentThresholds
    ),
    breakerOpenLevels: Config.map(
      Config.withDefault(Config.Record(Schema.String, Schema.Int, "breakerOpenLevels"), {}),
      (overrides) => ({ ...base.breakerOpenLevels, ...overrides })
    ),
    retryAfterSeconds: Config.withDefault(Config.Int("retryAfterSeconds"), base.retryAfterSeconds),
    maxSources: Config.withDefault(Config.Int("maxSources"), base.maxSources)
  }).pipe(Config.nested("degradation"), Config.mapEffect(decodeConfig(Settings, "degradation")))

export const layerConfig = (
  settings: Config.Config<Settings> = config()
): Layer.Layer<Degradation, Config.ConfigError> =>
  Layer.effect(
    Degradation,
    Effect.flatMap(settings, (decoded) => make(decoded))
  )
