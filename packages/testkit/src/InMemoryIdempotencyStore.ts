/**
 * The IdempotencyStore port in memory, with Stripe's semantics (IdempotencyStore.ts). A claim
 * reads, decides and writes in one synchronous block, so of any number of concurrent claims
 * of a free key exactly one is `Claimed`. Time is the caller's `nowMs` (taken from Effect's
 * `Clock`), so leases and TTLs follow `TestClock`; expired records are dropped lazily.
 */
import { type Errors, IdempotencyStore } from "@till/core"
import { Clock, Effect, Layer } from "effect"
import { full, requireCapacity } from "./internal/limits.js"

export interface Options {
  /** Most records held; expired ones are purged before a new claim is refused. */
  readonly maxRecords?: number
}

export const defaultMaxRecords = 1_000_000

type Record = IdempotencyStore.IdempotencyRecord

// Scope and key joined by a character neither can usefully contain.
const id = (scope: string, key: string): string => `${scope}\u0000${key}`

export const make = (options: Options = {}): Effect.Effect<IdempotencyStore.IdempotencyStore["Service"]> =>
  Effect.sync(() => {
    const maxRecords = requireCapacity("maxRecords", options.maxRecords ?? defaultMaxRecords)
    const records = new Map<string, Record>()

    const live = (recordId: string, nowMs: number): Record | undefined => {
      const record = records.get(recordId)
      if (record === undefined) return undefined
      if (record.expiresAt <= nowMs) {
        records.delete(recordId)
        return undefined
      }
      return record
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
          lockedUntil: now + request.leaseMs,
          expiresAt: Math.max(existing.expiresAt, now + request.ttlMs)
        }
        records.set(recordId, record)
        return Effect.succeed({ _tag: "Claimed", record })
      })

    return IdempotencyStore.IdempotencyStore.of({
      claim,
      complete: (scope, key, outcome) =>
        Effect.map(Clock.currentTimeMillis, (nowMs) => {
          const recordId = id(scope, key)
          const record = live(recordId, nowMs)
          // The first completion is the answer forever; a late holder cannot change it.
          if (record === undefined || record.state === "completed") return
          records.set(recordId, { ...record, state: "completed", outcome })
        }),
      abandon: (scope, key) =>
        Effect.map(Clock.currentTimeMillis, (nowMs) => {
          const recordId = id(scope, key)
          const record = live(recordId, nowMs)
          if (record === undefined || record.state === "completed") return
          records.set(recordId, { ...record, lockedUntil: Math.min(record.lockedUntil, nowMs) })
        })
    })
  })

export const layer: Layer.Layer<IdempotencyStore.IdempotencyStore> = Layer.effect(
  IdempotencyStore.IdempotencyStore,
  make()
)

export const layerWith = (options: Options): Layer.Layer<IdempotencyStore.IdempotencyStore> =>
  Layer.effect(IdempotencyStore.IdempotencyStore, make(options))
