/**
 * The load generator of the end-to-end bench: a process of its own (forked by `e2e.bench.ts`, run
 * by Node's own type stripping, no loader), so the server under test never shares an event loop
 * with the client. It speaks only the HTTP contract of API.md, so the same code drives Till and
 * the hand-written baseline.
 *
 * One "checkout" is a shopper's whole journey, four requests over keep-alive connections
 * (undici's `Pool`): POST /v1/carts, POST /v1/carts/{id}/items (one unit of a random SKU),
 * POST /v1/payment-methods (the fake gateway's good card), POST /v1/checkout with a fresh
 * Idempotency-Key. Shoppers are `users` distinct users (tokens signed here with the server's
 * secret), taken in turn, so the seed's rate limit (10 checkouts a minute per user) is exercised
 * but never reached unless a phase runs more than `users / 6` checkouts a second.
 *
 * Phases (a message from the parent each, answered with a `Result`):
 * - `closed`: `concurrency` shoppers, each starting its next journey when the last one ends;
 * - `open`: journeys arrive at `rate` a second whatever the server does (at most `maxInFlight`
 *   at once; an arrival beyond that is counted as `shed`, never queued), and a journey's latency
 *   counts from its scheduled arrival, so a server that falls behind shows it (no coordinated
 *   omission).
 * Both run `warmupMs` first; only journeys that end in the `durationMs` window after it count, and
 * a phase answers once every journey it started has ended (or 120 s after its window), so the
 * next phase starts on an idle server.
 */
import { createHmac, randomBytes } from "node:crypto"
import { Pool } from "undici"

export interface Setup {
  readonly type: "setup"
  readonly baseUrl: string
  readonly secret: string
  readonly users: number
  readonly skus: ReadonlyArray<string>
  /** Most connections to the server (and journeys in flight in an open phase). */
  readonly maxInFlight: number
}

export interface Phase {
  readonly type: "run"
  readonly mode: "closed" | "open"
  /** Shoppers of a closed phase. */
  readonly concurrency: number
  /** Arrivals a second of an open phase. */
  readonly rate: number
  readonly warmupMs: number
  readonly durationMs: number
}

export interface Result {
  readonly type: "result"
  /** Journeys that ended in the window. */
  readonly ended: number
  /** Of those, checkouts answered 201 (confirmed). */
  readonly confirmed: number
  /** Checkouts answered 201 in the whole phase, warm-up and drain included (to check against the database). */
  readonly confirmedTotal: number
  /** `confirmed` per second of the window. */
  readonly confirmedPerSec: number
  /** Latencies (ms) of the POST /v1/checkout of confirmed journeys, and of their whole journey. */
  readonly checkoutMs: Percentiles
  readonly journeyMs: Percentiles
  /** Answers that were not the step's success, by `step:status` (`step:error` for a failed connection). */
  readonly failures: Readonly<Record<string, number>>
  /** Open phases: arrivals dropped because `maxInFlight` journeys were under way. */
  readonly shed: number
  /** Journeys still running 120 s after the window closed (counted as failures `journey:stuck`). */
  readonly stuck: number
  /** How long the journeys under way when the window closed took to end (the next phase starts after). */
  readonly drainMs: number
}

