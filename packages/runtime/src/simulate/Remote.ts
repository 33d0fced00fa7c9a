/**
 * A running Till as the simulation's world (`--target URL`): the demo client's requests are sent
 * over HTTP to its origin. It has no stores to read and no process to kill, so `inspect`, `crash`
 * and `restart` die: the run refuses faults and skips the store checks before it gets here.
 */
import { Effect } from "effect"
import type { Answer, World } from "../demo/World.js"

/** The longest a request may take before it counts as cut off (status 0). */
export const requestTimeoutMs = 30_000

const parse = (text: string): unknown => {
  try {
    return text.length > 0 ? JSON.parse(text) : undefined
  } catch {
    return undefined
  }
}

const unreachable = (what: string) =>
  Effect.die(new Error(`${what} needs the embedded Till: a --target run cannot do it (a simulate bug)`))

/** The Till at `origin`, with tokens signed by `secret`. */
export const world = (origin: string, secret: string): World => ({
  secret,
  send: async (request: Request): Promise<Answer> => {
    const path = new URL(request.url)
    try {
      const init: RequestInit = {
        method: request.method,
        headers: request.headers,
        signal: AbortSignal.timeout(requestTimeoutMs)
      }
      if (request.method !== "GET" && request.method !== "HEAD") init.body = await request.text()
      const response = await fetch(new URL(path.pathname + path.search, origin), init)
      return { status: response.status, body: parse(await response.text()) }
    } catch {
      return { status: 0, body: undefined }
    }
  },
  inspect: () => unreachable("reading the stores"),
  crash: unreachable("a crash"),
  restart: () => unreachable("a restart")
})
