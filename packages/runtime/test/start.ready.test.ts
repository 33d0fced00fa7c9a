/**
 * `till start` opens its HTTP port only once everything behind it is built (stores, migrations,
 * the cluster, the jobs). A port that listens earlier accepts connections nobody answers: Node
 * drops a request that arrives before the router is attached, so the caller (a load balancer's
 * probe, a shopper during a rolling restart) waits until its own timeout. Before it is ready the
 * port refuses connections, which every client and balancer knows how to retry elsewhere.
 */
import { ConfigProvider, Effect, Fiber, Layer, Logger, Redacted } from "effect"
import { expect, it } from "vitest"
import * as Settings from "../src/Settings.js"
import * as Start from "../src/Start.js"
import { freePort } from "../../adapters/test/support/net.js"

const secret = "ready-test-secret-0123456789abcdefghij"
const buildMs = 1_000

/** GET /health/live: its status, "refused" when nothing listens, "hung" when nobody answers in 3 s. */
const probe = async (port: number): Promise<number | "refused" | "hung"> => {
  try {
    const answer = await fetch(`http://127.0.0.1:${port}/health/live`, { signal: AbortSignal.timeout(3_000) })
    await answer.arrayBuffer()
    return answer.status
  } catch (error) {
    return error instanceof Error && error.name === "TimeoutError" ? "hung" : "refused"
  }
}

it("a request sent while the services are still being built is refused, never left hanging", async () => {
  const port = await freePort()
  const settings = await Effect.runPromise(
    Effect.provide(
      Settings.config,
      ConfigProvider.layer(
        Settings.provider({
          TILL_HTTP_PORT: String(port),
          TILL_JWT_SECRET: secret,
          TILL_ENV: "development",
          TILL_LOG_LEVEL: "None"
        })
      )
    )
  )
  // The embedded services, taking a second longer to build (migrations, a cluster, a broker).
  const slowServices = Layer.merge(
    Start.services(settings, Redacted.make(secret)),
    Layer.effectDiscard(Effect.sleep(buildMs))
  )
  const startedAt = Date.now()
  const running = Effect.runFork(
    Layer.launch(Start.serve(settings, slowServices)).pipe(Effect.provide(Logger.layer([])))
  )
  try {
    const seen: Array<number | "refused" | "hung"> = []
    let answer: number | "refused" | "hung" = "refused"
    while (answer === "refused" && Date.now() - startedAt < 15_000) {
      answer = await probe(port)
      seen.push(answer)
      if (answer === "refused") await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(answer, `probes: ${seen.join(", ")}`).toBe(200)
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(buildMs)
  } finally {
    await Effect.runPromise(Fiber.interrupt(running))
  }
}, 30_000)
