/**
 * The two servers of the end-to-end bench as child processes, each on its own schema, Redis key
 * prefix, Kafka topics and consumer groups (names carry the run and the round, so no state is
 * shared between them or with an earlier run):
 * - `till`: the built binary (`packages/runtime/dist/bin.js`, through its shebang so its V8 flags
 *   apply) as `till start` on Postgres, Redis and Kafka, in production mode (sealing keys set);
 *   with a gateway latency, through `TILL_GATEWAY_LATENCY_MS`;
 * - `baseline`: `baseline/server.ts` under Node's own type stripping.
 * Each is watched from /proc: resident memory (VmRSS) and CPU time (utime + stime).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { appendFileSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { freePort } from "../../packages/adapters/test/support/net.js"

const here = dirname(fileURLToPath(import.meta.url))
export const root = join(here, "../..")
/** `till`'s binary: the workspace's build, or `TILL_BENCH_E2E_TILL_BIN` (e.g. a build of a clean checkout). */
export const bin = process.env["TILL_BENCH_E2E_TILL_BIN"] ?? join(root, "packages/runtime/dist/bin.js")

export type Kind = "till" | "baseline"

export interface Services {
  readonly databaseUrl: string
  readonly redisUrl: string
  readonly kafkaBrokers: string
}

export interface Names {
  readonly schema: string
  readonly redisPrefix: string
  readonly ordersTopic: string
  readonly cartsTopic: string
  readonly groupPrefix: string
}

export interface Server {
  readonly kind: Kind
  readonly baseUrl: string
  readonly secret: string
  readonly names: Names
  readonly pid: number
  /** VmRSS now, MB. */
  readonly rssMb: () => number
  /** CPU time used so far (user + system), ms. */
  readonly cpuMs: () => number
  /** The last lines it printed (for a failure's message). */
  readonly output: () => string
  /** SIGTERM, then SIGKILL after 30 s. */
  readonly stop: () => Promise<void>
}

const ticksPerSecond = 100 // Linux USER_HZ

const statusOf = (pid: number) => readFileSync(`/proc/${pid}/status`, "utf8")

export const rssMbOf = (pid: number): number => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(statusOf(pid))?.[1] ?? 0) / 1024
  } catch {
    return 0
  }
}

export const cpuMsOf = (pid: number): number => {
  try {
    // Fields after the command's closing parenthesis: state is the 3rd field, utime the 14th.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond
  } catch {
    return 0
  }
}

/**
 * CPU time (ms) of every process on the machine named one of `names` (`/proc/<pid>/comm`), by
 * name: every Postgres backend and worker under `postgres`, say, other sessions' included.
 */
