/**
 * A request that does not decode (a body that is not JSON or does not match its schema, an
 * unknown field, a bad path parameter, query or header) is a 422 problem listing every offending
 * path (API.md: "422 invalid body ... problem + errors"). Issue messages are the schemas' own:
 * a card number's check says "card number must be 12-19 digits", never the digits.
 */
import { Errors } from "@till/core"
import { Effect, type Layer } from "effect"
import { HttpApiMiddleware } from "effect/http-api"
import * as Problem from "./Problem.js"

export class SchemaErrors extends HttpApiMiddleware.Service<SchemaErrors>()("@till/runtime/SchemaErrors", {
  error: Problem.wire.Unprocessable
}) {}

const what = {
  Params: "path",
  Query: "query",
  Headers: "headers",
  Body: "body",
  Payload: "body",
  ResponseHeaders: "response headers"
} as const

export const layer: Layer.Layer<SchemaErrors> = HttpApiMiddleware.layerSchemaErrorTransform(
  SchemaErrors,
  (error) => {
    const slot = what[error.kind]
    const { errors } = Errors.fromParseError(error.cause)
    return Effect.fail(
      Problem.make(422, "InvalidRequest", `the request's ${slot} is invalid`, {
        errors: errors.map((e) => ({
          path: e.path === "body" ? slot : `${slot}.${e.path}`,
          message: e.message
        }))
      }) as Problem.Unprocessable
    )
  }
)
