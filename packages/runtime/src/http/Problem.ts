/**
 * RFC 9457 problems: the body of every error answer of the HTTP API (`application/problem+json`).
 *
 * One error class per status API.md uses, each with the standard members (`type`, `title`,
 * `status`, `detail`) and the extensions API.md names (`order_id`, `decline_code`, `unavailable`,
 * `errors`). 429 and 503 carry `retry_after` (seconds), sent as the `Retry-After` header too.
 * `fromError` is the one place a core error becomes a problem, from `Errors.httpStatus`.
 *
 * `type` is a URN per kind of problem (`urn:till:problem:out-of-stock`): stable for clients to
 * match on, and no web address that might not answer.
 */
import { Errors } from "@till/core"
import { Schema } from "effect"
import { ProblemDetails } from "effect/http"
import { HttpApiSchema } from "effect/http-api"

const standard = {
  type: Schema.String,
  title: Schema.String,
  status: Schema.Int,
  detail: Schema.String
}

const extensions = {
  order_id: Schema.optional(Schema.String),
  decline_code: Schema.optional(Schema.String),
  unavailable: Schema.optional(Schema.Array(Errors.Unavailable)),
  errors: Schema.optional(Schema.Array(Errors.FieldError))
}

const fields = { ...standard, ...extensions }

/** Sent as `application/problem+json`. */
const asProblem = HttpApiSchema.asJson({ contentType: ProblemDetails.contentType })

export class BadRequest extends Schema.Error<BadRequest>("BadRequest")(fields, { httpApiStatus: 400 }) {}
export class Unauthorized extends Schema.Error<Unauthorized>("Unauthorized")(fields, {
  httpApiStatus: 401
}) {}
export class PaymentRequired extends Schema.Error<PaymentRequired>("PaymentRequired")(fields, {
  httpApiStatus: 402
}) {}
export class Forbidden extends Schema.Error<Forbidden>("Forbidden")(fields, { httpApiStatus: 403 }) {}
export class NotFound extends Schema.Error<NotFound>("NotFound")(fields, { httpApiStatus: 404 }) {}
export class Conflict extends Schema.Error<Conflict>("Conflict")(fields, { httpApiStatus: 409 }) {}
export class PayloadTooLarge extends Schema.Error<PayloadTooLarge>("PayloadTooLarge")(fields, {
  httpApiStatus: 413
}) {}
export class UnsupportedMediaType extends Schema.Error<UnsupportedMediaType>("UnsupportedMediaType")(fields, {
  httpApiStatus: 415
}) {}
export class Unprocessable extends Schema.Error<Unprocessable>("Unprocessable")(fields, {
  httpApiStatus: 422
}) {}

const withRetryAfter = { ...fields, retry_after: Schema.Int }
export class TooManyRequests extends Schema.Error<TooManyRequests>("TooManyRequests")(withRetryAfter, {
  httpApiStatus: 429
}) {}
export class Unavailable extends Schema.Error<Unavailable>("Unavailable")(withRetryAfter, {
  httpApiStatus: 503
}) {}

/** The body fields, and `retry_after` also as the `Retry-After` header. */
const retryAfterWire = (status: 429 | 503) => ({
  body: Schema.Struct(withRetryAfter).pipe(HttpApiSchema.status(status), asProblem),
  headers: { "retry-after": Schema.String }
})
const retryAfterHeader = (problem: { readonly retry_after: number }) => ({
  "retry-after": String(problem.retry_after)
})

/** The schemas an endpoint declares, as they go on the wire. */
export const wire = {
  BadRequest: BadRequest.pipe(asProblem),
  Unauthorized: Unauthorized.pipe(asProblem),
  Forbidden: Forbidden.pipe(asProblem),
  PaymentRequired: PaymentRequired.pipe(asProblem),
  NotFound: NotFound.pipe(asProblem),
  Conflict: Conflict.pipe(asProblem),
  PayloadTooLarge: PayloadTooLarge.pipe(asProblem),
  Unprocessable: Unprocessable.pipe(asProblem),
  TooManyRequests: TooManyRequests.pipe(
    HttpApiSchema.encodeToWithHeaders(retryAfterWire(429), {
      decode: ({ body }) => new TooManyRequests(body),
      encode: (problem) => ({ body: { ...problem }, headers: retryAfterHeader(problem) })
    })
  ),
  Unavailable: Unavailable.pipe(
    HttpApiSchema.encodeToWithHeaders(retryAfterWire(503), {
      decode: ({ body }) => new Unavailable(body),
      encode: (problem) => ({ body: { ...problem }, headers: retryAfterHeader(problem) })
    })
  )
} as const

