/**
 * Readiness and logs: `/health/ready` is 503 while a configured service does not answer (its
 * probe bounded to a second), and no log line of a checkout journey, at the most verbose level,
 * holds a card number or the JWT secret.
 */
import { Effect, Layer, Logger, References } from "effect"
import { expect, it } from "vitest"
import { checkout, readyToPay, secret, start } from "./support/http.js"

it("ready is 503 naming the service whose probe hangs or fails, 200 once all answer", async () => {
  let up = false
  const till = start(
    {},
    {
      checks: [
        { name: "hung", probe: Effect.suspend(() => (up ? Effect.void : Effect.never)) },
        { name: "failing", probe: Effect.suspend(() => (up ? Effect.void : Effect.fail("refused"))) }
      ]
    }
  )
  try {
    const started = Date.now()
    const down = await till.call("GET", "/health/ready", { as: null })
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(down.status).toBe(503)
    expect(down.body).toEqual({
      status: "unavailable",
      checks: { hung: "unavailable", failing: "unavailable" }
    })
    expect((await till.call("GET", "/health/live", { as: null })).status).toBe(200)
    up = true
    const ready = await till.call("GET", "/health/ready", { as: null })
    expect(ready.status).toBe(200)
    expect(ready.body).toEqual({ status: "ok", checks: { hung: "ok", failing: "ok" } })
  } finally {
    await till.dispose()
  }
})

it("no log line holds a card number or the secret, even at the most verbose level", async () => {
  const lines: Array<string> = []
  const capture = Logger.map(Logger.formatJson, (line) => {
    lines.push(line)
  })
  const till = start(
    {},
    { layer: Layer.mergeAll(Logger.layer([capture]), Layer.succeed(References.MinimumLogLevel, "All")) }
  )
  try {
    const ready = await readyToPay(till, "pat", "card-scan", 1, { onHand: 5 })
    expect((await checkout(till, "pat", ready)).status).toBe(201)
    const declined = await readyToPay(till, "pat", "card-scan", 1, { cardNumber: "4000000000000002" })
    expect((await checkout(till, "pat", declined)).status).toBe(402)
    // A bad card and a bad body: their problems and log lines must not echo the number either.
    await till.call("POST", "/v1/payment-methods", {
      as: "pat",
      body: { card: { number: "4242424242424241", exp_month: 13, exp_year: 2030, cvc: "12" } }
    })
    await till.call("POST", "/v1/payment-methods", { as: "pat", raw: '{"card":{"number":"5555555555554444"' })
  } finally {
    await till.dispose()
  }
  expect(lines.length).toBeGreaterThan(0)
  const text = lines.join("\n")
  for (const number of ["4242424242424242", "4000000000000002", "4242424242424241", "5555555555554444"])
    expect(text).not.toContain(number)
  expect(text).not.toMatch(/\d{12,19}/)
  expect(text).not.toContain(secret)
})
