/**
 * The platform team's files, held to what Till really serves:
 * - `prometheus/alerts.yml` has the seed's four alerts with their thresholds and durations, and
 *   `alerts.test.yml` (promtool's unit tests) tests each one firing and silent;
 * - every metric name, label and label value that `alerts.yml` and `grafana/till-dashboard.json`
 *   use is in the `/metrics` of a running Till (`Start.services`, what `till start` runs) after a
 *   checkout, a rate-limited one and an abandoned cart: on the embedded in-memory ports, and on
 *   Postgres for the pool's gauges, which only an instance with `DATABASE_URL` has;
 * - `docker-compose.yml` runs Postgres, Redis and Kafka on the ports the README's URLs name.
 *
 * The files are read with small line parsers (no YAML dependency); a line they do not understand
 * fails the test rather than being skipped.
 */
import { PgLayer } from "@till/adapters/postgres"
import { freePort } from "../../../packages/adapters/test/support/net.js"
import { App, Jwt, Settings, Start } from "@till/runtime"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { readFileSync } from "node:fs"
import * as net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const file = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), "utf8")

// --- prometheus/alerts.yml -------------------------------------------------------------------

interface Rule {
  readonly alert: string
  readonly expr: string
  readonly for: string
  readonly labels: Record<string, string>
  readonly annotations: Record<string, string>
}

const unquote = (value: string): string => {
  if (value.startsWith('"')) return JSON.parse(value) as string
  if (value.startsWith("'")) return value.slice(1, -1).replaceAll("''", "'")
  if (/^[|>]/.test(value)) throw new Error("multi-line values are not read: keep each value on one line")
  return value
}

/** The rules of a Prometheus rules file written as `alerts.yml` is: one key per line, two-space indents. */
const readRules = (text: string): ReadonlyArray<Rule> => {
  const rules: Array<{ -readonly [K in keyof Rule]: Rule[K] }> = []
  let section: "labels" | "annotations" | undefined
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trimEnd()
    if (line.trim() === "" || line.trim().startsWith("#")) continue
    const m = /^( *)(- )?([a-z_]+):(?: (.+))?$/.exec(line)
    if (m === null) throw new Error(`alerts.yml:${index + 1}: not understood: ${line}`)
    const [, indent = "", dash, key = "", rawValue] = m
    const depth = indent.length + (dash === undefined ? 0 : 2)
    const value = rawValue === undefined ? undefined : unquote(rawValue)
    const rule = rules.at(-1)
    const where = `alerts.yml:${index + 1}`
    if (depth === 0 && key === "groups" && value === undefined) continue
    if (depth === 4 && ((dash !== undefined && key === "name") || (key === "rules" && value === undefined)))
      continue
    if (depth === 8 && dash !== undefined && key === "alert" && value !== undefined) {
      rules.push({ alert: value, expr: "", for: "", labels: {}, annotations: {} })
      section = undefined
    } else if (depth === 8 && dash === undefined && rule !== undefined) {
      if ((key === "labels" || key === "annotations") && value === undefined) section = key
      else if ((key === "expr" || key === "for") && value !== undefined) {
        rule[key] = value
        section = undefined
      } else throw new Error(`${where}: unexpected key ${key} in a rule`)
    } else if (depth === 10 && section !== undefined && rule !== undefined && value !== undefined) {
      rule[section][key] = value
    } else throw new Error(`${where}: not understood: ${line}`)
  }
  return rules
}

// --- grafana/till-dashboard.json -------------------------------------------------------------

interface Panel {
  readonly id: number
  readonly type: string
  readonly title: string
  readonly gridPos?: { readonly x: number; readonly y: number; readonly w: number; readonly h: number }
  readonly datasource?: { readonly uid: string }
  readonly targets?: ReadonlyArray<{ readonly refId: string; readonly expr: string }>
  readonly panels?: ReadonlyArray<Panel>
}

interface Dashboard {
  readonly uid: string
  readonly panels: ReadonlyArray<Panel>
  readonly templating: { readonly list: ReadonlyArray<{ readonly name: string; readonly query: string }> }
}

const dashboard = JSON.parse(file("grafana/till-dashboard.json")) as Dashboard
const allPanels = (panels: ReadonlyArray<Panel>): ReadonlyArray<Panel> =>
  panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])])
const dashboardExprs = allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr))

// --- PromQL, read just enough -----------------------------------------------------------------

const metricNames = (text: string): ReadonlyArray<string> =>
  [...text.matchAll(/\btill_[a-z0-9_]+\b/g)].map((m) => m[0])

interface Matcher {
  readonly metric: string
  readonly label: string
  readonly op: string
  readonly value: string
}

