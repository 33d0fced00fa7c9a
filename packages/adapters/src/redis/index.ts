/**
 * `@till/adapters/redis`: Till's carts and rate limits on Redis through `ioredis`. `RedisClient`
 * is the connection (timeouts, fail-fast, breaker, reconnection), and each store a layer over it
 * implementing a port of `@till/core`.
 */
export const adapter = "redis"

export * as RedisCartStore from "./RedisCartStore.js"
export * as RedisClient from "./RedisClient.js"
export * as RedisRateLimitStore from "./RedisRateLimitStore.js"
