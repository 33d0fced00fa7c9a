/**
 * `till simulate`: the demo's engine with knobs. Shoppers arrive at a steady rate (open loop) for
 * a while, each checking out one unit of a SKU drawn with a skew, some with a card that is
 * declined, while a schedule of faults plays (a gateway 503 storm, gateway latency, a process
 * restart, Redis down); then the run drains (in-flight checkouts answered, every order ended) and
 * the stores' and the gateway's records are checked with the demo's invariants (demo/Invariants.ts).
 *
 * Embedded by default: a demo world (demo/World.ts: the in-memory ports, the compressed clock of
 * its breaker and jobs), driven through the HTTP API in process; with `REDIS_URL` its carts and
 * rate limits are on that Redis (simulate/Redis.ts). With `--target URL` it drives a running Till
 * over HTTP instead: no faults (they need the process) and no store checks (they need the
 * stores). A live line each second says how it goes; `--report` writes the JSON report
 * and `--html` a page of charts. It fails `InvariantBroken` (exit 1) when an invariant broke.
 *
 * The modules, under simulate/: Options (knobs, limits), Faults (the schedule), Draw (seeded
 * choices), Arrivals (the loop), Watch (the admin routes sampled), Series (per-second numbers),
 * Report (JSON), Svg and Html (the page), Remote (a `--target` world), Redis and RedisProxy (the
 * world's carts, and the proxy `redis-down` takes down).
 */
import { Config, ConfigProvider, Effect, Fiber, Option, Redacted } from "effect"
import { InMemoryOrderStore } from "@till/testkit"
import { randomBytes } from "node:crypto"
import * as Client from "./demo/Client.js"
import * as Invariants from "./demo/Invariants.js"
import * as Output from "./demo/Output.js"
import { ledgerOf, waitFor } from "./demo/Scenario.js"
import * as World from "./demo/World.js"
import * as RuntimeSettings from "./Settings.js"
import * as Arrivals from "./simulate/Arrivals.js"
import * as Faults from "./simulate/Faults.js"
import * as Html from "./simulate/Html.js"
import * as Options from "./simulate/Options.js"
import * as Redis from "./simulate/Redis.js"
import * as Remote from "./simulate/Remote.js"
import * as Report from "./simulate/Report.js"
import * as Series from "./simulate/Series.js"
import * as Watch from "./simulate/Watch.js"

export { InvariantBroken } from "./demo/Invariants.js"
export * as Faults from "./simulate/Faults.js"
export * as Html from "./simulate/Html.js"
export * as Options from "./simulate/Options.js"
export * as Redis from "./simulate/Redis.js"
export * as Report from "./simulate/Report.js"
export * as Series from "./simulate/Series.js"
export { SimulateRefused } from "./simulate/Options.js"
export { ReportNotWritten } from "./simulate/Report.js"

export type Settings = Options.Settings

export interface RunOptions {
  /** Where to write (default: stdout). */
  readonly out?: Output.Output | undefined
  /** Rewrite one progress line (a terminal) rather than print one a second (default: stdout is a TTY). */
  readonly tty?: boolean | undefined
  /**
   * The embedded world's stores (a test plants a broken one to see the checks fail); its cart and
   * rate-limit stores are replaced when carts are on Redis or `redis-down` is scheduled.
   */
  readonly world?: World.Options | undefined
  /** The Redis of the embedded world's carts and rate limits (default: `REDIS_URL`; none: in memory). */
  readonly redisUrl?: Redacted.Redacted<string> | undefined
}

const admin = { as: "sim-ops", admin: true, quiet: true } as const
const terminal = new Set(["confirmed", "payment_failed", "cancelled", "expired"])
const percent = (share: number) => `${Math.round(share * 1_000) / 10}%`

const describeAnswers = (answered: Readonly<Record<string, number>>) =>
  Object.entries(answered)
    .map(([status, n]) => `${status === "0" ? "cut" : status}: ${n}`)
    .join(", ") || "none yet"

