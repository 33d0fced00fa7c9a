import { registerHooks } from "node:module"
import { fileURLToPath, pathToFileURL } from "node:url"
const coreSource = pathToFileURL(fileURLToPath(new URL("../../core/src/index.ts", import.meta.url))).href
registerHooks({ resolve: (s, c, n) => n(s === "@till/core" ? coreSource : s, c) })
const { Effect, Layer, Scope, Context } = await import("effect")
const core = await import("@till/core")
const TestTill = await import("../src/TestTill.js")
const FPG = await import("../src/FakePaymentGateway.js")
const layer = TestTill.layer({ seed: 1 })
const scope = Effect.runSync(Scope.make())
const ctx = await Effect.runPromise(Layer.buildWithScope(layer, scope))
const run = <A, E>(e: any) => Effect.runSync(Effect.provide(e, ctx) as any) as A
for (let i = 0; i < 20; i++) run(Effect.orDie(TestTill.stock(`sku-${i}`, "P", 999, 1_000_000_000)))
const address = { name: "A", line1: "1 W", city: "S", postal_code: "12345", country: "US" }
const time = (name: string, n: number, f: (i: number) => void) => {
  for (let i = 0; i < n; i++) f(i)
  const t = performance.now()
  for (let i = 0; i < n; i++) f(i + n)
  console.log(name.padEnd(24), (((performance.now() - t) * 1000) / n).toFixed(1), "µs")
}
const carts = Context.get(ctx, core.Carts.Carts),
  checkout = Context.get(ctx, core.Checkout.Checkout),
  payments = Context.get(ctx, core.Payments.Payments)
const sku = core.Sku.Sku
const S = await import("effect").then((m) => m.Schema)
const skuOf = (i: number) => S.decodeSync(sku)(`sku-${i % 20}`)
const pm = run<any>(
  payments.tokenize(
    S.decodeUnknownSync(core.PaymentMethod.CardInput)({
      number: FPG.successCard,
      exp_month: 12,
      exp_year: 2030,
      cvc: "123"
    })
  )
)
const ids: string[] = []
time("carts.create", 2000, (i) => {
  ids[i] = run<any>(carts.create(`u${i}`)).cart_id
})
time("carts.addItem", 2000, (i) => {
  run(carts.addItem(`u${i}`, ids[i]!, skuOf(i), 1))
})
time("carts.view", 2000, (i) => {
  run(carts.view(`u${i}`, ids[i]!))
})
if (process.env.ONLY) {
  time("create-prof", 20000, (i) => {
    run(carts.create(`u${i}`))
  })
  process.exit(0)
}
time("payments.tokenize", 2000, () => {
  run(
    payments.tokenize(
      S.decodeUnknownSync(core.PaymentMethod.CardInput)({
        number: FPG.successCard,
        exp_month: 12,
        exp_year: 2030,
        cvc: "123"
      })
    )
  )
})
time("checkout.place", 2000, (i) => {
  run(
    checkout.place({
      userId: `u${i}`,
      idempotencyKey: `k${i}`,
      request: { cart_id: ids[i]!, shipping_address: address, payment_method_id: pm.id }
    } as any)
  )
})
time("checkout.place replay", 2000, (i) => {
  run(
    checkout.place({
      userId: `u${i}`,
      idempotencyKey: `k${i}`,
      request: { cart_id: ids[i]!, shipping_address: address, payment_method_id: pm.id }
    } as any)
  )
})
