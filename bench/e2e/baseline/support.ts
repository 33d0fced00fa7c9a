/**
 * The baseline's small parts: bearer tokens (HS256, as API.md), AES-256-GCM sealing of what must
 * not sit in the clear (the payment token, the stored idempotent answer), the fake payment gateway
 * (in memory, like Till's testkit gateway: the same cards, an optional latency on every call),
 * ids, and JSON answers. Plain Node, no framework.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual
} from "node:crypto"
import type { ServerResponse } from "node:http"

/** The claims of a bearer token signed with `secret`, or undefined (any refusal). */
export const verifyToken = (
  secret: string,
  header: string | undefined
): { readonly sub: string; readonly admin: boolean } | undefined => {
  if (header === undefined || !header.startsWith("Bearer ") || header.length > 4096) return undefined
  const parts = header.slice(7).split(".")
  if (parts.length !== 3) return undefined
  const [head, payload, sig] = parts as [string, string, string]
  try {
    const h = JSON.parse(Buffer.from(head, "base64url").toString("utf8")) as { alg?: unknown; crit?: unknown }
    if (h.alg !== "HS256" || h.crit !== undefined) return undefined
    const expected = createHmac("sha256", secret).update(`${head}.${payload}`).digest()
    const given = Buffer.from(sig, "base64url")
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    const c = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>
    if (typeof c["sub"] !== "string" || c["sub"].length === 0 || c["sub"].length > 255) return undefined
    if (typeof c["exp"] !== "number" || c["exp"] <= Date.now() / 1000) return undefined
    return { sub: c["sub"], admin: c["role"] === "admin" }
  } catch {
    return undefined
  }
}

/** AES-256-GCM under one key: iv (12) + tag (16) + ciphertext, bound to `aad` (the row it belongs to). */
export const sealer = (keyBase64: string) => {
  const key = Buffer.from(keyBase64, "base64")
  if (key.length !== 32) throw new Error("the sealing key must be 32 bytes (base64)")
  return {
    seal: (plain: string, aad: string): Buffer => {
      const iv = randomBytes(12)
      const cipher = createCipheriv("aes-256-gcm", key, iv)
      cipher.setAAD(Buffer.from(aad))
      const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()])
      return Buffer.concat([iv, cipher.getAuthTag(), body])
    },
    open: (sealed: Buffer, aad: string): string => {
      const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, 12))
      decipher.setAAD(Buffer.from(aad))
      decipher.setAuthTag(sealed.subarray(12, 28))
      return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString("utf8")
    }
  }
}
export type Sealer = ReturnType<typeof sealer>

/** SHA-256 of a request's JSON: what the idempotency row keeps instead of the request. */
export const fingerprint = (json: string): string => createHash("sha256").update(json).digest("base64url")

/** `prefix_` and 24 random characters of 0-9a-z. */
export const newId = (prefix: string): string => {
  const bytes = randomBytes(24)
  let id = `${prefix}_`
  for (const b of bytes) id += "0123456789abcdefghijklmnopqrstuvwxyz"[b % 36]
  return id
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const luhn = (digits: string): boolean => {
  let sum = 0
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48
    if (i % 2 === 1) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
  }
  return sum % 10 === 0
}

export type Charge =
  | { readonly ok: true; readonly chargeId: string; readonly brand: string; readonly last4: string }
  | { readonly ok: false; readonly declineCode: string }

/** Most tokens and charge results kept (oldest dropped first), as the testkit gateway bounds its own. */
const maxTokens = 100_000
const maxCharges = 1_000_000

/** The fake gateway: 4242… succeeds, 4000 0000 0000 0002 declines; `latencyMs` before every call. */
export const gateway = (latencyMs: number) => {
  const tokens = new Map<string, { brand: string; last4: string; declines: boolean }>()
  const charges = new Map<string, Charge>()
  const bounded = <K, V>(map: Map<K, V>, max: number) => {
    if (map.size > max) map.delete(map.keys().next().value as K)
  }
  return {
    tokenize: async (card: { number: string; exp_month: number; exp_year: number; cvc: string }) => {
      if (latencyMs > 0) await sleep(latencyMs)
      if (!/^[0-9]{12,19}$/.test(card.number) || !luhn(card.number)) return undefined
      const id = newId("pm")
      const brand = card.number.startsWith("4") ? "visa" : card.number.startsWith("5") ? "mastercard" : "card"
      tokens.set(id, { brand, last4: card.number.slice(-4), declines: card.number === "4000000000000002" })
      bounded(tokens, maxTokens)
      return { id, brand, last4: card.number.slice(-4) }
    },
    /** One charge per idempotency key: a repeated key answers the first result. */
    charge: async (key: string, token: string): Promise<Charge> => {
      if (latencyMs > 0) await sleep(latencyMs)
      const known = charges.get(key)
      if (known !== undefined) return known
      const method = tokens.get(token)
      const result: Charge =
        method === undefined
          ? { ok: false, declineCode: "invalid_payment_method" }
          : method.declines
            ? { ok: false, declineCode: "card_declined" }
            : { ok: true, chargeId: newId("ch"), brand: method.brand, last4: method.last4 }
      charges.set(key, result)
      bounded(charges, maxCharges)
      return result
    }
  }
}
export type Gateway = ReturnType<typeof gateway>

/** A JSON answer. */
export const send = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {}
) => {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    "content-type": status >= 400 ? "application/problem+json" : "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers
  })
  res.end(text)
}

/** An RFC 9457 problem. */
export const problem = (
  status: number,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {}
) => ({
  type: "about:blank",
  title,
  status,
  detail,
  ...extra
})
