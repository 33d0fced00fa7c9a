/**
 * The HTTP application: the routes of `TillApi` (Api.ts) on their handlers, `/openapi.json`,
 * the docs page at `/docs`, and one global middleware that makes every answer API.md's:
 * - a request id (`x-request-id`, the caller's if it is a sane one) on every answer and log line;
 * - a body limit (64 KiB: the largest valid request, a cart line or a checkout, is under 2 KiB);
 * - an unknown route is a 404 problem, a body over the limit a 413 problem;
 * - a defect (a bug) is logged with its request id and answered as a bare 500 problem: never
 *   its message or stack, which could hold what a caller must not see.
 *
 * Effect's per-request logger is off: it cost about a third of a trivial route's throughput. A
 * request is logged at Debug (off at the default Info level), a 5xx at Error.
 */
import { ByteSize, Cause, Context, Effect, Layer, type Types } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse, ProblemDetails } from "effect/http"
import { HttpIncomingMessage } from "effect/http"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { TillApi } from "./Api.js"
import * as Auth from "./Auth.js"
import * as Handlers from "./Handlers.js"
import * as Problem from "./Problem.js"
import * as SchemaErrors from "./SchemaErrors.js"

/** The largest request body accepted. */
export const maxBodyBytes = 64 * 1024

const saneRequestId = /^[A-Za-z0-9._-]{1,128}$/

/** The standard members of a problem: all an answer made here carries. */
interface ProblemBody {
  readonly type: string
  readonly title: string
  readonly status: number
  readonly detail: string
}

const problemResponse = (problem: ProblemBody, requestId: string) =>
  HttpServerResponse.jsonUnsafe(
    { type: problem.type, title: problem.title, status: problem.status, detail: problem.detail },
    {
      status: problem.status,
      contentType: ProblemDetails.contentType,
      headers: { "x-request-id": requestId }
    }
  )

/** A defect's answer: a bare 500 with the request id to quote, nothing of the defect itself. */
const internalError = (requestId: string): ProblemBody => ({
  type: Problem.typeOf("InternalError"),
  title: "Internal Server Error",
  status: 500,
  detail: `an internal error; quote request id ${requestId}`
})

/**
 * The problem for an answer the framework made itself, without a JSON body: 415 stays 415, any
 * other 4xx is the request's fault (400), and a 5xx stays a 500: a server failure is never passed
 * off as the client's (it is logged as an error, like a defect).
 */
export const frameworkProblem = (status: number, requestId: string): ProblemBody =>
  status === 415
    ? Problem.make(415, "UnsupportedMediaType", "the request body must be application/json")
    : status >= 500
      ? internalError(requestId)
      : Problem.make(400, "BadRequest", "the request could not be read")

/** Answers of the API itself: problems, and readiness's 503 report. */
const isApiAnswer = (response: HttpServerResponse.HttpServerResponse) => {
  const type = response.headers["content-type"] ?? ""
  return type.includes("problem+json") || type.includes("application/json")
}

/** What the router failed with before a handler ran, as HttpServerError reasons. */
const reasonOf = (u: unknown): { readonly _tag?: string; readonly reason?: string } | undefined =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === "HttpServerError" && "reason" in u
    ? (u.reason as { readonly _tag?: string; readonly reason?: string })
    : undefined

let requests = 0

const Answers = HttpRouter.middleware(
  (
    httpEffect
  ): Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    Types.unhandled,
    HttpServerRequest.HttpServerRequest
  > =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const given = request.headers["x-request-id"]
      const requestId =
        given !== undefined && saneRequestId.test(given)
          ? given
          : `req_${Date.now().toString(36)}_${(++requests).toString(36)}`
      const path = (request.url.split("?")[0] ?? "").slice(0, 200)
      const response = yield* httpEffect.pipe(
        Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodyBytes)),
        Effect.catchCause((cause) => {
          const failure = Cause.squash(cause)
          const reason = reasonOf(failure)
          if (reason?._tag === "RouteNotFound")
            return Effect.succeed(
              problemResponse(
                Problem.make(404, "RouteNotFound", `no route ${request.method} ${path}`),
                requestId
              )
            )
          if (reason?._tag === "RequestParseError")
            return Effect.succeed(
              problemResponse(
                reason.reason === "BodyTooLarge" ||
                  /exceeds/.test(String((failure as { cause?: unknown }).cause))
                  ? Problem.make(413, "PayloadTooLarge", `the request body is over ${maxBodyBytes} bytes`)
                  : Problem.make(400, "UnreadableRequest", "the request could not be read"),
                requestId
              )
            )
          return Effect.as(
            Effect.logError("request failed", cause),
            problemResponse(internalError(requestId), requestId)
          )
        }),
        Effect.annotateLogs({ request_id: requestId, method: request.method, path })
      )
      // The status as made (a framework's 5xx logged as such), then the answer: one the framework
      // made itself (415 for a body that is not JSON) as a problem too.
      yield* (response.status >= 500 ? Effect.logError : Effect.logDebug)("answered", response.status).pipe(
        Effect.annotateLogs("request_id", requestId)
      )
      return response.status >= 400 && !isApiAnswer(response)
        ? problemResponse(frameworkProblem(response.status, requestId), requestId)
        : HttpServerResponse.setHeader(response, "x-request-id", requestId)
    }),
  { global: true }
)

/**
 * The API reference at `/docs` (Scalar's page over the OpenAPI document). Its bundled script is
 * loaded on the first visit, not at startup: held in every instance's heap it was ~13 MB (6.4 MB
 * of module source plus the 6.2 MB string it exports, measured in a heap snapshot of an idle
 * `till start`), a tenth of the 150 MB idle budget for a page operators open now and then.
 */
const Docs = HttpRouter.use(
  Effect.fnUntraced(function* (router) {
    const scope = yield* Effect.scope
    // Scalar's route on a router of its own (a fresh memo map: the shared one would hand back
    // the app's router, which already has GET /docs: this very route).
    const page = yield* Effect.cached(
      Effect.map(
        Layer.buildWithMemoMap(
          Layer.provideMerge(HttpApiScalar.layer(TillApi, { path: "/docs" }), HttpRouter.layer),
          Layer.makeMemoMapUnsafe(),
          scope
        ),
        (context) => Context.get(context, HttpRouter.HttpRouter).asHttpEffect()
      )
    )
    // That router holds the one route asked for: a routing error there is a defect.
    yield* router.add("GET", "/docs", Effect.orDie(Effect.flatten(page)))
  })
)

/** The API's routes, docs and answers; needs the core services, the caller's secret and health. */
export const layerRoutes = Layer.mergeAll(
  HttpApiBuilder.layer(TillApi, { openapiPath: "/openapi.json" }).pipe(
    Layer.provide(Handlers.layer),
    Layer.provide(Auth.layerAuthentication),
    Layer.provide(Auth.layerRequireAdmin),
    Layer.provide(SchemaErrors.layer)
  ),
  Docs,
  Answers
)
