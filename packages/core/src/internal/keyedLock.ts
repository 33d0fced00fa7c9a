/**
 * One permit per key, for serializing writes of one cart inside a process. Entries are
 * removed when their last holder leaves, so the map is bounded by the keys in use.
 */
import { Effect } from "effect"

export interface KeyedLock {
  readonly withLock: (key: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export const makeKeyedLock = (): Effect.Effect<KeyedLock> =>
  Effect.sync(() => {
    const locks = new Map<string, { semaphore: Effect.Semaphore; users: number }>()
    const acquire = (key: string) => {
      let entry = locks.get(key)
      if (entry === undefined) {
        entry = { semaphore: Effect.unsafeMakeSemaphore(1), users: 0 }
        locks.set(key, entry)
      }
      entry.users++
      return entry
    }
    const leave = (key: string) => {
      const entry = locks.get(key)
      if (entry !== undefined && --entry.users === 0) locks.delete(key)
    }
    return {
      withLock: (key) => (effect) =>
        Effect.acquireUseRelease(
          Effect.sync(() => acquire(key)),
          (entry) => entry.semaphore.withPermits(1)(effect),
          () => Effect.sync(() => leave(key))
        )
    }
  })