export type Problem =
  | BadRequest
  | Unauthorized
  | Forbidden
  | PaymentRequired
  | NotFound
  | Conflict
  | PayloadTooLarge
  | UnsupportedMediaType
  | Unprocessable
  | TooManyRequests
  | Unavailable

/** `OutOfStock` → `out-of-stock`. */
const kebab = (tag: string) => tag.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? "" : "-") + c.toLowerCase())

export const typeOf = (kind: string): string => `urn:till:problem:${kebab(kind)}`

/** Seconds a client should wait after a 503 that names no time of its own. */
export const defaultRetryAfterSeconds = 5

interface Common {
  readonly type: string
  readonly title: string
  readonly detail: string
}

const titles: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  503: "Service Unavailable"
}

/** A problem of `status` for `kind`, with `detail` and any extensions. */
export const make = (
  status: 400 | 401 | 402 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503,
  kind: string,
  detail: string,
  more: Partial<Pick<Conflict, "order_id" | "decline_code" | "unavailable" | "errors">> & {
    readonly retry_after?: number
  } = {}
): Problem => {
  const common: Common & { readonly status: number } = {
    type: typeOf(kind),
    title: titles[status]!,
    status,
    detail
  }
  const { retry_after, ...ext } = more
  switch (status) {
    case 400:
      return new BadRequest({ ...common, ...ext })
    case 401:
      return new Unauthorized({ ...common, ...ext })
    case 402:
      return new PaymentRequired({ ...common, ...ext })
    case 403:
      return new Forbidden({ ...common, ...ext })
    case 404:
      return new NotFound({ ...common, ...ext })
    case 409:
      return new Conflict({ ...common, ...ext })
    case 413:
      return new PayloadTooLarge({ ...common, ...ext })
    case 415:
      return new UnsupportedMediaType({ ...common, ...ext })
    case 422:
      return new Unprocessable({ ...common, ...ext })
    case 429:
      return new TooManyRequests({ ...common, ...ext, retry_after: retry_after ?? 1 })
    case 503:
      return new Unavailable({ ...common, ...ext, retry_after: retry_after ?? defaultRetryAfterSeconds })
  }
}

type CoreError = { readonly _tag: keyof typeof Errors.httpStatus; readonly message: string } & Record<
  string,
  unknown
>

const isCoreError = (u: unknown): u is CoreError =>
  typeof u === "object" && u !== null && "_tag" in u && String(u._tag) in Errors.httpStatus

/**
 * The problem of a core error (its status from `Errors.httpStatus`, its message as `detail`, the
 * extensions API.md asks for). `undefined` for anything else: the caller treats it as a defect.
 */
export const fromError = (error: unknown): Problem | undefined => {
  if (!isCoreError(error)) return undefined
  const status = Errors.httpStatus[error._tag]
  const e = error as Record<string, unknown>
  const retryAfter = typeof e["retryAfterSeconds"] === "number" ? { retry_after: e["retryAfterSeconds"] } : {}
  switch (error._tag) {
    case "OutOfStock":
      return make(409, error._tag, error.message, {
        unavailable: e["unavailable"] as Conflict["unavailable"]
      })
    case "PaymentDeclined":
      return make(402, error._tag, error.message, {
        order_id: e["orderId"] as string,
        decline_code: e["declineCode"] as string
      })
    case "CartNotActive":
      return make(409, error._tag, error.message, {
        ...(typeof e["orderId"] === "string" ? { order_id: e["orderId"] } : {})
      })
    case "ValidationError":
      return make(422, error._tag, "the request is invalid", { errors: e["errors"] as Conflict["errors"] })
    default:
      return make(status, error._tag, error.message, retryAfter)
  }
}
