/**
 * Every error a Till service can fail with, as `Schema.TaggedError` classes carrying the
 * fields a caller needs to act. The runtime maps each tag 1:1 to an HTTP status of API.md
 * (see `httpStatus`). Transient errors (`isTransient`) are the only ones policies retry and
 * the only ones circuit breakers count as failures: a card decline never is.
 */
import { Schema, SchemaIssue } from "effect"

/**
 * The message of an error that has no sentence of its own: its fields, as Effect 3 wrote them
 * (`{ "reason": "503" }`). Effect 4 leaves such a message empty; dead letters and logs read it.
 */
export const fieldsMessage = <A extends object>(error: A, keys: ReadonlyArray<keyof A & string>): string =>
  `{ ${keys.map((key) => `${JSON.stringify(key)}: ${JSON.stringify(error[key])}`).join(", ")} }`

export class CartNotFound extends Schema.TaggedError<CartNotFound>()("CartNotFound", {
  cartId: Schema.String
}) {
  override get message() {
    return `no cart ${this.cartId} for this caller`
  }
}

export class CartNotActive extends Schema.TaggedError<CartNotActive>()("CartNotActive", {
  cartId: Schema.String,
  /** The order that claimed the cart, when known (API.md: 409 with `order_id`). */
  orderId: Schema.optional(Schema.String)
}) {
  override get message() {
    return this.orderId === undefined
      ? `cart ${this.cartId} is already checked out`
      : `cart ${this.cartId} is already checked out by order ${this.orderId}`
  }
}

export class EmptyCart extends Schema.TaggedError<EmptyCart>()("EmptyCart", { cartId: Schema.String }) {
  override get message() {
    return `cart ${this.cartId} has no items`
  }
}

export class SkuNotFound extends Schema.TaggedError<SkuNotFound>()("SkuNotFound", { sku: Schema.String }) {
  override get message() {
    return `unknown sku ${this.sku}`
  }
}

export const Unavailable = Schema.Struct({
  sku: Schema.String,
  requested: Schema.Int,
  available: Schema.Int
})

export class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", {
  unavailable: Schema.Array(Unavailable)
}) {
  override get message() {
    return `out of stock: ${this.unavailable.map((u) => `${u.sku} (requested ${u.requested}, available ${u.available})`).join(", ")}`
  }
}

export class PaymentDeclined extends Schema.TaggedError<PaymentDeclined>()("PaymentDeclined", {
  orderId: Schema.String,
  declineCode: Schema.String
}) {
  override get message() {
    return `payment for order ${this.orderId} was declined (${this.declineCode})`
  }
}

export class PaymentMethodInvalid extends Schema.TaggedError<PaymentMethodInvalid>()("PaymentMethodInvalid", {
  reason: Schema.String
}) {
  override get message() {
    return `invalid card: ${this.reason}`
  }
}

export class PaymentMethodNotFound extends Schema.TaggedError<PaymentMethodNotFound>()(
  "PaymentMethodNotFound",
  { paymentMethodId: Schema.String }
) {
  override get message() {
    return `no payment method ${this.paymentMethodId}`
  }
}

export class IdempotencyConflict extends Schema.TaggedError<IdempotencyConflict>()("IdempotencyConflict", {
  key: Schema.String
}) {
  override get message() {
    return `idempotency key ${this.key} was already used with a different request body`
  }
}

export class RequestInFlight extends Schema.TaggedError<RequestInFlight>()("RequestInFlight", {
  key: Schema.String
}) {
  override get message() {
    return `a request with idempotency key ${this.key} is still in flight`
  }
}

/**
 * The answer stored under an idempotency key can no longer be read (written by a version of Till
 * whose answer shape has since changed). Nothing is redone for it: the first request's work stands
 * (a checkout answers its order's current state instead, see Checkout.ts); this is answered only
 * when there is no such state to answer (409: send the request again with a new key).
 */
export class StoredAnswerUnreadable extends Schema.TaggedError<StoredAnswerUnreadable>()(
  "StoredAnswerUnreadable",
  { key: Schema.String }
) {
  override get message() {
    return `the stored answer of idempotency key ${this.key} can no longer be read; its request is not run again: use a new key to retry it`
  }
}

export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  limit: Schema.String,
  retryAfterSeconds: Schema.Int
}) {
  override get message() {
    return `rate limit ${this.limit} exceeded; retry after ${this.retryAfterSeconds}s`
  }
}

export class OrderNotFound extends Schema.TaggedError<OrderNotFound>()("OrderNotFound", {
  orderId: Schema.String
}) {
  override get message() {
    return `no order ${this.orderId} for this caller`
  }
}

