import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { describe } from "vitest"
import { till } from "./support/cli.js"
import { Cli, Jwt } from "@till/runtime"

// `it.live`: the CLI runs on the live clock and console, as the binary does. What `till demo` prints
// and checks is demo.test.ts's.
describe("till CLI", () => {
  it.live("`till --help` lists the commands", () =>
    Effect.gen(function* () {
      const { stdout, code } = yield* till("--help")
      expect(code).toBe(0)
      expect(stdout).toMatch(/^\s+demo\s+Run the seed's checkout journeys/m)
      expect(stdout).toMatch(/^\s+version\s+Print the version/m)
      expect(stdout).toMatch(/^\s+start\s+Serve the HTTP API/m)
      expect(stdout).toMatch(/^\s+migrate\s+Apply the Postgres migrations/m)
      expect(stdout).toMatch(/^\s+token\s+Mint a bearer token/m)
    })
  )

  it.live("`till token` mints a token the server accepts: sub, role, expiry", () =>
    Effect.gen(function* () {
      const secret = "cli-test-secret-0123456789abcdef0123"
      process.env["TILL_JWT_SECRET"] = secret
      try {
        const admin = yield* till("token", "--user", "ada", "--admin", "--ttl", "60")
        expect(admin.code).toBe(0)
        const now = Math.floor(Date.now() / 1000)
        const claims = Jwt.verify(secret, admin.stdout.trim(), now)
        expect(claims).toMatchObject({ sub: "ada", role: "admin" })
        expect(typeof claims === "object" && claims.exp - now).toBeLessThanOrEqual(60)
        const plain = yield* till("token", "--user", "bob")
        expect(Jwt.verify(secret, plain.stdout.trim(), now)).toMatchObject({ sub: "bob", role: undefined })
        expect(Jwt.verify("another-secret-0123456789abcdef0123", plain.stdout.trim(), now)).toBe(
          "bad signature"
        )
      } finally {
        delete process.env["TILL_JWT_SECRET"]
      }
      const missing = yield* till("token", "--user", "ada")
      expect(missing.code).toBe(1)
      expect(missing.stdout).toBe("")
      expect((yield* till("token")).code).toBe(2)
    })
  )

  it.live("`till` alone and `till help` show the same help and succeed", () =>
    Effect.gen(function* () {
      const help = yield* till("--help")
      for (const args of [[], ["help"]]) {
        const { stdout, code } = yield* till(...args)
        expect(code).toBe(0)
        expect(stdout).toBe(help.stdout)
      }
    })
  )

  it.live("`till demo --help` shows the demo's help and does not run it", () =>
    Effect.gen(function* () {
      const { stdout, stderr, code } = yield* till("demo", "--help")
      expect(code).toBe(0)
      expect(stdout).toContain("till demo")
      expect(stdout).toContain("Run the seed's checkout journeys")
      expect(stdout).not.toContain("Till demo —")
      expect(stderr).toBe("")
    })
  )

  it.live("an unknown flag is a usage error (exit 2) naming the flag, and the demo does not run", () =>
    Effect.gen(function* () {
      const { stdout, stderr, code } = yield* till("demo", "--nope")
      expect(code).toBe(2)
      expect(stderr).toContain("Unrecognized flag: --nope")
      expect(stdout).not.toContain("Till demo —")
    })
  )

  it.live("an unknown command is a usage error (exit 2)", () =>
    Effect.gen(function* () {
      const { stderr, code } = yield* till("nope")
      expect(code).toBe(2)
      expect(stderr).toContain('Unknown subcommand "nope"')
    })
  )

  it.live("`till version` prints the version", () =>
    Effect.gen(function* () {
      const { stdout, code } = yield* till("version")
      expect(code).toBe(0)
      expect(stdout).toBe(Cli.version)
    })
  )

  it("the binary exits non-zero on an unknown flag, with the message on stderr", async () => {
    const bin = fileURLToPath(new URL("../src/bin.ts", import.meta.url))
    const tsconfig = fileURLToPath(new URL("../tsconfig.json", import.meta.url))
    const result = await new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", bin, "demo", "--nope"],
        { env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig, NO_COLOR: "1" }, timeout: 20_000 },
        (error, stdout, stderr) =>
          resolve({ code: error ? (error.code as number | null) : 0, stdout, stderr })
      )
    })
    expect(result.stderr).toContain("Unrecognized flag: --nope")
    expect(result.stdout).not.toContain("Till demo —")
    expect(result.code).toBe(2)
  })
})
