/**
 * Who is calling: the bearer token (Jwt.ts) of every route of API.md but health and metrics.
 * `Authentication` verifies it with the configured secret and provides the `Caller`; a missing,
 * forged or expired token is a 401 problem that says which of those it was, never why in more
 * detail. `RequireAdmin` (the admin routes) answers 403 to a caller without `role: "admin"`.
 */
import { Clock, Context, Effect, Layer, Redacted } from "effect"
import { HttpApiMiddleware, HttpApiSecurity } from "effect/http-api"
import * as Jwt from "./Jwt.js"
import * as Problem from "./Problem.js"

export class Caller extends Context.Service<Caller, { readonly userId: string; readonly admin: boolean }>()(
  "@till/runtime/Caller"
) {}

/** The HS256 secret tokens are verified with. */
export class JwtSecret extends Context.Service<JwtSecret, Redacted.Redacted<string>>()(
  "@till/runtime/JwtSecret"
) {}

export class Authentication extends HttpApiMiddleware.Service<Authentication, { provides: Caller }>()(
  "@till/runtime/Authentication",
  { error: Problem.wire.Unauthorized, security: { bearer: HttpApiSecurity.bearer } }
) {}

export class RequireAdmin extends HttpApiMiddleware.Service<RequireAdmin, { requires: Caller }>()(
  "@till/runtime/RequireAdmin",
  { error: Problem.wire.Forbidden }
) {}

const unauthorized = (detail: string) => Problem.make(401, "Unauthorized", detail) as Problem.Unauthorized

export const layerAuthentication: Layer.Layer<Authentication, never, JwtSecret> = Layer.effect(
  Authentication,
  Effect.gen(function* () {
    const secret = yield* JwtSecret
    return Authentication.of({
      bearer: (httpEffect, { credential }) =>
        Effect.gen(function* () {
          const token = Redacted.value(credential)
          if (token.length === 0) return yield* unauthorized("a bearer token is required")
          const now = yield* Clock.currentTimeMillis
          const claims = Jwt.verify(Redacted.value(secret), token, Math.floor(now / 1000))
          if (typeof claims === "string") return yield* unauthorized(`the bearer token is refused: ${claims}`)
          return yield* Effect.provideService(httpEffect, Caller, {
            userId: claims.sub,
            admin: claims.role === "admin"
          })
        })
    })
  })
)

export const layerRequireAdmin: Layer.Layer<RequireAdmin> = Layer.succeed(
  RequireAdmin,
  RequireAdmin.of((httpEffect) =>
    Effect.gen(function* () {
      const caller = yield* Caller
      if (!caller.admin)
        return yield* Problem.make(403, "Forbidden", 'admin routes need the claim role: "admin"')
      return yield* httpEffect
    })
  )
)
