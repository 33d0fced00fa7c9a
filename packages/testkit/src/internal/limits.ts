/**
 * Bounds shared by the in-memory ports. An in-memory store still has limits (STYLE.md: a
 * limit on everything): a run that would grow one without bound fails loudly with
 * `StoreUnavailable` instead of exhausting the process.
 */
import { Effect } from "effect"
import { Errors } from "@till/core"

/** Largest page any list operation answers, whatever limit the caller asks for. */
export const maxPageSize = 1_000

/** A caller's page limit clamped to `[min, maxPageSize]`; non-integers are a caller bug. */
export const pageLimit = (limit: number, min: 0 | 1 = 0): number => {
  if (!Number.isFinite(limit)) return min
  return Math.min(maxPageSize, Math.max(min, Math.floor(limit)))
}

export const full = (store: string, capacity: number): Effect.Effect<never, Errors.StoreUnavailable> =>
  Effect.fail(new Errors.StoreUnavailable({ store, reason: `capacity of ${capacity} entries reached` }))

/** Dies on a non-positive or non-integer capacity option: a test setup bug. */
export const requireCapacity = (name: string, value: number): number => {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`)
  return value
}
