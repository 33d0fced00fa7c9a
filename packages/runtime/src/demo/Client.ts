/**
 * The demo's HTTP client: every scenario talks to Till through the real API (App.webHandler, in
 * process), with bearer tokens it mints itself, and this client counts what it saw: requests,
 * statuses and latencies, for the summary table.
 */
import { Effect } from "effect"
import { performance } from "node:perf_hooks"
import * as Jwt from "../http/Jwt.js"
import type { Answer, World } from "./World.js"

export interface CallOptions {
  /** The caller's user id (the token's `sub`); default `shopper`. */
  readonly as?: string
  /** Adds `role: "admin"` to the token (the admin routes). */
  readonly admin?: boolean
  readonly body?: unknown
  /** The `Idempotency-Key` header. */
  readonly key?: string
  /** Not counted in the scenario's numbers: the demo's own watching (the outage timeline's polls). */
  readonly quiet?: boolean
}

/** What a scenario's requests came to. */
export interface Stats {
  readonly requests: number
  /** Answers by status; 0 is a request cut off by a crash. */
  readonly statuses: ReadonlyMap<number, number>
  readonly latenciesMs: ReadonlyArray<number>
}

export interface Client {
  readonly call: (method: string, path: string, options?: CallOptions) => Effect.Effect<Answer>
  readonly stats: () => Stats
}

/** A token lives an hour: longer than any demo. */
const tokenTtlSeconds = 3_600

/** A client of `world` that counts its own calls. */
export const make = (world: World): Client => {
  const tokens = new Map<string, string>()
  const statuses = new Map<number, number>()
  const latenciesMs: Array<number> = []
  const tokenOf = (user: string, admin: boolean) => {
    const id = `${user}/${admin}`
    let token = tokens.get(id)
    if (token === undefined) {
      token = Jwt.sign(world.secret, {
        sub: user,
        exp: Math.floor(Date.now() / 1000) + tokenTtlSeconds,
        ...(admin ? { role: "admin" as const } : {})
      })
      tokens.set(id, token)
    }
    return token
  }
  const call = (method: string, path: string, options: CallOptions = {}) =>
    Effect.promise(async () => {
      const headers: Record<string, string> = {
        authorization: `Bearer ${tokenOf(options.as ?? "shopper", options.admin ?? false)}`
      }
      if (options.key !== undefined) headers["idempotency-key"] = options.key
      const init: RequestInit =
        options.body === undefined
          ? { method, headers }
          : {
              method,
              headers: { ...headers, "content-type": "application/json" },
              body: JSON.stringify(options.body)
            }
      const started = performance.now()
      const answer = await world.send(new Request(`http://till.demo${path}`, init))
      if (options.quiet !== true) {
        latenciesMs.push(performance.now() - started)
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
      }
      return answer
    })
  return {
    call,
    stats: () => ({
      requests: latenciesMs.length,
      statuses: new Map(statuses),
      latenciesMs: [...latenciesMs]
    })
  }
}

/** The `q`-quantile (0..1) of `values` by nearest rank; 0 for none. */
export const quantile = (values: ReadonlyArray<number>, q: number): number => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

/** `201: 10, 409: 190`: the statuses, in order, each with its count (`cut` for a crash's). */
export const describeStatuses = (statuses: ReadonlyMap<number, number>): string =>
  [...statuses.entries()]
    .sort(([a], [b]) => a - b)
    .map(([status, n]) => `${status === 0 ? "cut" : status}: ${n}`)
    .join(", ")
