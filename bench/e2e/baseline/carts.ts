/**
 * The baseline's Redis work on ioredis (auto-pipelining on: commands issued in the same tick share
 * one write): carts as a hash (`doc`, `version`) with a 30-day TTL and an index of active carts by
 * last change (what an abandonment job reads), written by compare-and-set on the version in a Lua
 * script (EVALSHA), and the checkout rate limit as a sliding-window log in one script, as Till
 * keeps them. One round trip each: get (HMGET), insert (MULTI), write (EVALSHA), limit (EVALSHA).
 */
import { Redis } from "ioredis"

export interface CartLine {
  readonly sku: string
  readonly name: string
  readonly quantity: number
  readonly unit_price: number
}

export interface Cart {
  readonly cart_id: string
  readonly user_id: string
  readonly status: "active" | "checked_out"
  readonly currency: string
  readonly items: ReadonlyArray<CartLine>
  readonly order_id: string | null
  readonly updated_at: string
}

const ttlMs = 30 * 24 * 3600 * 1000

const casScript = `
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'version', tonumber(ARGV[1]) + 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[6] == '1' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5]) else redis.call('ZREM', KEYS[2], ARGV[5]) end
return 1`

const limitScript = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`

interface Scripted extends Redis {
  cartCas(cart: string, index: string, ...args: Array<string | number>): Promise<number>
  rateLimit(key: string, ...args: Array<string | number>): Promise<number>
}

export const open = async (url: string, prefix: string) => {
  const redis = new Redis(url, {
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    lazyConnect: true
  }) as Scripted
  await redis.connect()
  redis.defineCommand("cartCas", { numberOfKeys: 2, lua: casScript })
  redis.defineCommand("rateLimit", { numberOfKeys: 1, lua: limitScript })
  const cartKey = (id: string) => `${prefix}cart:${id}`
  const index = `${prefix}carts:active`
  let member = 0
  return {
    redis,
    get: async (id: string): Promise<{ cart: Cart; version: string } | undefined> => {
      const [doc, version] = await redis.hmget(cartKey(id), "doc", "version")
      return doc === null || doc === undefined || version === null || version === undefined
        ? undefined
        : { cart: JSON.parse(doc) as Cart, version }
    },
    insert: async (cart: Cart) => {
      const key = cartKey(cart.cart_id)
      await redis
        .multi()
        .hset(key, "doc", JSON.stringify(cart), "version", 1)
        .pexpire(key, ttlMs)
        .zadd(index, Date.now(), cart.cart_id)
        .exec()
    },
    /** Writes `cart` if it is still at `version`; false when another write came first. */
    write: async (cart: Cart, version: string): Promise<boolean> =>
      (await redis.cartCas(
        cartKey(cart.cart_id),
        index,
        version,
        JSON.stringify(cart),
        ttlMs,
        Date.now(),
        cart.cart_id,
        cart.status === "active" ? 1 : 0
      )) === 1,
    /** One unit of `limit` a `windowMs` for `key`; false when the window is full. */
    admit: async (key: string, limit: number, windowMs: number): Promise<boolean> => {
      const now = Date.now()
      return (
        (await redis.rateLimit(
          `${prefix}rl:${key}`,
          limit,
          windowMs,
          now,
          now - windowMs,
          `${process.pid}.${member++}`
        )) === 1
      )
    }
  }
}
export type Carts = Awaited<ReturnType<typeof open>>