export interface Percentiles {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

type Message = Setup | Phase | { readonly type: "exit" }

const card = JSON.stringify({
  card: { number: "4242424242424242", exp_month: 12, exp_year: 2030, cvc: "123" }
})
const address = {
  name: "Ada Bench",
  line1: "1 Loop Rd",
  city: "London",
  postal_code: "SW1A 1AA",
  country: "GB"
}

const sign = (secret: string, sub: string): string => {
  const head = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url")
  const claims = { sub, exp: Math.floor(Date.now() / 1000) + 6 * 3600 }
  const body = `${head}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`
}

const percentiles = (xs: Array<number>): Percentiles => {
  if (xs.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0 }
  xs.sort((a, b) => a - b)
  const at = (p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: xs[xs.length - 1]! }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

let setup: Setup | undefined
let pool: Pool | undefined
let tokens: Array<string> = []
let nextUser = 0
let journeys = 0
const run = randomBytes(4).toString("hex")

/** A journey's outcome: confirmed (with its two latencies), or the step and status it failed at. */
type Outcome =
  | { readonly ok: true; readonly checkoutMs: number }
  | { readonly ok: false; readonly failure: string }

const call = async (
  method: "POST",
  path: string,
  auth: string,
  body: string,
  extra?: Record<string, string>
): Promise<{ status: number; text: string }> => {
  const answer = await pool!.request({
    method,
    path,
    headers: { authorization: auth, "content-type": "application/json", ...extra },
    body
  })
  return { status: answer.statusCode, text: await answer.body.text() }
}

const journey = async (): Promise<Outcome> => {
  const s = setup!
  const auth = tokens[nextUser++ % tokens.length]!
  const n = journeys++
  const step = async (name: string, expected: number, f: () => Promise<{ status: number; text: string }>) => {
    try {
      const answer = await f()
      return answer.status === expected ? answer : `${name}:${answer.status}`
    } catch {
      return `${name}:error`
    }
  }
  const cart = await step("carts", 201, () => call("POST", "/v1/carts", auth, "{}"))
  if (typeof cart === "string") return { ok: false, failure: cart }
  const cartId = (JSON.parse(cart.text) as { cart_id: string }).cart_id
  const sku = s.skus[Math.floor(Math.random() * s.skus.length)]!
  const item = await step("items", 200, () =>
    call("POST", `/v1/carts/${cartId}/items`, auth, JSON.stringify({ sku, quantity: 1 }))
  )
  if (typeof item === "string") return { ok: false, failure: item }
  const method = await step("paymentMethods", 201, () => call("POST", "/v1/payment-methods", auth, card))
  if (typeof method === "string") return { ok: false, failure: method }
  const paymentMethodId = (JSON.parse(method.text) as { payment_method_id: string }).payment_method_id
  const body = JSON.stringify({
    cart_id: cartId,
    shipping_address: address,
    payment_method_id: paymentMethodId
  })
  const startedMs = performance.now()
  const checkout = await step("checkout", 201, () =>
    call("POST", "/v1/checkout", auth, body, { "idempotency-key": `e2e-${run}-${n}` })
  )
  if (typeof checkout === "string") return { ok: false, failure: checkout }
  return { ok: true, checkoutMs: performance.now() - startedMs }
}

const runPhase = async (phase: Phase): Promise<Result> => {
  const startMs = performance.now()
  const windowFrom = startMs + phase.warmupMs
  const windowTo = windowFrom + phase.durationMs
  const checkoutMs: Array<number> = []
  const journeyMs: Array<number> = []
  const failures: Record<string, number> = {}
  let ended = 0
  let confirmed = 0
  let confirmedTotal = 0
  let shed = 0
  let inFlight = 0
  const fail = (key: string) => {
    failures[key] = (failures[key] ?? 0) + 1
  }
  /** One journey from `scheduledMs` (its arrival), recorded when it ends inside the window. */
  const one = async (scheduledMs: number) => {
    inFlight++
    const outcome = await journey()
    inFlight--
    const endMs = performance.now()
    if (outcome.ok) confirmedTotal++
    if (endMs < windowFrom || endMs >= windowTo) {
      // Outside the window: only failures still count (a refused request is never hidden).
      if (!outcome.ok && endMs >= windowFrom) fail(outcome.failure)
      return
    }
    ended++
    if (!outcome.ok) return fail(outcome.failure)
    confirmed++
    checkoutMs.push(outcome.checkoutMs)
    journeyMs.push(endMs - scheduledMs)
  }
  const running = new Set<Promise<void>>()
  const track = (p: Promise<void>) => {
    running.add(p)
    void p.finally(() => running.delete(p))
  }
  if (phase.mode === "closed") {
    const shopper = async () => {
      while (performance.now() < windowTo) await one(performance.now())
    }
    for (let i = 0; i < phase.concurrency; i++) track(shopper())
    await sleep(Math.max(0, windowTo - performance.now()))
  } else {
    const intervalMs = 1000 / phase.rate
    let arrivals = 0
    while (true) {
      const now = performance.now()
      if (now >= windowTo) break
      // Every arrival due by now starts now, scheduled at its own time.
      for (let due = Math.floor((now - startMs) / intervalMs); arrivals <= due; arrivals++) {
        const scheduledMs = startMs + arrivals * intervalMs
        if (scheduledMs >= windowTo) break
        if (inFlight >= setup!.maxInFlight) {
          if (scheduledMs >= windowFrom) shed++
          continue
        }
        track(one(scheduledMs))
      }
      await sleep(1)
    }
  }
  const drainFrom = performance.now()
  while (running.size > 0 && performance.now() < drainFrom + 120_000) await sleep(20)
  const drainMs = performance.now() - drainFrom
  const stuck = running.size
  if (stuck > 0) failures["journey:stuck"] = stuck
  return {
    type: "result",
    ended,
    confirmed,
    confirmedTotal,
    confirmedPerSec: confirmed / (phase.durationMs / 1000),
    checkoutMs: percentiles(checkoutMs),
    journeyMs: percentiles(journeyMs),
    failures,
    shed,
    stuck,
    drainMs
  }
}

const reply = (message: Result | { readonly type: "ready" }) => process.send!(message)

process.on("message", (message: Message) => {
  if (message.type === "exit") {
    void (pool?.close() ?? Promise.resolve()).finally(() => process.exit(0))
    return
  }
  if (message.type === "setup") {
    void pool?.close()
    setup = message
    pool = new Pool(message.baseUrl, {
      connections: message.maxInFlight,
      keepAliveTimeout: 30_000,
      headersTimeout: 60_000,
      bodyTimeout: 60_000
    })
    tokens = Array.from(
      { length: message.users },
      (_, i) => `Bearer ${sign(message.secret, `shopper-${run}-${i}`)}`
    )
    nextUser = 0
    reply({ type: "ready" })
    return
  }
  void runPhase(message).then(reply)
})
