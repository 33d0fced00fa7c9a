/**
 * `till start` as child processes for the process tests: start one with an environment, wait for
 * it to be ready, call its API with a minted token (client.ts), read a metric, and run one to its
 * end. Every child still running when the file ends is killed.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { afterAll } from "vitest"
import { callWith, waitReady } from "./client.js"
import { address } from "./http.js"

const bin = fileURLToPath(new URL("../../src/bin.ts", import.meta.url))
const tsconfig = fileURLToPath(new URL("../../tsconfig.json", import.meta.url))

export const secret = "process-test-secret-0123456789abcdef"

const started: Array<ChildProcess> = []
afterAll(() => {
  for (const child of started) if (child.exitCode === null) child.kill("SIGKILL")
})

const childEnv = (env: Record<string, string>) => ({
  ...process.env,
  TSX_TSCONFIG_PATH: tsconfig,
  NO_COLOR: "1",
  ...env
})

export interface Till {
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  /** Everything it printed so far (stdout and stderr). */
  readonly output: () => string
}

/** `till start` with `env` added, running until killed. */
export const till = (env: Record<string, string>): Till => {
  const child = spawn(process.execPath, ["--import", "tsx", bin, "start"], {
    env: childEnv(env),
    stdio: ["ignore", "pipe", "pipe"]
  })
  started.push(child)
  let output = ""
  child.stdout?.on("data", (d) => {
    output += String(d)
  })
  child.stderr?.on("data", (d) => {
    output += String(d)
  })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return { child, exited, output: () => output }
}

export { waitReady }

/** `till start` with `env` added, run to its end: its exit code and all it printed. */
export const startToEnd = (env: Record<string, string>) =>
  new Promise<{ code: number | null; output: string }>((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", bin, "start"],
      { env: childEnv(env), timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (error.code as number | null) : 0, output: stdout + stderr })
    )
  })

/** A request to an instance as `user` ("ops" is an admin), with a token of `secret`. */
export const call = callWith(secret)

/** The value of an unlabelled counter or gauge in the instance's /metrics (0 when absent). */
export const metric = async (port: number, name: string): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1))
}

/** A shopper ready to check out on the instance at `port`: a cart with items, a tokenized card. */
export interface Buyer {
  readonly user: string
  readonly port: number
  readonly cartId: string
  readonly methodId: string
}

/**
 * Every buyer's checkout (key `burst-<user>`), started `spacingMs` apart: each answer's status, or
 * "refused" when the connection failed; `whenAnswered(n)` resolves once n have answered.
 */
export const checkoutBurst = (buyers: ReadonlyArray<Buyer>, spacingMs: number) => {
  const statuses: Array<number | "refused"> = []
  let answered = 0
  const done = Promise.all(
    buyers.map(async (b, i) => {
      await new Promise((r) => setTimeout(r, i * spacingMs))
      try {
        const answer = await call(
          b.port,
          b.user,
          "POST",
          "/v1/checkout",
          { cart_id: b.cartId, payment_method_id: b.methodId, shipping_address: address },
          { "idempotency-key": `burst-${b.user}` }
        )
        answered += 1
        statuses.push(answer.status)
      } catch {
        statuses.push("refused")
      }
    })
  )
  const whenAnswered = async (n: number) => {
    while (answered < n) await new Promise((r) => setTimeout(r, 5))
  }
  return { statuses, done, whenAnswered }
}
