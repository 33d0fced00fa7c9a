/**
 * A Lua script sent by EVALSHA, its SHA-1 computed here (as Redis computes it), so the script
 * text crosses the wire once per server lifetime, not once per call. A server that does not hold
 * it (first call, a restart, a failover, SCRIPT FLUSH) answers NOSCRIPT; the call is then sent
 * once as EVAL, which runs the script and caches it on the server for the next EVALSHA.
 *
 * Why not ioredis's `defineCommand`: it does the same, but hides whether the fallback ran, and the
 * adapter wants that visible (`evalFallbacks`, tested by flushing the script cache) and free of
 * ioredis's per-connection bookkeeping.
 */
import { createHash } from "node:crypto"
import type { Redis } from "ioredis"
import { isNoScript } from "./redisErrors.js"

export interface LuaScript {
  readonly sha: string
  readonly source: string
  /** Runs the script on `keys` with `args` (EVALSHA, then EVAL on NOSCRIPT). */
  readonly run: (
    redis: Redis,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<string | number>
  ) => Promise<unknown>
  /** How many calls fell back to EVAL since the script was made. */
  readonly evalFallbacks: () => number
  /** How many times the script was sent (one per `run`) since it was made. */
  readonly runs: () => number
}

export const make = (source: string): LuaScript => {
  const sha = createHash("sha1").update(source, "utf8").digest("hex")
  let fallbacks = 0
  let runs = 0
  const run = (redis: Redis, keys: ReadonlyArray<string>, args: ReadonlyArray<string | number>) => {
    runs++
    return redis.evalsha(sha, keys.length, ...keys, ...args).catch((error: unknown) => {
      if (!isNoScript(error)) throw error
      fallbacks++
      return redis.eval(source, keys.length, ...keys, ...args)
    })
  }
  return { sha, source, run, evalFallbacks: () => fallbacks, runs: () => runs }
}
