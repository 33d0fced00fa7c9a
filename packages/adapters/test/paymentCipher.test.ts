/** AES-256-GCM under key ids, on its own: round trips, rotation, and every way opening must fail. */
import { describe, expect, it } from "@effect/vitest"
import { PaymentCipher } from "@till/adapters/postgres"
import { ConfigProvider, Effect, Exit, Layer, Redacted } from "effect"
import { randomBytes } from "node:crypto"

const key = () => Redacted.make(randomBytes(32).toString("base64"))
const k1 = key()
const k2 = key()

const cipherOf = (settings: PaymentCipher.Settings) =>
  Effect.provide(PaymentCipher.PaymentCipher, PaymentCipher.layerWith(settings))

describe("PaymentCipher", () => {
  it.effect("seals under the current key id and opens what it sealed; the sealed bytes hide the token", () =>
    Effect.gen(function* () {
      const cipher = yield* cipherOf({ currentKeyId: "k1", keys: { k1 } })
      const sealed = cipher.seal("pm_secret_token", "ord_1:1")
      expect(sealed.keyId).toBe("k1")
      expect(Buffer.from(sealed.sealed).toString("latin1")).not.toContain("pm_secret_token")
      expect(yield* cipher.open(sealed, "ord_1:1")).toBe("pm_secret_token")
      // A fresh IV each time: equal tokens seal to different bytes.
      expect(Buffer.from(cipher.seal("pm_secret_token", "ord_1:1").sealed)).not.toEqual(
        Buffer.from(sealed.sealed)
      )
    })
  )

  it.effect("rotation: after k2 becomes current, k1's values still open; without k1 they do not", () =>
    Effect.gen(function* () {
      const before = yield* cipherOf({ currentKeyId: "k1", keys: { k1 } })
      const old = before.seal("pm_a", "ord_1:1")
      const during = yield* cipherOf({ currentKeyId: "k2", keys: { k1, k2 } })
      expect(yield* during.open(old, "ord_1:1")).toBe("pm_a")
      const fresh = during.seal("pm_b", "ord_2:1")
      expect(fresh.keyId).toBe("k2")
      const after = yield* cipherOf({ currentKeyId: "k2", keys: { k2 } })
      expect(yield* after.open(fresh, "ord_2:1")).toBe("pm_b")
      const lacking = yield* Effect.exit(after.open(old, "ord_1:1"))
      expect(Exit.isFailure(lacking) && String(lacking.cause)).toContain("which this instance lacks")
    })
  )

  it.effect("a value moved to another row, tampered with or truncated does not open (a defect)", () =>
    Effect.gen(function* () {
      const cipher = yield* cipherOf({ currentKeyId: "k1", keys: { k1 } })
      const sealed = cipher.seal("pm_a", "ord_1:1")
      const flipped = Buffer.from(sealed.sealed)
      flipped[14] = flipped[14]! ^ 1
      for (const [value, aad] of [
        [sealed, "ord_2:1"],
        [{ keyId: "k1", sealed: flipped }, "ord_1:1"],
        [{ keyId: "k1", sealed: sealed.sealed.subarray(0, 20) }, "ord_1:1"]
      ] as const) {
        const exit = yield* Effect.exit(cipher.open(value, aad))
        expect(Exit.isFailure(exit)).toBe(true)
        expect(String(Exit.isFailure(exit) && exit.cause)).not.toContain("pm_a")
      }
    })
  )

  it.effect("settings: the current key must be among the keys, every key 32 bytes", () =>
    Effect.gen(function* () {
      for (const settings of [
        { currentKeyId: "k3", keys: { k1 } },
        { currentKeyId: "k1", keys: { k1: Redacted.make(randomBytes(16).toString("base64")) } },
        { currentKeyId: "bad id!", keys: { "bad id!": k1 } }
      ]) {
        const exit = yield* Effect.exit(cipherOf(settings))
        expect(Exit.isFailure(exit)).toBe(true)
      }
    })
  )

  it.effect(
    "from Config: PAYMENTS_KEYS as id=base64 pairs and PAYMENTS_CURRENT_KEY_ID; the keys stay out of errors",
    () =>
      Effect.gen(function* () {
        const provider = (env: Record<string, string>) =>
          ConfigProvider.layer(ConfigProvider.fromEnv({ env }).pipe(ConfigProvider.constantCase))
        const good = yield* Effect.provide(
          PaymentCipher.PaymentCipher,
          PaymentCipher.layerConfig().pipe(
            Layer.provide(
              provider({
                PAYMENTS_KEYS: `k1=${Redacted.value(k1)}, k2=${Redacted.value(k2)}`,
                PAYMENTS_CURRENT_KEY_ID: "k2"
              })
            )
          )
        )
        expect(good.currentKeyId).toBe("k2")
        const short = randomBytes(8).toString("base64")
        const bad = yield* Effect.exit(
          Effect.provide(
            PaymentCipher.PaymentCipher,
            PaymentCipher.layerConfig().pipe(
              Layer.provide(provider({ PAYMENTS_KEYS: `k1=${short}`, PAYMENTS_CURRENT_KEY_ID: "k1" }))
            )
          )
        )
        expect(Exit.isFailure(bad)).toBe(true)
        expect(String(Exit.isFailure(bad) && bad.cause)).toContain("not 32 bytes")
        expect(String(Exit.isFailure(bad) && bad.cause)).not.toContain(short)
      })
  )
})
