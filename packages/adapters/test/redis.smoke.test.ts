import { Redis } from "ioredis"
import { afterAll, expect, it } from "vitest"
import { describeService, serviceUrl } from "./support/services.js"

await describeService("redis", "Redis (real server)", () => {
  const redis = new Redis(serviceUrl("redis"), {
    lazyConnect: true,
    connectTimeout: 2_000,
    commandTimeout: 2_000
  })
  afterAll(() => redis.quit())

  it("SET then GET returns the value, and the TTL is set", async () => {
    const key = `till:smoke:${process.pid}:${Date.now()}`
    await redis.set(key, "hello", "EX", 30)
    expect(await redis.get(key)).toBe("hello")
    expect(await redis.ttl(key)).toBeGreaterThan(0)
    await redis.del(key)
  })
})