/** The target's JWT secret: `--jwt-secret`, else TILL_JWT_SECRET. */
const targetSecret = (settings: Options.Settings) =>
  settings.jwtSecret !== undefined
    ? Effect.succeed(Redacted.value(settings.jwtSecret))
    : Config.option(Config.Redacted("TILL_JWT_SECRET")).pipe(
        Effect.provide(ConfigProvider.layer(RuntimeSettings.provider())),
        Effect.orElseSucceed(() => Option.none<Redacted.Redacted<string>>()),
        Effect.flatMap(
          Option.match({
            onSome: (secret) => Effect.succeed(Redacted.value(secret)),
            onNone: () =>
              Effect.fail(
                new Options.SimulateRefused({
                  reason:
                    "till simulate: --target needs the target's JWT secret to mint tokens: --jwt-secret or TILL_JWT_SECRET"
                })
              )
          })
        )
      )

/** The embedded world's Redis: `options.redisUrl`, else REDIS_URL (`till start`'s variable), else none. */
const redisUrlOf = (options: RunOptions) =>
  options.redisUrl !== undefined
    ? Effect.succeed(options.redisUrl)
    : Config.option(Config.Redacted("REDIS_URL")).pipe(
        Effect.provide(ConfigProvider.layer(RuntimeSettings.provider())),
        Effect.orElseSucceed(() => Option.none<Redacted.Redacted<string>>()),
        Effect.map((url) =>
          Option.getOrUndefined(Option.filter(url, (u) => Redacted.value(u).trim().length > 0))
        )
      )

/** The faults that played during the `index`-th second (a window that overlaps it, a restart in it). */
const activeDuring = (faults: ReadonlyArray<Faults.Fault>, index: number) =>
  faults.filter((f) =>
    f.kind === "restart"
      ? Math.floor(f.atMs / 1_000) === index
      : f.atMs < (index + 1) * 1_000 && Faults.endMs(f) > index * 1_000
  )

/**
 * A cart made before the clock starts, read through the API after a `redis-down` window to see
 * when carts answer again: a read, so watching writes nothing and takes no stock.
 */
const probeCart = (client: Client.Client) =>
  Effect.flatMap(client.call("POST", "/v1/carts", { as: "sim-probe", quiet: true, body: {} }), (answer) =>
    answer.status === 201
      ? Effect.succeed(
          Effect.map(
            client.call("GET", `/v1/carts/${answer.body.cart_id}`, { as: "sim-probe", quiet: true }),
            (read) => read.status === 200
          )
        )
      : Effect.fail(
          new Options.SimulateRefused({
            reason: `till simulate: making the probe cart answered ${answer.status}`
          })
        )
  )

/** Puts every SKU on the shelf through the admin route; refuses the run when the target says no. */
const stockShelf = (client: Client.Client, skus: ReadonlyArray<string>, settings: Options.Settings) =>
  Effect.forEach(
    skus,
    (sku, k) =>
      Effect.flatMap(
        client.call("PUT", `/v1/admin/products/${sku}`, {
          ...admin,
          body: {
            name: `Simulated product ${k + 1}`,
            price: { amount: 1_000 + 100 * (k % 20), currency: "USD" },
            on_hand: settings.stockPerSku
          }
        }),
        (answer) =>
          answer.status === 200
            ? Effect.void
            : Effect.fail(
                new Options.SimulateRefused({
                  reason:
                    `till simulate: stocking ${sku} answered ${answer.status === 0 ? "nothing (unreachable?)" : answer.status}` +
                    (answer.status === 401 || answer.status === 403
                      ? ": is the JWT secret the target's?"
                      : "")
                })
              )
      ),
    { concurrency: 16, discard: true }
  )

/** Runs the simulation `settings` describe; prints as it goes and writes the files asked for. */
export const run = (
  settings: Options.Settings,
  options: RunOptions = {}
): Effect.Effect<
  Report.Report,
  Options.SimulateRefused | Invariants.InvariantBroken | Report.ReportNotWritten
