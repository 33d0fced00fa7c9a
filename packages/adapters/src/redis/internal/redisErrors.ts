/**
 * How a failed Redis command reaches a store's caller. A Redis that cannot answer now (not
 * connected, the connection lost mid-command, a command timed out, the server loading its data,
 * a script busy, a replica that became read-only in a failover, out of memory) is
 * `StoreUnavailable`: transient, a 503 at the edge. Any other error reply (WRONGTYPE, a Lua error
 * in one of Till's scripts, a bad argument) is a bug in Till or a key written by someone else, so
 * a defect: a caller must never paper over it with a retry.
 */
import { Errors } from "@till/core"
import { Effect } from "effect"

/** Reply prefixes that mean "not now" rather than "never" (Redis's own error codes). */
const transientReplies = [
  "LOADING",
  "BUSY",
  "READONLY",
  "MASTERDOWN",
  "TRYAGAIN",
  "CLUSTERDOWN",
  "OOM",
  "MISCONF"
]

const isReplyError = (error: unknown): error is Error => error instanceof Error && error.name === "ReplyError"

/** Whether a command's rejection says Redis cannot answer now (as opposed to a bug). */
export const isTransient = (error: unknown): boolean =>
  !isReplyError(error) || transientReplies.some((code) => error.message.startsWith(code))

/** A rejection with NOSCRIPT: the server's script cache does not hold the script (restart, SCRIPT FLUSH). */
export const isNoScript = (error: unknown): boolean =>
  isReplyError(error) && error.message.startsWith("NOSCRIPT")

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message.slice(0, 300) : String(error).slice(0, 300)

/** A rejection of a command of `store`: transient ones fail `StoreUnavailable`, the others die. */
export const fromRejection = (
  store: string,
  error: unknown
): Effect.Effect<never, Errors.StoreUnavailable> =>
  isTransient(error)
    ? Effect.fail(new Errors.StoreUnavailable({ store, reason: `redis: ${messageOf(error)}` }))
    : Effect.die(error)