export const cpuMsByName = <N extends string>(names: ReadonlyArray<N>): Record<N, number> => {
  const totals = Object.fromEntries(names.map((name) => [name, 0])) as Record<N, number>
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue
    let name: string
    try {
      name = readFileSync(`/proc/${pid}/comm`, "utf8").trim()
    } catch {
      continue // ended meanwhile
    }
    if (Object.hasOwn(totals, name)) totals[name as N] += cpuMsOf(Number(pid))
  }
  return totals
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const waitReady = async (baseUrl: string, child: ChildProcess, output: () => string) => {
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}):\n${output()}`)
    try {
      const answer = await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(2_000) })
      await answer.arrayBuffer()
      if (answer.status === 200) return
    } catch {
      // not listening yet
    }
    await sleep(200)
  }
  throw new Error(`the server was not ready within 90 s:\n${output()}`)
}

/** Names of `kind` in round `label` of run `run`. */
export const namesOf = (run: string, kind: Kind, label: string): Names => {
  const tag = `${kind === "till" ? "till" : "base"}_${label}`
  return {
    schema: `e2e_${run}_${tag}`,
    redisPrefix: `e2e:${run}:${tag}:`,
    ordersTopic: `e2e.${run}.${tag}.orders`,
    cartsTopic: `e2e.${run}.${tag}.carts`,
    groupPrefix: `e2e.${run}.${tag}`
  }
}

export const start = async (
  kind: Kind,
  services: Services,
  names: Names,
  gatewayLatencyMs: number,
  /** More Node flags for the server (e.g. `--cpu-prof`). */
  nodeFlags: ReadonlyArray<string> = []
): Promise<Server> => {
  const port = await freePort()
  const secret = randomBytes(24).toString("base64url")
  const sealKey = randomBytes(32).toString("base64")
  const env: Record<string, string> =
    kind === "till"
      ? {
          DATABASE_URL: services.databaseUrl,
          REDIS_URL: services.redisUrl,
          KAFKA_BROKERS: services.kafkaBrokers,
          POSTGRES_SCHEMA: names.schema,
          REDIS_KEY_PREFIX: names.redisPrefix,
          KAFKA_TOPICS_ORDERS: names.ordersTopic,
          KAFKA_TOPICS_CARTS: names.cartsTopic,
          KAFKA_GROUP_PREFIX: names.groupPrefix,
          TILL_HTTP_PORT: String(port),
          TILL_CLUSTER_HOST: "127.0.0.1",
          TILL_CLUSTER_PORT: String(await freePort()),
          TILL_JWT_SECRET: secret,
          PAYMENTS_KEYS: `k1=${sealKey}`,
          PAYMENTS_CURRENT_KEY_ID: "k1",
          NODE_OPTIONS: nodeFlags.join(" "),
          TILL_GATEWAY_LATENCY_MS: String(gatewayLatencyMs)
        }
      : {
          DATABASE_URL: services.databaseUrl,
          REDIS_URL: services.redisUrl,
          KAFKA_BROKERS: services.kafkaBrokers,
          BASELINE_SCHEMA: names.schema,
          BASELINE_REDIS_PREFIX: names.redisPrefix,
          BASELINE_TOPIC_ORDERS: names.ordersTopic,
          BASELINE_TOPIC_CARTS: names.cartsTopic,
          BASELINE_GROUP_PREFIX: names.groupPrefix,
          BASELINE_PORT: String(port),
          BASELINE_JWT_SECRET: secret,
          BASELINE_SEAL_KEY: sealKey,
          BASELINE_GATEWAY_LATENCY_MS: String(gatewayLatencyMs)
        }
  // Neither inherits this process's loader (tsx) or a caller's NODE_OPTIONS.
  const { NODE_OPTIONS: _inherited, ...base } = process.env
  const child =
    kind === "till"
      ? spawn(bin, ["start"], { env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] })
      : spawn(process.execPath, ["--no-warnings", ...nodeFlags, join(here, "baseline/server.ts")], {
          env: { ...base, ...env },
          stdio: ["ignore", "pipe", "pipe"]
        })
  const lines: Array<string> = []
  // TILL_BENCH_E2E_LOG_DIR: every line a server prints, kept in `<dir>/<tag>.log` for a post-mortem.
  const logDir = process.env["TILL_BENCH_E2E_LOG_DIR"]
  const logFile = logDir === undefined ? undefined : join(logDir, `${names.schema}.log`)
  const keep = (chunk: Buffer) => {
    if (logFile !== undefined) appendFileSync(logFile, chunk)
    lines.push(...chunk.toString("utf8").split("\n").filter(Boolean))
    if (lines.length > 40) lines.splice(0, lines.length - 40)
  }
  child.stdout?.on("data", keep)
  child.stderr?.on("data", keep)
  const output = () => lines.join("\n")
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const baseUrl = `http://127.0.0.1:${port}`
  try {
    await waitReady(baseUrl, child, output)
  } catch (error) {
    child.kill("SIGKILL")
    throw error
  }
  const pid = child.pid!
  return {
    kind,
    baseUrl,
    secret,
    names,
    pid,
    rssMb: () => rssMbOf(pid),
    cpuMs: () => cpuMsOf(pid),
    output,
    stop: async () => {
      if (child.exitCode !== null) return
      child.kill("SIGTERM")
      const killed = sleep(30_000).then(() => child.kill("SIGKILL"))
      await Promise.race([exited, killed])
      await exited
    }
  }
}
