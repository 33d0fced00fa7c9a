/**
 * The `till` command line, on Effect's own CLI module (`effect/cli`): every command gets
 * `--help`, an unknown flag or command is an error with a non-zero exit, and the help text is
 * generated from the same definitions that parse the arguments, so the two cannot drift.
 * Deliberately small until the runtime issue lands: `demo` runs the checkout journeys on the
 * embedded in-memory ports (no Postgres, Redis or Kafka needed).
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Runtime } from "effect"
import { CliError, Command } from "effect/cli"
import { runDemo } from "./Demo.js"

/** The version `till version` and `till --version` print. @category constants */
export const version = "0.1.0"

const demo = Command.make("demo", {}, () =>
  Effect.flatMap(runDemo, (lines) => Console.log(lines.join("\n")))
).pipe(
  Command.withDescription(
    "Run the seed's checkout journeys on the embedded in-memory ports and print them as a table"
  )
)

const printVersion = Command.make("version", {}, () => Console.log(version)).pipe(
  Command.withDescription("Print the version")
)

/**
 * The `till` command and its subcommands. With no DATABASE_URL, REDIS_URL or KAFKA_BROKERS,
 * Till runs on the testkit's in-memory ports.
 * @category commands
 */
export const command = Command.make("till").pipe(
  Command.withDescription(
    "Till's checkout runtime. With no DATABASE_URL, REDIS_URL or KAFKA_BROKERS it runs on the testkit's in-memory ports."
  ),
  Command.withSubcommands([demo, printVersion])
)

/**
 * Parses `args` (without the node and script paths) and runs the command they name. Help and
 * parse errors are printed through `Console`; a parse error fails the effect.
 * @example Effect.runPromise(Cli.run(["demo"]).pipe(Effect.provide(NodeServices.layer)))
 * @category running
 */
export const run = (args: ReadonlyArray<string>) => Command.runWith(command, { version })(helpFor(args))

// `till` alone and `till help` show the help and succeed, as `till --help` does (the root command
// has no action of its own: effect/cli would answer them as a usage error).
const helpFor = (args: ReadonlyArray<string>): ReadonlyArray<string> =>
  args.length === 0 || (args.length === 1 && args[0] === "help") ? ["--help"] : args

/**
 * The exit code of a `till` run: 0 on success, 2 when the arguments do not parse (an unknown
 * command or flag: the shell convention for a usage error), 130 when interrupted, else 1.
 * @category running
 */
export const exitCode = <A, E>(exit: Exit.Exit<A, E>): number => {
  if (Exit.isSuccess(exit)) return 0
  if (Cause.hasInterruptsOnly(exit.cause)) return 130
  const error = Cause.squash(exit.cause)
  return isUsageError(error) ? 2 : Runtime.getErrorExitCode(error)
}

// `run` fails with `ShowHelp` (its help and errors already printed) only when parsing failed;
// an explicit `--help` succeeds.
const isUsageError = (error: unknown): boolean => CliError.isCliError(error) && error._tag === "ShowHelp"

/**
 * The `till` binary: runs `args` on Node's services and exits with {@link exitCode}.
 * @category running
 */
export const runCli = (args: ReadonlyArray<string>): void =>
  run(args).pipe(
    Effect.provide(NodeServices.layer),
    NodeRuntime.runMain({ teardown: (exit, onExit) => onExit(exitCode(exit)) })
  )