export class OrderNotRetryable extends Schema.TaggedError<OrderNotRetryable>()("OrderNotRetryable", {
  orderId: Schema.String,
  status: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `order ${this.orderId} (${this.status}) cannot be paid again: ${this.reason}`
  }
}

export class InvalidTransition extends Schema.TaggedError<InvalidTransition>()("InvalidTransition", {
  orderId: Schema.String,
  from: Schema.String,
  to: Schema.String
}) {
  override get message() {
    return `order ${this.orderId} cannot move from ${this.from} to ${this.to}`
  }
}

export class CurrencyMismatch extends Schema.TaggedError<CurrencyMismatch>()("CurrencyMismatch", {
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message() {
    return `currency ${this.actual} does not match ${this.expected}`
  }
}

export const FieldError = Schema.Struct({ path: Schema.String, message: Schema.String })

export class ValidationError extends Schema.TaggedError<ValidationError>()("ValidationError", {
  errors: Schema.Array(FieldError)
}) {
  override get message() {
    return `invalid request: ${this.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`
  }
}

/** The payment gateway did not answer usefully (5xx, network, timeout): transient. */
export class GatewayUnavailable extends Schema.TaggedError<GatewayUnavailable>()("GatewayUnavailable", {
  reason: Schema.String
}) {
  override get message() {
    return fieldsMessage(this, ["reason"])
  }
}

/** A store (database, cache) failed or timed out: transient. */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>()("StoreUnavailable", {
  store: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return fieldsMessage(this, ["store", "reason"])
  }
}

/** A policy's timeout fired: transient. */
export class OperationTimedOut extends Schema.TaggedError<OperationTimedOut>()("OperationTimedOut", {
  operation: Schema.String,
  timeoutMs: Schema.Int
}) {
  override get message() {
    return fieldsMessage(this, ["operation", "timeoutMs"])
  }
}

/** A circuit breaker is open (or half-open and full): the call was not made. */
export class CallNotPermitted extends Schema.TaggedError<CallNotPermitted>()("CallNotPermitted", {
  breaker: Schema.String,
  state: Schema.String
}) {
  override get message() {
    return `circuit breaker ${this.breaker} is ${this.state}; call not permitted`
  }
}

/** A feature was shed by graceful degradation. */
export class FeatureShed extends Schema.TaggedError<FeatureShed>()("FeatureShed", {
  feature: Schema.String,
  retryAfterSeconds: Schema.Int
}) {
  override get message() {
    return `${this.feature} is temporarily unavailable under load; retry after ${this.retryAfterSeconds}s`
  }
}

const transientTags: ReadonlySet<string> = new Set([
  "GatewayUnavailable",
  "StoreUnavailable",
  "OperationTimedOut"
])

/** Whether an error is worth retrying and counts as a failure for a circuit breaker. */
export const isTransient = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "_tag" in error && transientTags.has(String(error._tag))

/** The HTTP status of API.md for each error tag (the runtime's problem mapping). */
export const httpStatus = {
  CartNotFound: 404,
  OrderNotFound: 404,
  SkuNotFound: 404,
  PaymentMethodNotFound: 422,
  CartNotActive: 409,
  EmptyCart: 422,
  OutOfStock: 409,
  RequestInFlight: 409,
  StoredAnswerUnreadable: 409,
  OrderNotRetryable: 409,
  InvalidTransition: 409,
  PaymentDeclined: 402,
  PaymentMethodInvalid: 422,
  IdempotencyConflict: 422,
  CurrencyMismatch: 422,
  ValidationError: 422,
  RateLimited: 429,
  FeatureShed: 503,
  GatewayUnavailable: 503,
  StoreUnavailable: 503,
  OperationTimedOut: 503,
  CallNotPermitted: 503
} as const

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * A Schema decoding failure (`Schema.SchemaError`, what `Schema.decodeUnknownEffect` fails with)
 * as a `ValidationError` listing each offending path. Decode with `{ errors: "all" }` to get
 * every path, not just the first.
 */
export const fromParseError = (error: Schema.SchemaError): ValidationError =>
  new ValidationError({
    errors: formatIssues(error.issue).issues.map(({ message, path = [] }) => ({
      path: path.length === 0 ? "body" : path.map(pathSegment).join("."),
      message
    }))
  })

// Standard Schema paths may hold `{ key }` segments and symbols, which `join` cannot print.
const pathSegment = (segment: PropertyKey | { readonly key: PropertyKey }): string =>
  typeof segment === "object" ? String(segment.key) : String(segment)
