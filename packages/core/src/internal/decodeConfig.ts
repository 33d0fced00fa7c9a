/**
 * The last step of a `layerConfig`: the raw values read from `Config` decoded with the module's
 * own Schema, so config obeys the same bounds as options passed in code. A failure is a
 * `Config.ConfigError` whose issue points at the config's root (`["resilience"]["payment"]...`).
 */
import { Config, type Context, Effect, Layer, Schema, SchemaIssue } from "effect"

export const decodeConfig =
  <A, I>(schema: Schema.Codec<A, I>, root: string) =>
  (raw: unknown): Effect.Effect<A, Config.ConfigError> =>
    Effect.mapError(
      Schema.decodeUnknownEffect(schema)(raw),
      (error) => new Config.ConfigError(new Schema.SchemaError(new SchemaIssue.Pointer([root], error.issue)))
    )

/**
 * The `layerWith` and `layerConfig` of a service configured by a Schema: settings given in code
 * are merged over `defaults` and decoded (out of bounds is a defect when the layer is built);
 * settings read from `Config` were decoded by the module's `config()` already.
 */
export const settingsLayers = <I, S, C, CI, R>(
  service: Context.Key<I, S>,
  schema: Schema.Codec<C, CI>,
  defaults: C,
  make: (settings: C) => Effect.Effect<S, never, R>
) => ({
  layerWith: (settings: Partial<C>): Layer.Layer<I, never, R> =>
    Layer.effect(
      service,
      Effect.flatMap(Effect.orDie(Schema.decodeUnknownEffect(schema)({ ...defaults, ...settings })), make)
    ),
  layerConfig: (settings: Config.Config<C>): Layer.Layer<I, Config.ConfigError, R> =>
    Layer.effect(service, Effect.flatMap(settings, make))
})
