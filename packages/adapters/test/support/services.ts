import * as net from "node:net"
import { describe } from "vitest"

/**
 * Gates a suite on a real service. Locally an absent service skips the suite with a
 * message saying how to start it; under CI=true an absent service fails the run, because
 * a green CI that skipped its integration tests would prove nothing.
 */
export type ServiceName = "postgres" | "redis" | "kafka"

const defaults: Record<ServiceName, { env: string; url: string }> = {
  postgres: { env: "TILL_TEST_DATABASE_URL", url: "postgres://postgres@127.0.0.1:5432/till_test" },
  redis: { env: "TILL_TEST_REDIS_URL", url: "redis://127.0.0.1:6379/0" },
  kafka: { env: "TILL_TEST_KAFKA_BROKERS", url: "127.0.0.1:9092" }
}

export const serviceUrl = (name: ServiceName): string => process.env[defaults[name].env] ?? defaults[name].url

const hostPort = (name: ServiceName): { host: string; port: number } => {
  const url = serviceUrl(name)
  const first = name === "kafka" ? `tcp://${url.split(",")[0]}` : url
  const parsed = new URL(first)
  return { host: parsed.hostname, port: Number(parsed.port) }
}

const reachable = ({ host, port }: { host: string; port: number }, timeoutMs = 1_000): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/** `describe` when every one of the services answers; otherwise skip (locally) or fail (CI=true). */
export const describeServices = async (
  names: ReadonlyArray<ServiceName>,
  title: string,
  body: () => void
): Promise<void> => {
  const targets = names.map((name) => ({ name, ...hostPort(name) }))
  const down = (await Promise.all(targets.map(async (t) => ((await reachable(t)) ? [] : [t])))).flat()
  if (down.length === 0) {
    for (const t of targets)
      console.info(`[services] ${t.name} at ${t.host}:${t.port}: running ${title} against the real service`)
    describe(title, body)
    return
  }
  const missing = down.map((t) => `${t.name} at ${t.host}:${t.port}`).join(", ")
  const how = `start it with \`bash scripts/services.sh up\` (or set ${down.map((t) => defaults[t.name].env).join(", ")})`
  if (process.env["CI"] === "true") {
    throw new Error(`${missing} not reachable and CI=true: ${how}`)
  }
  console.warn(`[services] SKIPPING ${title}: ${missing} not reachable; ${how}`)
  describe.skip(`${title} (skipped: ${down.map((t) => t.name).join(", ")} not running)`, body)
}

/** `describe` when the service answers; otherwise skip (locally) or fail (CI=true). */
export const describeService = (name: ServiceName, title: string, body: () => void): Promise<void> =>
  describeServices([name], title, body)
