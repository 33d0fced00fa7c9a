/**
 * Bearer tokens: JWT (RFC 7519) signed with HS256 only. `sub` is the caller's user id, `exp` its
 * expiry (required: a token that never expires is refused), `role: "admin"` opens the admin
 * routes. Anything else in the header (`alg: none`, RS256, a `crit` header) is refused: a
 * verifier that follows the token's own `alg` is the classic JWT hole.
 */
import { createHmac, timingSafeEqual } from "node:crypto"

export interface Claims {
  readonly sub: string
  readonly exp: number
  readonly role?: "admin" | undefined
}

const header = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url")

const signature = (secret: string, data: string) => createHmac("sha256", secret).update(data).digest()

/** A token for `claims`, signed with `secret`. */
export const sign = (secret: string, claims: Claims): string => {
  const body = `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`
  return `${body}.${signature(secret, body).toString("base64url")}`
}

/** Why a token is refused (safe to show: it says nothing of the secret or the token). */
export type Refusal = "malformed" | "unsupported algorithm" | "bad signature" | "expired" | "bad claims"

const base64url = /^[A-Za-z0-9_-]+$/

const parseJson = (part: string): unknown => {
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8"))
  } catch {
    return undefined
  }
}

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** The claims of `token` if it is signed with `secret` and not expired at `nowSeconds`. */
export const verify = (secret: string, token: string, nowSeconds: number): Claims | Refusal => {
  if (token.length > 4096) return "malformed"
  const parts = token.split(".")
  if (parts.length !== 3 || !parts.every((p) => base64url.test(p))) return "malformed"
  const [head, payload, sig] = parts as [string, string, string]
  const h = parseJson(head)
  if (!isRecord(h)) return "malformed"
  if (h["alg"] !== "HS256" || "crit" in h) return "unsupported algorithm"
  const expected = signature(secret, `${head}.${payload}`)
  const given = Buffer.from(sig, "base64url")
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "bad signature"
  const c = parseJson(payload)
  if (!isRecord(c)) return "bad claims"
  const { sub, exp, role } = c
  if (typeof sub !== "string" || sub.length === 0 || sub.length > 255) return "bad claims"
  if (typeof exp !== "number" || !Number.isFinite(exp)) return "bad claims"
  if (role !== undefined && typeof role !== "string") return "bad claims"
  if (exp <= nowSeconds) return "expired"
  return { sub, exp, role: role === "admin" ? "admin" : undefined }
}
