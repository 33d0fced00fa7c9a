/**
 * The IdempotencyStore port in memory, with Stripe's semantics (IdempotencyStore.ts). A claim
 * reads, decides and writes in one synchronous block, so of any number of concurrent claims
 * of a free key exactly one is `Claimed`. Time is the caller's `nowMs` (taken from Effect's
 * `Clock`), so leases and TTLs follow `TestClock`; expired records are dropped lazily.
 * Fencing tokens come from one counter per store, so a key claimed again after its record
 * expired still gets a token greater than any its earlier holders carry.
 */
import { type Errors, IdempotencyStore } from "@till/core"
import { Clock, Context, Effect, Layer } from "effect"
import { full, requireCapacity } from "./internal/limits.js"

export interface Options {
  /** Most records held; expired ones are purged before a new claim is refused. */
  readonly maxRecords?: number
  /**
   * PLANTED BUG, for the simulator's self-check only: `complete` and `abandon` ignore the
   * fencing token (any holder, even a taken-over one, ends the lease or writes the answer).
   */
  readonly plantedUnfenced?: boolean
}

export const defaultMaxRecords = 1_000_000

/** Read access for tests and the simulator; never used by services. */
export class Inspector extends Context.Service<
  Inspector,
  {
    /** Every live record (in flight and completed). */
    readonly records: Effect.Effect<ReadonlyArray<IdempotencyStore.IdempotencyRecord>>
  }
>()("@till/testkit/InMemoryIdempotencyStore/Inspector") {}

type Record = IdempotencyStore.IdempotencyRecord

// Scope and key joined by a character neither can usefully contain.
const id = (scope: string, key: string): string => `${scope}\u0000${key}`

export const make = (
  options: Options = {}
): Effect.Effect<IdempotencyStore.IdempotencyStore["Service"] & Inspector["Service"]> =>
  Effect.sync(() => {
    const maxRecords = requireCapacity("maxRecords", options.maxRecords ?? defaultMaxRecords)
    const records = new Map<string, Record>()
    let lastToken = 0

    const live = (recordId: string, nowMs: number): Record | undefined => {
      const record = records.get(recordId)
      if (record === undefined) return undefined
      if (record.expiresAt <= nowMs) {
        records.delete(recordId)
        return undefined
      }
      return record
    }

    /** The record if `token` still holds it in flight (its lease may have run out untaken). */
    const held = (recordId: string, token: number, nowMs: number): Record | undefined => {
      const record = live(recordId, nowMs)
      if (options.plantedUnfenced === true) return record
      return record !== undefined && record.state === "in_flight" && record.token === token
        ? record
        : undefined
    }

    const purgeExpired = (nowMs: number) => {
      for (const [recordId, record] of records) if (record.expiresAt <= nowMs) records.delete(recordId)
    }

    const claim = (request: IdempotencyStore.ClaimRequest) =>
      Effect.suspend((): Effect.Effect<IdempotencyStore.ClaimResult, Errors.StoreUnavailable> => {
        const recordId = id(request.scope, request.key)
        const now = request.nowMs
        const existing = live(recordId, now)
        if (existing === undefined) {
          if (records.size >= maxRecords) {
            purgeExpired(now)
            if (records.size >= maxRecords) return full("idempotency", maxRecords)
          }
          const record: Record = {
            scope: request.scope,
            key: request.key,
            fingerprint: request.fingerprint,
            resourceId: request.resourceId,
            state: "in_flight",
            outcome: undefined,
            token: ++lastToken,
            lockedUntil: now + request.leaseMs,
            expiresAt: now + request.ttlMs
          }
          records.set(recordId, record)
          return Effect.succeed({ _tag: "Claimed", record })
        }
        if (existing.fingerprint !== request.fingerprint) return Effect.succeed({ _tag: "Mismatch" })
        if (existing.state === "completed") return Effect.succeed({ _tag: "Completed", record: existing })
        if (existing.lockedUntil > now) return Effect.succeed({ _tag: "InFlight" })
        // Lease over: take over, keeping the resource id the first claim chose.
        const record: Record = {
          ...existing,
          token: ++lastToken,
          lockedUntil: now + request.leaseMs,
          expiresAt: Math.max(existing.expiresAt, now + request.ttlMs)
        }
        records.set(recordId, record)
        return Effect.succeed({ _tag: "Claimed", record })
      })

    return {
      records: Effect.sync(() => [...records.values()]),
      claim,
      complete: (scope, key, token, outcome) =>
        Effect.map(Clock.currentTimeMillis, (nowMs): IdempotencyStore.CompleteResult => {
          const recordId = id(scope, key)
          const record = held(recordId, token, nowMs)
          // The first completion is the answer forever; a late or taken-over holder cannot change it.
          if (record === undefined) return "stale"
          records.set(recordId, { ...record, state: "completed", outcome })
          return "completed"
        }),
      abandon: (scope, key, token) =>
        Effect.map(Clock.currentTimeMillis, (nowMs): IdempotencyStore.AbandonResult => {
          const recordId = id(scope, key)
          const record = held(recordId, token, nowMs)
          if (record === undefined) return "stale"
          // Lapsed at any time: the next claim takes over, whatever its `nowMs`.
          records.set(recordId, { ...record, lockedUntil: 0 })
          return "abandoned"
        })
    }
  })

/** Provides both the port and the Inspector from one store (e.g. a wrapped `make()`). */
export const layerFrom = <E, R>(
  store: Effect.Effect<IdempotencyStore.IdempotencyStore["Service"] & Inspector["Service"], E, R>
): Layer.Layer<IdempotencyStore.IdempotencyStore | Inspector, E, R> =>
  Layer.effectContext(
    Effect.map(store, (s) =>
      Context.make(IdempotencyStore.IdempotencyStore, s).pipe(Context.add(Inspector, s))
    )
  )

const context = (options: Options) => layerFrom(make(options))

/** Provides `IdempotencyStore` and its `Inspector` (one store behind both). */
export const layer: Layer.Layer<IdempotencyStore.IdempotencyStore | Inspector> = context({})

export const layerWith = (options: Options): Layer.Layer<IdempotencyStore.IdempotencyStore | Inspector> =>
  context(options)
