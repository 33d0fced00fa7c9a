/**
 * Scenario 4: a flash sale. 200 buyers, each a user of their own (the checkout rate limit is per
 * user), check out the same product at once; there are 10 units. Exactly 10 are confirmed, the
 * other 190 get an honest 409 out of stock, and nothing fails.
 */
import { Effect } from "effect"
import { expect, type Scenario } from "./Scenario.js"
import { checkout, ready } from "./Shop.js"

export const buyers = 200
export const units = 10

export const scenario: Scenario = {
  name: "flash-sale",
  title: `4. flash sale: ${buyers} buyers, ${units} units, all at once`,
  run: ({ client, out, stock }) =>
    Effect.gen(function* () {
      yield* stock("tee", "Launch tee", 2_500, units)
      let prepared = 0
      const carts = yield* Effect.forEach(
        Array.from({ length: buyers }, (_, i) => `buyer-${i + 1}`),
        (user) =>
          Effect.tap(ready(client, user, [["tee", 1]]), () => {
            prepared++
            return out.progress(`flash sale: ${prepared}/${buyers} carts with a tee and a card`)
          }),
        { concurrency: 50 }
      )
      yield* out.line(
        `   ready      ${buyers} carts with 1 tee each, ${buyers} cards (${buyers * 3} requests)`
      )
      let answered = 0
      const started = Date.now()
      const answers = yield* Effect.forEach(
        carts,
        (r) =>
          Effect.tap(checkout(client, r, `${r.user}-flash`), () => {
            answered++
            return out.progress(`flash sale: ${answered}/${buyers} checkouts answered`)
          }),
        { concurrency: "unbounded" }
      )
      const count = (f: (a: (typeof answers)[number]) => boolean) => answers.filter(f).length
      const confirmed = count((a) => a.status === 201 && a.body?.status === "confirmed")
      const outOfStock = count((a) => a.status === 409 && a.body?.type === "urn:till:problem:out-of-stock")
      const errors = count((a) => a.status >= 500 || (a.status !== 201 && a.status !== 409))
      yield* out.line(
        `   checkout   ${buyers} × POST /v1/checkout at once → ${confirmed} × 201 confirmed, ` +
          `${outOfStock} × 409 out of stock, ${errors} errors (${Date.now() - started} ms)`
      )
      return [
        expect(
          `exactly ${units} confirmed, the rest 409, 0 errors`,
          confirmed === units && outOfStock === buyers - units && errors === 0,
          `${confirmed} confirmed, ${outOfStock} out of stock, ${errors} errors`
        )
      ]
    })
}
