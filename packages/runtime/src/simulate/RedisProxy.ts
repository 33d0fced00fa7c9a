/**
 * The simulator's TCP proxy between the embedded Till and its Redis (node:net, bytes passed
 * through untouched), so that `redis-down` is a real outage to the ioredis client and not a mock:
 *
 * - **down**: every open connection is reset (RST), as the kernel does to a client's socket when
 *   the Redis process dies or its host reboots; a command in flight fails with the connection. New
 *   connections are accepted and reset at once: to the client this is a refusal (it sees
 *   ECONNRESET where a closed port says ECONNREFUSED; ioredis treats both alike: it reconnects,
 *   backing off). A refusal models a Redis that is down better than a blackhole (connections that
 *   hang): that is a hung or partitioned Redis, a different fault, which the client's command
 *   timeout and breaker answer.
 * - **up**: new connections are passed through again; the client's next reconnection attempt
 *   gets in.
 *
 * Every connection to the upstream Redis must be made within `connectTimeoutMs`, or the client's
 * side is reset too: the proxy never holds a client on a Redis that does not answer.
 */
import { Effect, Schema, type Scope } from "effect"
import * as net from "node:net"

/** Longest wait for the upstream Redis to accept a connection the proxy opens for a client. */
export const connectTimeoutMs = 5_000
/** Most client connections passed through at once (the runtime opens one; a leak would show here). */
export const maxConnections = 64

export interface Counts {
  /** Connections reset when the proxy went down. */
  readonly dropped: number
  /** Connections reset on arrival while down (the client's reconnection attempts). */
  readonly refused: number
  /** Connections passed through to the upstream. */
  readonly passed: number
}

export interface Proxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number
  /** Drops every connection and refuses new ones until `up`; the connections dropped. */
  readonly down: Effect.Effect<number>
  /** Lets new connections through again. */
  readonly up: Effect.Effect<void>
  readonly counts: () => Counts
}

/** The proxy could not listen on loopback. */
export class ProxyFailed extends Schema.TaggedError<ProxyFailed>()("ProxyFailed", {
  reason: Schema.String
}) {}

interface Pair {
  readonly client: net.Socket
  readonly upstream: net.Socket
}

const reset = (socket: net.Socket) => {
  if (socket.destroyed) return
  // A socket that never connected has nothing to reset: destroy closes it.
  if (socket.readyState === "open") socket.resetAndDestroy()
  else socket.destroy()
}

/** A proxy to `upstream` on a free loopback port, for the length of the scope. */
export const open = (upstream: {
  readonly host: string
  readonly port: number
}): Effect.Effect<Proxy, ProxyFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const pairs = new Set<Pair>()
    let isDown = false
    const counts = { dropped: 0, refused: 0, passed: 0 }

    const close = (pair: Pair) => {
      pairs.delete(pair)
      reset(pair.client)
      reset(pair.upstream)
    }

    const server = net.createServer({ noDelay: true }, (client) => {
      client.on("error", () => {})
      if (isDown || pairs.size >= maxConnections) {
        if (isDown) counts.refused++
        reset(client)
        return
      }
      const socket = net.connect({ host: upstream.host, port: upstream.port, noDelay: true })
      const pair: Pair = { client, upstream: socket }
      pairs.add(pair)
      counts.passed++
      socket.setTimeout(connectTimeoutMs, () => close(pair))
      socket.once("connect", () => socket.setTimeout(0))
      for (const side of [client, socket]) {
        side.on("error", () => close(pair))
        side.on("close", () => close(pair))
      }
      client.pipe(socket)
      socket.pipe(client)
    })

    const port = yield* Effect.acquireRelease(
      Effect.callback<number, ProxyFailed>((resume) => {
        server.once("error", (error) => resume(Effect.fail(new ProxyFailed({ reason: error.message }))))
        server.listen({ host: "127.0.0.1", port: 0 }, () => {
          const address = server.address()
          resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
        })
      }),
      () =>
        Effect.sync(() => {
          for (const pair of [...pairs]) close(pair)
          server.close()
        })
    )

    return {
      port,
      down: Effect.sync(() => {
        isDown = true
        const open = [...pairs]
        for (const pair of open) close(pair)
        counts.dropped += open.length
        return open.length
      }),
      up: Effect.sync(() => {
        isDown = false
      }),
      counts: () => ({ ...counts })
    } satisfies Proxy
  })
