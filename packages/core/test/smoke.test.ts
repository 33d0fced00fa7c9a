import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
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
      "RateLimiter"
    ]) {
      expect(Core, name).toHaveProperty(name)
    }
    expect(typeof Core.Checkout.layer).toBe("function")
  })

  it("imports nothing but effect (no adapter, driver or Node API)", () => {
    const src = join(import.meta.dirname, "../src")
    const offenders: Array<string> = []
    for (const file of sourceFiles(src)) {
      for (const [, spec] of readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) {
        if (spec === undefined || spec.startsWith(".") || spec === "effect" || spec.startsWith("effect/"))
          continue
        offenders.push(`${file}: ${spec}`)
      }
    }
    expect(offenders).toEqual([])
  })
})
