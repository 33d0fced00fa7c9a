/**
 * Calls to a running `till start` over loopback HTTP, for the process tests and the benches (no
 * test framework here, so a bench can import it): wait until it is ready, and send a request as a
 * user with a token minted with the instance's secret ("ops" is an admin).
 */
import { Jwt } from "@till/runtime"

export const waitReady = async (port: number, timeoutMs = 60_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(2_000) })
      if (r.status === 200) return
    } catch {
      // Not listening yet: till start opens its port once it is built (start.ready.test.ts).
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`till did not become ready on port ${port}`)
}

/** A request to the instance on `port` as `user`, with a fresh token signed with `secret`. */
export const callWith =
  (secret: string) =>
  (
    port: number,
    user: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {}
  ): Promise<Response> =>
    fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      signal: AbortSignal.timeout(30_000),
      headers: {
        authorization: `Bearer ${Jwt.sign(secret, {
          sub: user,
          exp: Math.floor(Date.now() / 1000) + 600,
          ...(user === "ops" ? { role: "admin" as const } : {})
        })}`,
        "content-type": "application/json",
        ...headers
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
