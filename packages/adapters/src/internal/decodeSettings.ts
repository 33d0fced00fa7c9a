/**
 * Settings read from Effect `Config`, decoded with their Schema: an invalid value fails with a
 * `ConfigError` pointing at its key under `path` (`postgres.maxConnections`), so a bad deployment
 * stops at startup saying which setting is wrong. Shared by every adapter's `config`.
 */
import { Config, Effect, Schema, SchemaIssue } from "effect"

export const decodeSettings =
  <A, I>(schema: Schema.Codec<A, I>, path: ReadonlyArray<string>) =>
  (raw: unknown): Effect.Effect<A, Config.ConfigError> =>
    Effect.mapError(
      Schema.decodeUnknownEffect(schema)(raw),
      (error) => new Config.ConfigError(new Schema.SchemaError(new SchemaIssue.Pointer(path, error.issue)))
    )