> =>
  Effect.scoped(
    Effect.gen(function* () {
      yield* Options.validate(settings)
      const out = options.out ?? Output.forStdout()
      const tty = options.tty ?? globalThis.process.stdout.isTTY === true
      const embedded = settings.target === undefined
      // Opened before the world, whose stores it provides, and closed after it (its keys deleted).
      const redis = embedded ? yield* Redis.open(yield* redisUrlOf(options), settings.faults) : undefined
      const world = embedded
        ? yield* World.open({
            ...options.world,
            stores: {
              ...options.world?.stores,
              ...(redis?.cartStore === undefined ? {} : { cartStore: redis.cartStore }),
              ...(redis?.rateLimitStore === undefined ? {} : { rateLimitStore: redis.rateLimitStore })
            }
          })
        : Remote.world(settings.target!, yield* targetSecret(settings))
      const client = Client.make(world)
      // A target keeps what earlier runs left: this run's SKUs and shoppers are its own.
      const prefix = embedded ? "" : `sim-${randomBytes(3).toString("hex")}-`
      const skus = Array.from({ length: settings.skus }, (_, k) => `${prefix}sku-${k + 1}`)

      const where =
        redis === undefined
          ? settings.target
          : redis.store === "redis"
            ? `embedded, carts and rate limits on Redis (REDIS_URL${redis.counts() === null ? "" : ", through the simulator's proxy"}), the rest in memory, through the HTTP API in process`
            : "embedded in-memory ports, through the HTTP API in process"
      yield* out.line(
        `till simulate — ${where}: ` +
          `${settings.ratePerSecond} checkouts/s for ${settings.durationSeconds} s, ${settings.users} users, ` +
          `${settings.skus} SKUs × ${settings.stockPerSku} (skew ${settings.skew}), ${percent(settings.declineRate)} declined, ` +
          `faults: ${settings.faults.map(Faults.format).join(",") || "none"}`
      )
      const startedAtMs = Date.now()
      yield* stockShelf(client, skus, settings)
      const plan = Arrivals.plan(settings, skus, `${prefix}shopper-`)
      const methods = yield* Arrivals.saveCards(client, plan)
      const cartAnswers = settings.faults.some((f) => f.kind === "redis-down")
        ? yield* probeCart(client)
        : Effect.succeed(true)

      const series = Series.make(Date.now())
      const t0 = series.t0Ms
      const note = (text: string) =>
        Effect.suspend(() => out.line(`   t+${((Date.now() - t0) / 1_000).toFixed(1).padStart(5)}s  ${text}`))
      const progress = (index: number) =>
        Effect.suspend(() => {
          const s = series.second(index)
          const so = series.answeredSoFar()
          const { breaker, storeBreaker, depth } = series.latest()
          const active = activeDuring(settings.faults, index).map((f) => f.kind)
          const text =
            `t+${index + 1}s  started ${s.started}/s  answers ${describeAnswers(so.answered)}  errors ${so.errors}  ` +
            `p99 ${s.latencyMsP99} ms  breaker ${breaker}  queue ${depth}` +
            (storeBreaker === "open" || storeBreaker === "halfOpen" ? `  cart breaker ${storeBreaker}` : "") +
            (active.length > 0 ? `  fault ${active.join("+")}` : "")
          return tty ? out.progress(text) : out.line(`   … ${text}`)
        })
      const ticker = Effect.gen(function* () {
        for (let index = 0; ; index++) {
          yield* Effect.sleep(Math.max(0, t0 + (index + 1) * 1_000 - Date.now()))
          yield* progress(index)
        }
      })

      const watcher = yield* Effect.forkChild(Watch.forever(client, series))
      const ticking = yield* Effect.forkChild(ticker)
      const faults = yield* Effect.forkChild(
        redis !== undefined
          ? Faults.play(settings.faults, { world, redis, cartAnswers }, t0, note)
          : Effect.succeed([])
      )
      yield* Arrivals.run(client, plan, methods, series)
      const outages = yield* Fiber.join(faults)
      yield* note(
        `arrivals over; draining (in-flight checkouts answered, ${embedded ? "every order ended" : "the payment queue empty"})`
      )

      // The drain: every order ended and the payment queue empty, within the same deadline.
      const drainUntilMs = t0 + (settings.durationSeconds + settings.drainSeconds) * 1_000
      const timeoutMs = Math.max(0, drainUntilMs - Date.now())
      const drained = embedded
        ? world.inspect(
            waitFor(
              Effect.flatMap(InMemoryOrderStore.Inspector, (store) => store.orders),
              (orders) => series.latest().depth === 0 && orders.every((o) => terminal.has(o.status)),
              { timeoutMs, everyMs: 100 }
            )
          )
        : waitFor(Effect.sync(series.latest), (latest) => latest.depth === 0, { timeoutMs, everyMs: 100 })
      yield* drained
      yield* Watch.sample(client, series)
      yield* Fiber.interrupt(watcher)
      yield* Fiber.interrupt(ticking)
      yield* out.clearProgress

      const ledger = embedded
        ? yield* world.inspect(ledgerOf(new Map(skus.map((sku) => [sku, settings.stockPerSku]))))
        : undefined
      const invariants = ledger === undefined ? [] : Invariants.check(ledger)
      const orders =
        ledger === undefined
          ? null
          : ledger.orders.reduce<Record<string, number>>(
              (counts, o) => Object.assign(counts, { [o.status]: (counts[o.status] ?? 0) + 1 }),
              {}
            )
      const report: Report.Report = {
        tool: "till simulate",
        formatVersion: 1,
        startedAt: new Date(startedAtMs).toISOString(),
        mode: embedded ? "embedded" : "target",
        settings: Report.settingsOf(settings),
        faults: Report.windows(settings.faults),
        carts: redis?.store ?? null,
        outages,
        series: series.seconds(),
        totals: series.totals(),
        orders,
        invariantsChecked: ledger !== undefined,
        invariants,
        ok: invariants.every((c) => c.ok),
        elapsedSeconds: Math.round((Date.now() - startedAtMs) / 100) / 10
      }
      if (settings.reportFile !== undefined) yield* Report.write(settings.reportFile, Report.toJson(report))
      if (settings.htmlFile !== undefined) yield* Report.write(settings.htmlFile, Html.page(report))

      const t = report.totals
      yield* out.line(
        `simulate: ${t.started} started${t.shed > 0 ? `, ${t.shed} shed` : ""}; answers ${describeAnswers(t.answered)}` +
          `${t.unanswered > 0 ? `, ${t.unanswered} unanswered` : ""}; errors ${t.errors}; ` +
          `p50 ${t.latencyMsP50} ms, p99 ${t.latencyMsP99} ms; payment queue peak ${t.paymentQueueDepthPeak}; ` +
          `breaker open ${t.breakerOpenSeconds} s` +
          (t.storeBreakerOpenSeconds > 0 ? `, cart breaker open ${t.storeBreakerOpenSeconds} s` : "")
      )
      if (orders !== null)
        yield* out.line(
          `orders (stores): ${
            Object.entries(orders)
              .map(([status, n]) => `${status} ${n}`)
              .join(", ") || "none"
          }`
        )
      if (ledger === undefined)
        yield* out.line("invariants: not checked (a --target run cannot read the stores of another process)")
      for (const c of invariants) yield* out.line(`${c.ok ? "✓" : "✗"} ${c.name}: ${c.detail}`)
      for (const [what, path] of [
        ["report", settings.reportFile],
        ["page", settings.htmlFile]
      ] as const)
        if (path !== undefined) yield* out.line(`${what}: ${path}`)
      const broken = invariants.filter((c) => !c.ok).map((c) => `${c.name} (${c.detail})`)
      if (broken.length > 0) return yield* Effect.fail(new Invariants.InvariantBroken({ failed: broken }))
      return report
    })
  )
