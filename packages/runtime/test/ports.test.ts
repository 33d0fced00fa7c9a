/**
 * The ports `till start` builds from its settings (src/Ports.ts). Embedded: the fake payment
 * gateway answers after `TILL_GATEWAY_LATENCY_MS` (rehearsing the seed's ~1 s gateway), and at
 * once without it. On Postgres: the pool's saturation feeds the degradation level.
 */
import { it } from "@effect/vitest"
import { Degradation, InventoryStore, PaymentGateway, Sku } from "@till/core"
import { FakePaymentGateway } from "@till/testkit"
import { ConfigProvider, Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import pg from "pg"
import { expect } from "vitest"
import * as Ports from "../src/Ports.js"
import * as Settings from "../src/Settings.js"
import { describeServices, serviceUrl } from "./support/services.js"

/** The ports of `env`, reading every setting (the adapters' too) from it. */
const portsOf = (env: Record<string, string>) =>
  Layer.unwrap(
    Effect.map(
      Effect.gen(function* () {
        return yield* Settings.config
      }),
      Ports.layer
    )
  ).pipe(Layer.provide(ConfigProvider.layer(Settings.provider(env))))

/** Whether a tokenize is answered before `ms` of (test) time have passed, and after. */
const answeredWithin = (ms: number) =>
  Effect.gen(function* () {
    const gateway = yield* PaymentGateway.PaymentGateway
    const fiber = yield* Effect.forkChild(
      gateway.tokenize(FakePaymentGateway.card(FakePaymentGateway.successCard))
    )
    yield* TestClock.adjust(ms - 1)
    const early = fiber.pollUnsafe() !== undefined
    yield* TestClock.adjust(1)
    yield* Fiber.join(fiber)
    return early
  })

it.effect("TILL_GATEWAY_LATENCY_MS=200: the fake gateway answers after 200 ms, not before", () =>
  Effect.gen(function* () {
    expect(yield* answeredWithin(200)).toBe(false)
  }).pipe(Effect.provide(portsOf({ TILL_GATEWAY_LATENCY_MS: "200" }).pipe(Layer.provide(Degradation.layer))))
)

it.effect("by default the fake gateway answers at once", () =>
  Effect.gen(function* () {
    expect(yield* answeredWithin(200)).toBe(true)
  }).pipe(Effect.provide(portsOf({}).pipe(Layer.provide(Degradation.layer))))
)

await describeServices(["postgres"], "the Postgres pool's saturation moves the degradation level", () => {
  it.live(
    "a pool taken whole by calls stuck on a lock sheds order history within the window; freed, it restores it",
    () =>
      Effect.gen(function* () {
        const schema = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`
        const env = {
          DATABASE_URL: serviceUrl("postgres"),
          POSTGRES_SCHEMA: schema,
          POSTGRES_MAX_CONNECTIONS: "2",
          POSTGRES_MIN_CONNECTIONS: "1",
          POSTGRES_STATEMENT_TIMEOUT_MS: "60000", // the stuck calls stay stuck for the test
          TILL_ENV: "development"
        }
        const outside = new pg.Client({ connectionString: serviceUrl("postgres") })
        yield* Effect.promise(() => outside.connect())
        const levelAfter = (ms: number) =>
          Effect.andThen(
            Effect.sleep(ms),
            Effect.flatMap(Degradation.Degradation, (d) => d.level)
          )
        yield* Effect.gen(function* () {
          const inventory = yield* InventoryStore.InventoryStore
          expect(yield* levelAfter(1_500)).toBe(0)
          // Both connections wait on a lock held outside the pool.
          yield* Effect.promise(() =>
            outside.query(`BEGIN; LOCK TABLE ${schema}.stock IN ACCESS EXCLUSIVE MODE`)
          )
          const stuck = yield* Effect.forkChild(
            Effect.all([inventory.level(Sku.make("a")), inventory.level(Sku.make("b"))], {
              concurrency: "unbounded"
            })
          )
          // Start.ts's cap: the pool alone asks for at most level 2 (reads shed, orders taken).
          const window = (Ports.poolWindowSeconds + 2) * 1_000
          expect(yield* levelAfter(window)).toBe(2)
          yield* Effect.promise(() => outside.query("COMMIT"))
          yield* Fiber.join(stuck)
          expect(yield* levelAfter(window)).toBe(0)
        }).pipe(
          Effect.provide(
            portsOf(env).pipe(
              Layer.provideMerge(
                Degradation.layerWith({ poolUtilizationPercentThresholds: [80, 95, 101, 101] })
              )
            )
          ),
          Effect.ensuring(
            Effect.promise(async () => {
              await outside.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined)
              await outside.end()
            })
          )
        )
      })
  )
})
