import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { Cli, Demo } from "@till/runtime"

describe("till CLI", () => {
  it("prints usage for --help", () => {
    const lines: Array<string> = []
    const log = console.log
    console.log = (line: string) => lines.push(line)
    try {
      Cli.runCli(["--help"])
    } finally {
      console.log = log
    }
    expect(lines.join("\n")).toContain("till demo")
  })

  it("`till demo` runs both journeys on the in-memory ports", async () => {
    const lines = await Effect.runPromise(Demo.runDemo)
    const text = lines.join("\n")
    expect(text).toMatch(/1\. alice checks out 2 mugs\s+\| 201\s+\| confirmed/)
    expect(text).toMatch(/2a\. bob's card is declined\s+\| 402 PaymentDeclined \| payment_failed/)
    expect(text).toMatch(/2b\. bob pays again, new card\s+\| 201\s+\| confirmed/)
    expect(text).toContain("order.confirmed")
  })
})