const matchers = (text: string): ReadonlyArray<Matcher> =>
  [...text.matchAll(/\b(till_[a-z0-9_]+)\s*\{([^}]*)\}/g)].flatMap(([, metric = "", inside = ""]) =>
    [...inside.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map(
      ([, label = "", op = "", value = ""]) => ({ metric, label, op, value })
    )
  )

/** The labels of `by (...)` / `without (...)` clauses. */
const groupings = (text: string): ReadonlyArray<string> =>
  [...text.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap(([, inside = ""]) =>
    inside
      .split(",")
      .map((l) => l.trim())
      .filter((l) => l !== "")
  )

/** Labels Prometheus adds to every scraped series. */
const targetLabels = new Set(["instance", "job"])

const balanced = (text: string): boolean => {
  const open = "([{"
  const close = ")]}"
  const stack: Array<string> = []
  for (const c of text.replaceAll(/"[^"]*"/g, '""')) {
    if (open.includes(c)) stack.push(c)
    else if (close.includes(c) && stack.pop() !== open[close.indexOf(c)]) return false
  }
  return stack.length === 0
}

// --- /metrics ---------------------------------------------------------------------------------

interface Exposition {
  /** Sample name (`till_x_bucket` included) -> the label sets it has. */
  readonly samples: ReadonlyMap<string, ReadonlyArray<Record<string, string>>>
  /** Metric family -> its HELP text. */
  readonly help: ReadonlyMap<string, string>
}

const readExposition = (text: string): Exposition => {
  const samples = new Map<string, Array<Record<string, string>>>()
  const help = new Map<string, string>()
  for (const line of text.split("\n")) {
    const h = /^# HELP (\S+) (.*)$/.exec(line)
    if (h !== null) help.set(h[1]!, h[2]!)
    if (line === "" || line.startsWith("#")) continue
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line)
    if (s === null) throw new Error(`/metrics: not a sample line: ${line}`)
    const labels = Object.fromEntries(
      [...(s[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k!, v!])
    )
    samples.set(s[1]!, [...(samples.get(s[1]!) ?? []), labels])
  }
  return { samples, help }
}

const helpOf = (exposition: Exposition, sample: string): string =>
  [...exposition.help.entries()].find(
    ([family]) => sample === family || sample.startsWith(`${family}_`)
  )?.[1] ?? ""

/** What in `text` (PromQL, or prose quoting it) names something `exposition` does not have. */
const unknownIn = (text: string, exposition: Exposition): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const names = metricNames(text)
  for (const name of names) if (!exposition.samples.has(name)) problems.push(`no metric ${name}`)
  for (const { metric, label, op, value } of matchers(text)) {
    const series = exposition.samples.get(metric) ?? []
    if (!series.some((s) => label in s)) problems.push(`${metric} has no label ${label}`)
    // A value must be one a series has, or one the metric's HELP text names (an outcome not
    // counted yet in this run, such as "failed").
    else if (
      (op === "=" || op === "!=") &&
      !series.some((s) => s[label] === value) &&
      !new RegExp(`\\b${value}\\b`).test(helpOf(exposition, metric))
    )
      problems.push(`${metric}{${label}="${value}"}: no such value`)
  }
  for (const label of groupings(text))
    if (
      !targetLabels.has(label) &&
      !names.some((n) => (exposition.samples.get(n) ?? []).some((s) => label in s))
    )
      problems.push(`no metric of "${text}" has the label ${label}`)
  return problems
}

// --- a running Till ---------------------------------------------------------------------------

const secret = "platform-team-example-secret-0123456789"

interface Till {
  readonly call: (
    method: string,
    path: string,
    options?: {
      readonly as?: string
      readonly admin?: boolean
      readonly body?: unknown
      readonly key?: string
    }
  ) => Promise<{ readonly status: number; readonly text: string; readonly body: Record<string, string> }>
  readonly dispose: () => Promise<void>
}

/** `till start`'s services (`Start.services`) as a web handler, configured by `env` as the process would be. */
const startTill = async (env: Record<string, string>): Promise<Till> => {
  const provider = ConfigProvider.layer(
    Settings.provider({
      TILL_ENV: "development",
      TILL_JWT_SECRET: secret,
      TILL_CLUSTER_PORT: String(await freePort()),
      ...env
    })
  )
  const settings = await Effect.runPromise(
    Effect.provide(
      Effect.gen(function* () {
        return yield* Settings.config
      }),
      provider
    )
  )
  const { handler, dispose } = App.webHandler(
    Start.services(settings, Redacted.make(secret)).pipe(Layer.provide(provider))
  )
  return {
    call: async (method, path, options = {}) => {
      const token = Jwt.sign(secret, {
        sub: options.as ?? "alice",
        exp: Math.floor(Date.now() / 1000) + 600,
        role: options.admin ? "admin" : undefined
      })
      const headers: Record<string, string> = { authorization: `Bearer ${token}` }
      if (options.key !== undefined) headers["idempotency-key"] = options.key
      if (options.body !== undefined) headers["content-type"] = "application/json"
      const init: RequestInit =
        options.body === undefined
          ? { method, headers }
          : { method, headers, body: JSON.stringify(options.body) }
      const response = await handler(new Request(`http://till.test${path}`, init))
      const text = await response.text()
      const body = response.headers.get("content-type")?.includes("json") ? JSON.parse(text) : {}
      return { status: response.status, text, body }
    },
    dispose
  }
}

/** A cart with one mug, a card, a checkout; answers the checkout's status. */
const checkOut = async (till: Till, user: string, key: string) => {
  const cart = await till.call("POST", "/v1/carts", { as: user, body: {} })
  await till.call("POST", `/v1/carts/${cart.body.cart_id}/items`, {
    as: user,
    body: { sku: "mug", quantity: 1 }
  })
  const method = await till.call("POST", "/v1/payment-methods", {
    as: user,
    body: { card: { number: "4242424242424242", exp_month: 12, exp_year: 2030, cvc: "123" } }
  })
  const placed = await till.call("POST", "/v1/checkout", {
    as: user,
    key,
    body: {
      cart_id: cart.body.cart_id,
      payment_method_id: method.body.payment_method_id,
      shipping_address: { name: "Ada", line1: "1 Main St", city: "London", postal_code: "N1", country: "GB" }
    }
  })
  return placed.status
}

/**
 * One checkout, then one over the limit (the limit is 1 a minute here, so the rate-limit counter
 * exists too), whose cart stays active and is reported abandoned a second later (see `runEnv`);
 * then `/metrics` once the background jobs have reported (the retry queue's depth, the outbox lag
 * and the abandoned carts are set by jobs), read for at most 10 s.
 */
const metricsAfterCheckout = async (till: Till, expected: ReadonlyArray<string>): Promise<Exposition> => {
  const stocked = await till.call("PUT", "/v1/admin/products/mug", {
    as: "ops",
    admin: true,
    body: { name: "Mug", price: { amount: 1500, currency: "USD" }, on_hand: 10 }
  })
  expect(stocked.status).toBe(200)
  expect(await checkOut(till, "alice", "first")).toBe(201)
  expect(await checkOut(till, "alice", "second")).toBe(429)
  const deadline = Date.now() + 10_000
  for (;;) {
    const metrics = await till.call("GET", "/metrics")
    expect(metrics.status).toBe(200)
    const exposition = readExposition(metrics.text)
    if (expected.every((n) => exposition.samples.has(n)) || Date.now() > deadline) return exposition
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** Till's settings in both runs: checkouts limited to 1 a minute, carts abandoned after 1 s idle. */
const runEnv = {
  RATE_LIMITS_CHECKOUT_LIMIT: "1",
  TILL_ABANDONED_AFTER_MS: "1000",
  TILL_ABANDONMENT_EVERY_MS: "200"
}

const rules = readRules(file("prometheus/alerts.yml"))
const ruleTexts = rules.flatMap((r) => [r.expr, ...Object.values(r.annotations)])
const usedNames = [...new Set([...ruleTexts, ...dashboardExprs].flatMap(metricNames))].sort()

/** Only an instance with DATABASE_URL has a connection pool. */
const postgresOnly = (name: string) => name.startsWith("till_db_pool_")

describe("prometheus/alerts.yml", () => {
  it("has the seed's four alerts, each with its threshold, duration, severity and summary", () => {
    const seed = {
      TillPaymentFailureRateHigh: { for: "5m", threshold: /> 0\.05$/ },
      TillOrderCreationFailuresHigh: { for: "5m", threshold: /> 0\.01$/ },
      TillDbPoolSaturated: { for: "2m", threshold: /> 0\.9 or .*> 0$/ },
      TillCheckoutConversionLow: { for: "10m", threshold: /< 0\.25$/ }
    }
    expect(rules.map((r) => r.alert).sort()).toEqual(Object.keys(seed).sort())
    for (const rule of rules) {
      const { for: duration, threshold } = seed[rule.alert as keyof typeof seed]
      expect(rule.for, rule.alert).toBe(duration)
      expect(rule.expr, rule.alert).toMatch(threshold)
      expect(balanced(rule.expr), `${rule.alert}: unbalanced brackets`).toBe(true)
      expect(["page", "ticket"], rule.alert).toContain(rule.labels["severity"])
      expect(rule.annotations["summary"]?.length ?? 0, rule.alert).toBeGreaterThan(0)
    }
  })

  it("the rate windows match each alert's duration (a 5m alert on a 5m rate, the conversion on 10m)", () => {
    for (const rule of rules.filter((r) => r.expr.includes("rate(")))
      for (const [, window] of rule.expr.matchAll(/\[(\w+)\]/g)) expect(window, rule.alert).toBe(rule.for)
  })

  it("the pool's divisor and the dashboard's pool size are POSTGRES_MAX_CONNECTIONS' default", () => {
    const pool = rules.find((r) => r.alert === "TillDbPoolSaturated")!
    expect(pool.expr).toContain(`/ ${PgLayer.defaults.maxConnections} `)
    const constant = dashboard.templating.list.find((v) => v.name === "pool_max_connections")
    expect(constant?.query).toBe(String(PgLayer.defaults.maxConnections))
  })

  it("alerts.test.yml (promtool's unit tests) tests every alert, firing and not firing", () => {
    const tests = file("prometheus/alerts.test.yml")
    expect(tests).toMatch(/^rule_files:\n {2}- alerts\.yml$/m)
    for (const rule of rules) {
      const cases = [
        ...tests.matchAll(/- eval_time: \w+\n {8}alertname: (\w+)\n {8}exp_alerts:(.*)$/gm)
      ].filter(([, name]) => name === rule.alert)
      expect(
        cases.some(([, , rest]) => rest === " []"),
        `${rule.alert} never tested silent`
      ).toBe(true)
      expect(
        cases.some(([, , rest]) => rest === ""),
        `${rule.alert} never tested firing`
      ).toBe(true)
    }
  })

  it("the line parser refuses what it does not understand", () => {
    expect(() => readRules("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: |\n")).toThrow(
      /multi-line/
    )
    expect(() => readRules("groups:\n  - name: x\n    rules:\n      - alert: A\n        exp: up\n")).toThrow(
      /unexpected key exp/
    )
  })
})

describe("grafana/till-dashboard.json", () => {
  const panels = allPanels(dashboard.panels)
  const graphs = panels.filter((p) => p.type !== "row")

  it("every panel has a place, a data source and queries; ids are unique", () => {
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length)
    for (const panel of graphs) {
      expect(panel.gridPos, panel.title).toBeDefined()
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
      expect(panel.datasource?.uid, panel.title).toBe("${datasource}")
      expect(panel.targets?.length ?? 0, panel.title).toBeGreaterThan(0)
      for (const target of panel.targets ?? []) {
        expect(target.refId, panel.title).toMatch(/^[A-Z]$/)
        expect(balanced(target.expr), target.expr).toBe(true)
      }
    }
  })

  it("shows what the platform team watches: checkouts, payments, latency p50/p99, carts, breakers, outbox, pool, rate limits", () => {
    const all = dashboardExprs.join("\n")
    for (const name of [
      "till_checkouts_total",
      "till_payments_total",
      "till_order_creation_seconds_bucket",
      "till_carts_abandoned_total",
      "till_circuit_breaker_state",
      "till_outbox_lag_ms",
      "till_db_pool_in_use",
      "till_rate_limit_rejections_total"
    ])
      expect(metricNames(all)).toContain(name)
    expect(all).toContain("histogram_quantile(0.5, sum by (le) (rate(till_order_creation_seconds_bucket")
    expect(all).toContain("histogram_quantile(0.99, sum by (le) (rate(till_order_creation_seconds_bucket")
  })
})

describe("docker-compose.yml and prometheus/prometheus.yml", () => {
  /** The services of the compose file: each top-level key under `services:`, with its lines. */
  const services = (text: string): ReadonlyMap<string, string> => {
    const found = new Map<string, string>()
    let inServices = false
    let current: string | undefined
    for (const line of text.split("\n")) {
      if (/^\S/.test(line)) {
        inServices = line.startsWith("services:")
        current = undefined
      } else if (inServices) {
        const m = /^ {2}([a-z0-9_-]+):\s*$/.exec(line)
        if (m !== null) {
          current = m[1]!
          found.set(current, "")
        } else if (current !== undefined) found.set(current, `${found.get(current)}${line}\n`)
      }
    }
    return found
  }

  it("runs Postgres, Redis and a single-node KRaft Kafka on the ports the README's URLs name", () => {
    const compose = services(file("docker-compose.yml"))
    for (const name of ["postgres", "redis", "kafka"]) expect([...compose.keys()]).toContain(name)
    expect(compose.get("postgres")).toContain('"127.0.0.1:5432:5432"')
    expect(compose.get("redis")).toContain('"127.0.0.1:6379:6379"')
    expect(compose.get("kafka")).toContain('"127.0.0.1:9092:9092"')
    expect(compose.get("kafka")).toMatch(/KAFKA_PROCESS_ROLES: broker,controller/)
    expect(compose.get("kafka")).toMatch(/image: apache\/kafka:3\.9\./)
    expect(compose.get("kafka")).not.toMatch(/zookeeper/i)
    const readme = file("README.md")
    expect(readme).toContain("DATABASE_URL=postgres://postgres:till@127.0.0.1:5432/till")
    expect(readme).toContain("REDIS_URL=redis://127.0.0.1:6379/0")
    expect(readme).toContain("KAFKA_BROKERS=127.0.0.1:9092")
  })

  it("Prometheus scrapes /metrics on till's port and loads alerts.yml", () => {
    const prometheus = file("prometheus/prometheus.yml")
    expect(prometheus).toMatch(/^ {2}- alerts\.yml$/m)
    expect(prometheus).toMatch(/^ {4}metrics_path: \/metrics$/m)
    expect(prometheus).toMatch(/targets: \["[a-z.]+:8080"\]/)
  })
})

describe("the metrics the rules and the dashboard use exist", () => {
  it("on the embedded ports, after a checkout: every name, label and value (the pool's gauges aside)", async () => {
    const till = await startTill(runEnv)
    try {
      const exposition = await metricsAfterCheckout(
        till,
        usedNames.filter((n) => !postgresOnly(n))
      )
      // Names that only an instance on Postgres serves: the pool's, and nothing else.
      expect(usedNames.filter((n) => !exposition.samples.has(n))).toEqual(usedNames.filter(postgresOnly))
      const problems = [...ruleTexts, ...dashboardExprs].flatMap((text) =>
        unknownIn(text, exposition).filter((p) => !metricNames(p).some(postgresOnly))
      )
      expect(problems).toEqual([])
    } finally {
      await till.dispose()
    }
  })

  it("the checker itself finds a wrong name, label or value", () => {
    const exposition = readExposition(
      '# HELP till_checkouts_total Checkouts, by outcome: confirmed, failed\ntill_checkouts_total{outcome="confirmed"} 1\n'
    )
    expect(unknownIn('sum(rate(till_checkouts_total{outcome="failed"}[5m]))', exposition)).toEqual([])
    expect(unknownIn("rate(till_checkout_total[5m])", exposition)).toEqual(["no metric till_checkout_total"])
    expect(unknownIn('till_checkouts_total{result="confirmed"}', exposition)).toEqual([
      "till_checkouts_total has no label result"
    ])
    expect(unknownIn('till_checkouts_total{outcome="success"}', exposition)).toEqual([
      'till_checkouts_total{outcome="success"}: no such value'
    ])
    expect(unknownIn("sum by (status) (till_checkouts_total)", exposition)).toHaveLength(1)
  })
})

// --- on Postgres: the pool's gauges -----------------------------------------------------------

const databaseUrl = process.env["TILL_TEST_DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/till_test"

const reachable = (url: string): Promise<boolean> =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = net.connect({ host: hostname, port: Number(port || 5432) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

const postgresUp = await reachable(databaseUrl)
if (!postgresUp && process.env["CI"] === "true")
  throw new Error(`Postgres at ${databaseUrl} not reachable and CI=true: bash scripts/services.sh up`)
if (!postgresUp) console.warn(`[platform-team] SKIPPING the Postgres case: ${databaseUrl} not reachable`)

describe.skipIf(!postgresUp)("on Postgres (DATABASE_URL)", () => {
  const schema = `example_platform_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`
  let till: Till
  beforeAll(async () => {
    till = await startTill({
      ...runEnv,
      DATABASE_URL: databaseUrl,
      POSTGRES_SCHEMA: schema
    })
  }, 60_000)
  afterAll(async () => {
    await till?.dispose()
    await Effect.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`
      }).pipe(
        Effect.provide(
          PgLayer.layerWith({ url: Redacted.make(databaseUrl), maxConnections: 1, minConnections: 0 })
        )
      )
    )
  })

  it("every name the rules and the dashboard use is served, the pool's gauges included", async () => {
    const exposition = await metricsAfterCheckout(till, usedNames)
    expect(usedNames.filter((n) => !exposition.samples.has(n))).toEqual([])
    expect([...ruleTexts, ...dashboardExprs].flatMap((text) => unknownIn(text, exposition))).toEqual([])
  })
})
