/**
 * Helpers shared by the contract suites. Every case draws fresh ids, so the suites can run
 * against one shared real database (and one shared in-memory store) without collisions.
 */
import { Ids } from "@till/core"
import { type Effect, Schema } from "effect"

/** `cart_k3v9…`: random (Web Crypto, so unseeded), valid as a SKU, cart or order id. */
export const uniqueId = (prefix: string): Effect.Effect<string> => Ids.fromCrypto(prefix)

export const isoAt = (ms: number): string => new Date(ms).toISOString()

/** A value's encoded form, to compare what an adapter decoded with what was written. */
export const encoded =
  <A, I>(schema: Schema.Codec<A, I>) =>
  (value: A): I =>
    Schema.encodeSync(schema)(value)

/** Far enough ahead that no hold written with it ever expires during a test run (2100-01-01). */
export const farFutureMs = 4_102_444_800_000
