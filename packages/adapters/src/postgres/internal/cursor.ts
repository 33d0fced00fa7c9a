/**
 * Opaque page cursors: the sort key of a page's last order, `[iso time, order id]`, as base64url
 * JSON. An undecodable cursor points nowhere (an empty last page), never a defect.
 */
import { Option, Result } from "effect"
import { Base64Url } from "effect/encoding"

export type Key = readonly [iso: string, orderId: string]

export const encode = (key: Key): string => Base64Url.encode(JSON.stringify(key))

export const decode = (cursor: string): Option.Option<Key> =>
  Result.match(Base64Url.decodeString(cursor), {
    onFailure: () => Option.none(),
    onSuccess: (json) => {
      try {
        const parsed: unknown = JSON.parse(json)
        return Array.isArray(parsed) &&
          parsed.length === 2 &&
          typeof parsed[0] === "string" &&
          Number.isFinite(Date.parse(parsed[0])) &&
          typeof parsed[1] === "string"
          ? Option.some([parsed[0], parsed[1]] as const)
          : Option.none()
      } catch {
        return Option.none()
      }
    }
  })

/** Largest page any list answers, whatever the caller asks for. */
export const maxPageSize = 1_000

/** A caller's limit clamped to `[min, maxPageSize]`. */
export const pageLimit = (limit: number, min: 0 | 1 = 0): number =>
  Number.isFinite(limit) ? Math.min(maxPageSize, Math.max(min, Math.floor(limit))) : min
