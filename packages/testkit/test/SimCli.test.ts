/**
 * `pnpm sim` from the shell (bin/sim.ts): `--help` prints the usage, a bad flag is one line on
 * stderr and exit code 2, never a stack trace.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { expect, it } from "vitest"

const root = fileURLToPath(new URL("../../..", import.meta.url))
const sim = (...args: ReadonlyArray<string>) =>
  promisify(execFile)(process.execPath, ["--import", "tsx", "packages/testkit/bin/sim.ts", ...args], {
    cwd: root,
    env: { ...process.env, TSX_TSCONFIG_PATH: "tsconfig.base.json" }
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error
  )

it("--help prints the usage and exits 0", async () => {
  const { code, stdout } = await sim("--help")
  expect(code).toBe(0)
  expect(stdout).toContain("pnpm sim --seeds 1000")
  expect(stdout).toContain("--planted NAME")
})

it("an unknown flag is one line and exit code 2", async () => {
  const { code, stdout, stderr } = await sim("--bogus")
  expect(code).toBe(2)
  expect(stdout).toBe("")
  expect(stderr.trim()).toBe("sim: Unknown option '--bogus' (pnpm sim --help)")
})
