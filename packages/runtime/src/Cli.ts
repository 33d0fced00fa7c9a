/**
 * The `till` command line. Deliberately small until the runtime issue lands: `demo` runs the
 * checkout journeys on the embedded in-memory ports (no Postgres, Redis or Kafka needed).
 */
import { Effect } from "effect"
import { runDemo } from "./Demo.js"

export const usage = `till — Till's checkout runtime

Usage:
  till demo          run the seed's checkout journeys on the embedded in-memory ports
  till version       print the version
  till --help        show this help

With no DATABASE_URL, REDIS_URL or KAFKA_BROKERS, Till runs on the testkit's in-memory ports.`

export const version = "0.1.0"

export const runCli = (argv: ReadonlyArray<string>): void => {
  const [command] = argv
  switch (command) {
    case undefined:
    case "--help":
    case "-h":
    case "help":
      console.log(usage)
      return
    case "version":
    case "--version":
      console.log(version)
      return
    case "demo":
      Effect.runPromise(runDemo).then(
        (lines) => console.log(lines.join("\n")),
        (error) => {
          console.error(error)
          process.exitCode = 1
        }
      )
      return
    default:
      console.error(`unknown command: ${command}\n\n${usage}`)
      process.exitCode = 2
  }
}
