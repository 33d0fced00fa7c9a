/**
 * The port contract suites of @till/testkit on the Redis stores: the same cases the in-memory
 * stores pass, the CartStore's TTL cases included (on Redis's own clock: carts live 1 s, each
 * check 250 ms from the deadline). Keys under a prefix of this run, deleted at the end. Skipped
 * (with a message) when Redis is not running locally; a failure under CI=true.
 */
import { cartStoreContract, rateLimitStoreContract } from "@till/testkit/contracts"
import { afterAll } from "vitest"
import { cartStore, deleteRunKeys, rateLimitStore, rawClient } from "./support/redis.js"
import { describeService } from "./support/services.js"

await describeService("redis", "Redis stores: port contracts", () => {
  cartStoreContract("redis", cartStore(), {
    supportsTestClock: false,
    realClockTtl: { ttlMs: 1_000, marginMs: 250 }
  })
  rateLimitStoreContract("redis", rateLimitStore())

  afterAll(async () => {
    const redis = rawClient()
    await deleteRunKeys(redis)
    await redis.quit()
  })
})
