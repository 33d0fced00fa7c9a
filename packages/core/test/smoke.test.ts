import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Layer } from "effect"
import { describe, expect, it } from "vitest"
import * as Core from "@till/core"

const sourceFiles = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []
  )

describe("@till/core", () => {
  it("exports its modules as namespaces", () => {
    for (const name of [
      "Money",
      "Cart",
      "Order",
      "Checkout",
      "Carts",
      "Recovery",
      "CircuitBreaker",
      "RateLimiter",
      "Till"
    ]) {
      expect(Core, name).toHaveProperty(name)
    }
    // One layer form in every service module: `layer` a value, `layerWith` and `layerConfig` functions.
    for (const module of [
      Core.Checkout,
      Core.Carts,
      Core.Idempotency,
      Core.Pricing,
      Core.RateLimiter,
      Core.Resilience
    ]) {
      expect(Layer.isLayer(module.layer)).toBe(true)
      expect(typeof module.layerWith).toBe("function")
    }
    for (const module of [Core.Payments, Core.Inventory, Core.Till])
      expect(Layer.isLayer(module.layer)).toBe(true)
    for (const module of [Core.Checkout, Core.Carts, Core.Idempotency, Core.RateLimiter, Core.Resilience])
      expect(typeof module.layerConfig).toBe("function")
  })

  it("imports nothing but effect (no adapter, driver or Node API)", () => {
    const src = join(import.meta.dirname, "../src")
    const offenders: Array<string> = []
    for (const file of sourceFiles(src)) {
      // Doc comments may show an import of another package (an example); code may not.
      const code = readFileSync(file, "utf8").replace(/\/\*\*[\s\S]*?\*\//g, "")
      for (const [, spec] of code.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) {
        if (spec === undefined || spec.startsWith(".") || spec === "effect" || spec.startsWith("effect/"))
          continue
        offenders.push(`${file}: ${spec}`)
      }
    }
    expect(offenders).toEqual([])
  })
})
