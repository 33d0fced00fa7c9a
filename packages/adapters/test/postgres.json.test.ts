/**
 * PostgresOrderStore writes an Order's and an Event's own fields as their JSON, without running
 * Schema's encoder again (the reason is beside `docOf`). That holds only while the two classes
 * transform no field. This test holds them to it: for generated values of every field, the JSON text
 * of the instance and of Schema's encoding (what `pg.json` would send either way) are the same
 * JSON value (key order aside: a `jsonb` column does not keep it). A
 * field with a transformation (a number kept as text, a bigint, a Redacted, an Option) breaks it,
 * and the store must then encode again.
 */
import { it } from "@effect/vitest"
import { Event, Order } from "@till/core"
import { Arbitrary, Effect, Schema } from "effect"
import { isDeepStrictEqual } from "node:util"
import { expect } from "vitest"

/** The value a `jsonb` column would hold of `value` sent through `pg.json`. */
const asJsonb = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

const sameAsEncoded = <S extends Schema.Codec<object, unknown>>(schema: S) =>
  Effect.gen(function* () {
    const encode = Schema.encodeSync(schema)
    const values = yield* Arbitrary.sampleEffect(Arbitrary.schema(schema), { count: 300, seed: 13 })
    expect(values.length).toBe(300)
    const differing = values.filter((v) => !isDeepStrictEqual(asJsonb(v), asJsonb(encode(v))))
    expect(differing.slice(0, 1).map((v) => [JSON.stringify(v), JSON.stringify(encode(v))])).toEqual([])
  })

it.effect("an Order's JSON is its Schema encoding", () => sameAsEncoded(Order.Order))
it.effect("an Event's JSON is its Schema encoding", () => sameAsEncoded(Event.Event))

it.effect("the check fails for a class that transforms a field", () =>
  Effect.gen(function* () {
    class Counted extends Schema.Class<Counted>("Counted")({ n: Schema.NumberFromString }) {}
    const values = yield* Arbitrary.sampleEffect(Arbitrary.schema(Counted), { count: 20, seed: 13 })
    const encode = Schema.encodeSync(Counted)
    expect(values.some((v) => !isDeepStrictEqual(asJsonb(v), asJsonb(encode(v))))).toBe(true)
  })
)
