/**
 * A tagged-template statement compiled to its SQL text once, then run with each call's values.
 *
 * `build` is the statement's tagged template, written as usual, over named arguments. It is
 * called once, with a stand-in for every argument; Effect's compiler turns it into SQL text
 * (placeholders only, so no value can ever reach the text) and the list of its parameters, in
 * which the stand-ins mark where each call's values go. A call then sends that text with its
 * values (`sql.unsafe(text, values)`): same SQL, same parameters, same prepared statement on
 * the server as the template would give, without compiling it again.
 *
 * Why: the order steps are CTE chains of 40-60 parameters. Compiling such a template on every
 * call (Statement.compile concatenating ~150 segments into a fresh string) was ~55 µs of Node CPU
 * per checkout in a CPU profile of `bench/postgres` (578 ms → 147 ms of Statement.js self time
 * over 8,000 checkouts). With this, the seal's key object and no second Schema encode of the
 * order (PostgresOrderStore.ts), Till's Node CPU per checkout went from ~1,060 to ~1,000 µs and
 * Till / minimal on distinct SKUs from 0.75 to 0.80 (same-round medians, bench/results).
 *
 * Rules for `build`, checked at construction: an argument is interpolated as it is (a value or
 * inside `pg.json(...)`), never computed upon (the stand-in has no `.map`, and a derived value
 * would be computed once); everything else in the template (identifiers, fragments) is constant.
 */
import { PgTypes } from "@effect/sql-pg"
import type { Statement } from "effect/sql"
import type { SqlClient } from "effect/sql/SqlClient"

const StandIn = Symbol.for("@till/adapters/postgres/compiledStatement/StandIn")

interface StandIn {
  readonly [StandIn]: string
}

const isStandIn = (u: unknown): u is StandIn => typeof u === "object" && u !== null && StandIn in u

/** Where a parameter's value comes from: a constant of the template, or a call's argument. */
type Source =
  | { readonly _tag: "constant"; readonly value: unknown }
  | { readonly _tag: "argument"; readonly key: string }
  | { readonly _tag: "typed"; readonly key: string; readonly parameter: PgTypes.Parameter }

const sourceOf = (bind: unknown): Source => {
  if (isStandIn(bind)) return { _tag: "argument", key: bind[StandIn] }
  if (PgTypes.isParameter(bind) && isStandIn(bind.value))
    return { _tag: "typed", key: bind.value[StandIn], parameter: bind }
  return { _tag: "constant", value: bind }
}

export interface CompiledStatement<Args, A> {
  readonly text: string
  readonly run: (args: Args) => Statement.Statement<A>
}

export const compile = <Args extends object, A extends object>(
  sql: SqlClient,
  build: (args: Args) => Statement.Statement<A>
): CompiledStatement<Args, A> => {
  const used = new Set<string>()
  const standIns = new Proxy(
    {},
    {
      get: (_, key) => {
        if (typeof key !== "string") return undefined
        used.add(key)
        return { [StandIn]: key }
      }
    }
  ) as Args
  const [text, binds] = build(standIns).compile()
  const sources = binds.map(sourceOf)
  const bound = new Set(sources.flatMap((s) => (s._tag === "constant" ? [] : [s.key])))
  const lost = [...used].filter((key) => !bound.has(key))
  if (lost.length > 0)
    throw new Error(
      `compiled statement: argument(s) ${lost.join(", ")} not bound as parameters (computed upon?)`
    )
  return {
    text,
    run: (args) => {
      const values = args as { readonly [key: string]: unknown }
      return sql.unsafe<A>(
        text,
        sources.map((s) =>
          s._tag === "constant"
            ? s.value
            : s._tag === "argument"
              ? values[s.key]
              : { ...s.parameter, value: values[s.key] }
        )
      )
    }
  }
}
