/**
 * Redis for the tests: a key prefix per test run (so runs, and the people running them, never
 * share a key), clients on the tests' Redis, and a throwaway `redis-server` on a port of its own
 * for the tests that stop and restart it (stopped by its pid, never by name).
 */
import { RedisCartStore, RedisClient, RedisRateLimitStore } from "@till/adapters/redis"
import { type ChildProcess, spawn } from "node:child_process"
import { Redis } from "ioredis"
import { Layer, Redacted } from "effect"
import { serviceUrl } from "./services.js"
import { freePort } from "./net.js"

/** `till-test:<pid>-<random>:`, once per test file run. */
export const runPrefix = `till-test:${process.pid}-${crypto.randomUUID().slice(0, 8)}:`

/** The client on the tests' Redis (or `url`), keys under `runPrefix` + `sub`. */
export const clientLayer = (settings: Partial<RedisClient.Settings> = {}, sub = "") =>
  RedisClient.layerWith({
    url: Redacted.make(serviceUrl("redis")),
    keyPrefix: `${runPrefix}${sub}`,
    ...settings
  })

export const cartStore = (settings: Partial<RedisClient.Settings> = {}) =>
  RedisCartStore.layer.pipe(Layer.provideMerge(clientLayer(settings)))

export const rateLimitStore = (settings: Partial<RedisClient.Settings> = {}) =>
  RedisRateLimitStore.layer.pipe(Layer.provideMerge(clientLayer(settings)))

/** A plain ioredis client on the tests' Redis, for what the stores never do (inspect, flush scripts). */
export const rawClient = (url = serviceUrl("redis")) =>
  new Redis(url, { connectTimeout: 2_000, commandTimeout: 2_000, maxRetriesPerRequest: 1 })

/** Deletes every key of this run (SCAN + UNLINK under the prefix). */
export const deleteRunKeys = async (redis: Redis, prefix = runPrefix): Promise<number> => {
  let cursor = "0"
  let deleted = 0
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1_000)
    cursor = next
    if (keys.length > 0) deleted += await redis.unlink(...keys)
  } while (cursor !== "0")
  return deleted
}

/** Every key of this run with its value as text (strings, hashes, sorted sets), for content checks. */
export const dumpRunKeys = async (redis: Redis, prefix = runPrefix): Promise<Array<[string, string]>> => {
  const out: Array<[string, string]> = []
  let cursor = "0"
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1_000)
    cursor = next
    for (const key of keys) {
      const type = await redis.type(key)
      const value =
        type === "hash"
          ? JSON.stringify(await redis.hgetall(key))
          : type === "zset"
            ? JSON.stringify(await redis.zrange(key, 0, -1, "WITHSCORES"))
            : type === "string"
              ? ((await redis.get(key)) ?? "")
              : type
      out.push([key, value])
    }
  } while (cursor !== "0")
  return out
}

const answers = async (port: number): Promise<boolean> => {
  const probe = new Redis({
    port,
    host: "127.0.0.1",
    lazyConnect: true,
    connectTimeout: 200,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0
  })
  probe.on("error", () => {})
  try {
    await probe.connect()
    return (await probe.ping()) === "PONG"
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}

export const redisServerBinary = process.env["TILL_TEST_REDIS_SERVER"] ?? "/usr/bin/redis-server"

/** A redis-server of the test's own on a free port: no persistence, stopped and started by pid. */
export interface OwnRedis {
  readonly port: number
  readonly url: string
  readonly pid: () => number | undefined
  /** Starts the server (again; nothing when it runs), resolving once it answers PING (at most 5 s). */
  readonly start: () => Promise<void>
  /** SIGTERM to its pid, resolving once the process has exited. */
  readonly stop: () => Promise<void>
  /** SIGSTOP / SIGCONT: a server that keeps its connections and answers nothing. */
  readonly pause: () => void
  readonly resume: () => void
}

export const ownRedis = async (): Promise<OwnRedis> => {
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) return
    const started = spawn(
      redisServerBinary,
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "warning"
      ],
      { stdio: "ignore" }
    )
    child = started
    const deadline = Date.now() + 5_000
    while (Date.now() < deadline) {
      if (started.exitCode !== null)
        throw new Error(`redis-server on ${port} exited with ${started.exitCode}`)
      if (await answers(port)) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`redis-server on ${port} did not answer within 5 s`)
  }
  const stop = async () => {
    const running = child
    if (
      running === undefined ||
      running.exitCode !== null ||
      running.signalCode !== null ||
      running.pid === undefined
    )
      return
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()))
    process.kill(running.pid, "SIGCONT")
    process.kill(running.pid, "SIGTERM")
    await exited
  }
  const signal = (name: NodeJS.Signals) => {
    if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, name)
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    pid: () => child?.pid,
    start,
    stop,
    pause: () => signal("SIGSTOP"),
    resume: () => signal("SIGCONT")
  }
}
