/**
 * Payment data at rest, sealed with AES-256-GCM under a key id (DESIGN.md §6).
 *
 * A sealed value is `iv (12 bytes) || ciphertext || tag (16 bytes)`, stored beside the id of the
 * key that sealed it. The additional authenticated data names the row (`order_id:attempt`), so
 * a sealed value copied onto another order's row fails to open instead of paying with another
 * customer's method.
 *
 * Keys rotate without downtime: (1) give every instance the new key beside the old one (they
 * still seal with the old, `currentKeyId`, and open both); (2) make the new key current; (3) run
 * `PostgresPayments.reseal` until it answers 0, so no row needs the old key; (4) drop the old key.
 * A row under a key the instance does not have is a defect (a deployment error), never silently
 * skipped.
 *
 * @example
 * PaymentCipher.layerWith({ currentKeyId: "2026-12", keys: { "2026-12": Redacted.make(base64Key) } })
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from "node:crypto"
import { decodeSettings } from "../internal/decodeSettings.js"
import { Config, Context, Effect, Layer, Redacted, Schema } from "effect"

const IV_BYTES = 12
const TAG_BYTES = 16

export interface Sealed {
  readonly keyId: string
  readonly sealed: Uint8Array
}

export interface PaymentCipher {
  /** The key id new values are sealed under. */
  readonly currentKeyId: string
  /** Seals `plaintext` for the row named by `aad` under the current key. */
  readonly seal: (plaintext: string, aad: string) => Sealed
  /** Opens a value sealed for `aad`; an unknown key or a value not sealed for `aad` is a defect. */
  readonly open: (value: Sealed, aad: string) => Effect.Effect<string>
}

/** @category services */
export const PaymentCipher = Context.Service<PaymentCipher>("@till/adapters/postgres/PaymentCipher")

const KeyId = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9._-]{1,64}$/, { message: "a key id is 1-64 of A-Z a-z 0-9 . _ -" })
)

/** The keys, each 32 bytes in base64, by id; `currentKeyId` seals, all of them open. */
export const Settings = Schema.Struct({
  currentKeyId: KeyId,
  keys: Schema.Record(KeyId, Schema.Redacted(Schema.String))
}).check(
  Schema.makeFilter(
    (s) => s.currentKeyId in s.keys || `the current key ${s.currentKeyId} is not among the keys`
  ),
  Schema.makeFilter((s) => {
    const bad = Object.entries(s.keys).find(([, k]) => Buffer.from(Redacted.value(k), "base64").length !== 32)
    return bad === undefined || `key ${bad[0]} is not 32 bytes of base64 (AES-256)`
  })
)
export type Settings = typeof Settings.Type

/** The cipher over decoded settings. */
export const make = (settings: Settings): PaymentCipher => {
  // KeyObjects made once: a raw key Buffer is turned into one inside every createCipheriv, which
  // tripled the cost of a seal (~30 µs against ~10 µs here).
  const keys = new Map(
    Object.entries(settings.keys).map(
      ([id, key]) => [id, createSecretKey(Buffer.from(Redacted.value(key), "base64"))] as const
    )
  )
  const current = keys.get(settings.currentKeyId)!
  return PaymentCipher.of({
    currentKeyId: settings.currentKeyId,
    seal: (plaintext, aad) => {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv("aes-256-gcm", current, iv)
      cipher.setAAD(Buffer.from(aad, "utf8"))
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()])
      return { keyId: settings.currentKeyId, sealed: Buffer.concat([iv, body, cipher.getAuthTag()]) }
    },
    open: (value, aad) =>
      Effect.suspend(() => {
        const key = keys.get(value.keyId)
        if (key === undefined)
          return Effect.die(
            new Error(`payment data sealed under key ${value.keyId}, which this instance lacks`)
          )
        const bytes = Buffer.from(value.sealed)
        if (bytes.length < IV_BYTES + TAG_BYTES)
          return Effect.die(new Error("sealed payment data is truncated"))
        return Effect.try({
          try: () => {
            const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES))
            decipher.setAAD(Buffer.from(aad, "utf8"))
            decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
            const body = bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)
            return Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8")
          },
          // The message of a failed GCM check says nothing of the data: safe to keep.
          catch: (cause) =>
            new Error(`sealed payment data of ${aad} does not open under key ${value.keyId}`, { cause })
        }).pipe(Effect.orDie)
      })
  })
}

/**
 * The cipher with keys given in code; invalid settings are a defect when the layer is built.
 * @category layers
 */
export const layerWith = (settings: Settings): Layer.Layer<PaymentCipher> =>
  Layer.effect(PaymentCipher, Effect.map(Effect.orDie(Schema.decodeEffect(Settings)(settings)), make))

/**
 * A cipher under a random key that lives as long as the process: for tests and the demo only,
 * since nothing it sealed opens after a restart.
 * @category layers
 */
export const layerEphemeral: Layer.Layer<PaymentCipher> = Layer.sync(PaymentCipher, () =>
  make({ currentKeyId: "ephemeral", keys: { ephemeral: Redacted.make(randomBytes(32).toString("base64")) } })
)

/**
 * The keys from `Config`: `payments.keys` as `id=base64,id=base64` (a secret) and
 * `payments.currentKeyId` (with `ConfigProvider.constantCase`: `PAYMENTS_KEYS`,
 * `PAYMENTS_CURRENT_KEY_ID`).
 */
export const config: Config.Config<Settings> = Config.all({
  keys: Config.Redacted("keys"),
  currentKeyId: Config.String("currentKeyId")
}).pipe(
  Config.nested("payments"),
  Config.mapEffect(({ keys, currentKeyId }) => {
    const entries = Redacted.value(keys)
      .split(",")
      .map((pair) => pair.trim())
      .filter((pair) => pair.length > 0)
      .map((pair) => {
        const at = pair.indexOf("=")
        return [pair.slice(0, at), Redacted.make(pair.slice(at + 1))] as const
      })
    return decodeSettings(Settings, ["payments"])({ currentKeyId, keys: Object.fromEntries(entries) })
  })
)

/**
 * The cipher with keys read from `Config` (`config`): a missing or invalid key fails the layer at
 * startup with a `ConfigError`.
 * @category layers
 */
export const layerConfig = (
  settings: Config.Config<Settings> = config
): Layer.Layer<PaymentCipher, Config.ConfigError> => Layer.effect(PaymentCipher, Effect.map(settings, make))
