/**
 * The last step of a `layerConfig`: the raw values read from `Config` decoded with the module's
 * own Schema, so config obeys the same bounds as options passed in code. A failure is a
 * `Config.ConfigError` whose issue points at the config's root (`["resilience"]["payment"]...`).
 */
import { Config, Effect, Schema, SchemaIssue } from "effect"

export const decodeConfig =
  <A, I>(schema: Schema.Codec<A, I>, root: string) =>
  (raw: unknown): Effect.Effect<A, Config.ConfigError> =>
    Effect.mapError(
      Schema.decodeUnknownEffect(schema)(raw),
      (error) => new Config.ConfigError(new Schema.SchemaError(new SchemaIssue.Pointer([root], error.issue)))
    )
