/**
 * One permit per key, for serializing writes of one cart inside a process. Waiters are served
 * first come, first served; entries are removed when their last user leaves, so the map is
 * bounded by the keys in use.
 *
 * Hand-written rather than a `Semaphore` per key: a semaphore's `withPermits` costs about 30
 * runtime steps even when nobody else holds it (its take is an interruptible `async`), and
 * every cart write takes this lock. Here an uncontended lock costs about ten; only a waiter pays
 * for an `async` and its canceller.
 */
import { Effect } from "effect"

export interface KeyedLock {
  readonly withLock: (key: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Keys held or waited on now (for tests and gauges). */
  readonly size: () => number
}

interface Entry {
  held: boolean
  /** The holder and the waiters: the entry is dropped when none is left. */
  users: number
  /** Waiters in arrival order; calling one hands it the lock. */
  readonly waiters: Array<() => void>
}

export const makeKeyedLock = (): Effect.Effect<KeyedLock> =>
  Effect.sync(() => {
    const locks = new Map<string, Entry>()

    const entryOf = (key: string): Entry => {
      let entry = locks.get(key)
      if (entry === undefined) {
        entry = { held: false, users: 0, waiters: [] }
        locks.set(key, entry)
      }
      return entry
    }

    /** Takes the lock if it is free. */
    const tryLock = (key: string): Entry | undefined => {
      const entry = entryOf(key)
      if (entry.held) return undefined
      entry.held = true
      entry.users++
      return entry
    }

    const leave = (key: string, entry: Entry) => {
      if (--entry.users === 0) locks.delete(key)
    }

    /** The holder leaves: the next waiter gets the lock (it stays held), else it is free. */
    const unlock = (key: string, entry: Entry) => {
      const next = entry.waiters.shift()
      if (next === undefined) entry.held = false
      leave(key, entry)
      next?.()
    }

    /** Waits until the lock is free or handed over; interrupted, it holds nothing. */
    const lockWhenFree = (key: string) =>
      Effect.async<Entry>((resume) => {
        // Looked at again here: the holder may have left since the first try.
        const free = tryLock(key)
        if (free !== undefined) return resume(Effect.succeed(free))
        const entry = entryOf(key)
        entry.users++
        let handed = false
        const waiter = () => {
          handed = true
          resume(Effect.succeed(entry))
        }
        entry.waiters.push(waiter)
        return Effect.sync(() => {
          // Interrupted while waiting; if the lock was handed over meanwhile, pass it on.
          if (handed) return unlock(key, entry)
          entry.waiters.splice(entry.waiters.indexOf(waiter), 1)
          leave(key, entry)
        })
      })

    const withLock =
      (key: string) =>
      <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
        Effect.uninterruptibleMask((restore) => {
          const run = (entry: Entry) =>
            Effect.flatMap(Effect.exit(restore(effect)), (exit) => {
              unlock(key, entry)
              return exit
            })
          return Effect.suspend(() => {
            const entry = tryLock(key)
            return entry !== undefined ? run(entry) : Effect.flatMap(restore(lockWhenFree(key)), run)
          })
        })

    return { withLock, size: () => locks.size }
  })
