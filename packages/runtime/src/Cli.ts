/**
 * The `till` command line, on Effect's own CLI module (`effect/cli`): every command gets
 * `--help`, an unknown flag or command is an error with a non-zero exit, and the help text is
 * generated from the same definitions that parse the arguments, so the two cannot drift.
 * - `start`: the HTTP service (Start.ts), until SIGTERM/SIGINT;
 * - `migrate`: applies the Postgres migrations of `DATABASE_URL` and exits;
 * - `token --user ID [--admin] [--ttl SECONDS]`: mints a bearer token with `TILL_JWT_SECRET`;
 * - `demo [--only NAME]`: the checkout scenarios through the API on the embedded in-memory ports,
 *   with their invariants checked (exit 1 when one broke);
 * - `simulate [--users N] [--rate R] [--duration S] [--faults SPEC] …`: shoppers at a steady rate
 *   with a fault schedule, a JSON report and an HTML page of charts (Simulate.ts); exit 1 when an
 *   invariant broke;
 * - `version`.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import {
  Cause,
  Clock,
  Config,
  ConfigProvider,
  Console,
  Effect,
  Exit,
  Option,
  Redacted,
  Runtime
} from "effect"
import { CliError, Command, Flag } from "effect/cli"
import * as Demo from "./Demo.js"
import * as Jwt from "./http/Jwt.js"
import * as Settings from "./Settings.js"
import * as Simulate from "./Simulate.js"
import * as Start from "./Start.js"

/** The version `till version` and `till --version` print. @category constants */
export const version = "0.1.0"

const demo = Command.make(
  "demo",
  {
    only: Flag.Literals("only", Demo.names).pipe(
      Flag.atLeast(0),
      Flag.withDescription("run only this scenario (repeat the flag for several); default: all of them")
    )
  },
  ({ only }) => Demo.run({ only })
).pipe(
  Command.withDescription(
    "Run the seed's checkout journeys and failure scenarios (double click, flash sale, gateway outage, crash, abandoned cart) through the HTTP API on the embedded in-memory ports, and check the invariants"
  )
)

/** A number flag of `till simulate`, with its default, checked against Simulate.Options.limits. */
const knob = (
  flag: Flag.Flag<number>,
  name: Simulate.Options.Numeric,
  metavar: string,
  description: string
): Flag.Flag<number> =>
  flag.pipe(
    Flag.filter(
      (value) => Simulate.Options.outOfRange(name, value) === undefined,
      (value) => Simulate.Options.outOfRange(name, value)!
    ),
    Flag.withDefault(Simulate.Options.defaults[name]),
    Flag.withMetavar(metavar),
    Flag.withDescription(`${description} (default ${Simulate.Options.defaults[name]})`)
  )

const file = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withMetavar("FILE"), Flag.withDescription(description), Flag.optional)

const simulate = Command.make(
  "simulate",
  {
    users: knob(Flag.Int("users"), "users", "N", "distinct shoppers, taken in turn"),
    rate: knob(
      Flag.Finite("rate"),
      "ratePerSecond",
      "R",
      "checkouts started per second, whatever the answers (open loop)"
    ),
    duration: knob(Flag.Int("duration"), "durationSeconds", "S", "seconds of arrivals"),
    skus: knob(Flag.Int("skus"), "skus", "K", "SKUs on the shelf"),
    skew: knob(Flag.Finite("skew"), "skew", "Z", "Zipf-like skew over the SKUs: 0 uniform, 1 a hot SKU"),
    declineRate: knob(
      Flag.Finite("decline-rate"),
      "declineRate",
      "P",
      "share of checkouts paid with a declined card"
    ),
    stock: knob(Flag.Int("stock"), "stockPerSku", "N", "units of each SKU at the start"),
    faults: Flag.String("faults").pipe(
      Flag.mapTryCatch(Simulate.Faults.parse, (error) =>
        error instanceof Error ? error.message : String(error)
      ),
      Flag.withDefault([]),
      Flag.withMetavar("SPEC"),
      Flag.withDescription(
        "fault schedule, e.g. storm@10s+5s,latency@20s+5s:800ms,restart@30s,redis-down@40s+5s: a gateway 503 storm, gateway latency, a process restart, Redis down (redis-down@AT+FOR: with REDIS_URL the simulator's proxy resets the connections to Redis and refuses new ones; without, the in-memory carts fail as Redis would); embedded only"
      )
    ),
    target: Flag.String("target").pipe(
      Flag.filter(
        (url) => Simulate.Options.badTarget(url) === undefined,
        (url) => Simulate.Options.badTarget(url)!
      ),
      Flag.withMetavar("URL"),
      Flag.withDescription(
        "drive this running Till over HTTP instead of the embedded one (no faults, no store checks)"
      ),
      Flag.optional
    ),
    jwtSecret: Flag.Redacted("jwt-secret").pipe(
      Flag.withMetavar("SECRET"),
      Flag.withDescription("the --target's HS256 secret, to mint tokens (default: TILL_JWT_SECRET)"),
      Flag.optional
    ),
    seed: knob(Flag.Int("seed"), "seed", "N", "seed of the shoppers', SKUs' and cards' draws"),
    drain: knob(
      Flag.Int("drain"),
      "drainSeconds",
      "S",
      "seconds the end waits for in-flight checkouts and every order to end"
    ),
    report: file("report", "write the JSON report (settings, per-second series, totals, invariants) here"),
    html: file("html", "write a self-contained HTML page of charts here")
  },
  (flags) =>
    Simulate.run({
      users: flags.users,
      ratePerSecond: flags.rate,
      durationSeconds: flags.duration,
      skus: flags.skus,
      skew: flags.skew,
      declineRate: flags.declineRate,
      stockPerSku: flags.stock,
      faults: flags.faults,
      target: Option.getOrUndefined(flags.target),
      jwtSecret: Option.getOrUndefined(flags.jwtSecret),
      seed: flags.seed,
      drainSeconds: flags.drain,
      reportFile: Option.getOrUndefined(flags.report),
      htmlFile: Option.getOrUndefined(flags.html)
    }).pipe(
      // A refused run or an unwritable file: one line on stderr from effect/cli, exit 1.
      Effect.catchTags({
        SimulateRefused: (error) =>
          Effect.fail(new CliError.UserError({ cause: error, userMessage: error.message })),
        ReportNotWritten: (error) =>
          Effect.fail(new CliError.UserError({ cause: error, userMessage: error.message }))
      })
    )
).pipe(
  Command.withDescription(
    "Simulate shoppers at a steady rate with a fault schedule (gateway storm, latency, restart, Redis down) on the embedded in-memory ports (carts and rate limits on REDIS_URL when set), or against --target; a live line a second, a JSON report and an HTML page, the invariants checked"
  )
)

const start = Command.make("start", {}, () => Start.run).pipe(
  Command.withDescription(
    "Serve the HTTP API (TILL_HTTP_PORT, default 8080) on the services of DATABASE_URL, REDIS_URL and KAFKA_BROKERS, or in memory"
  )
)

const migrate = Command.make("migrate", {}, () =>
  Effect.gen(function* () {
    // Loaded here, not at start-up: `till` on the embedded default never loads a driver.
    const { Migrations, PgLayer } = yield* Effect.promise(() => import("@till/adapters/postgres"))
    const ran = yield* Migrations.migrate.pipe(Effect.provide(PgLayer.layerConfig()))
    yield* Console.log(
      ran.length === 0 ? "nothing to migrate" : ran.map(([id, name]) => `applied ${id} ${name}`).join("\n")
    )
  }).pipe(Effect.provide(ConfigProvider.layer(Settings.provider())))
).pipe(
  Command.withDescription(
    "Apply the Postgres migrations of DATABASE_URL (safe from several instances at once)"
  )
)

const token = Command.make(
  "token",
  {
    user: Flag.String("user").pipe(Flag.withDescription("the user id (the token's sub)")),
    admin: Flag.Boolean("admin").pipe(
      Flag.withDefault(false),
      Flag.withDescription("add role: admin (the admin routes)")
    ),
    ttl: Flag.Int("ttl").pipe(
      Flag.withDefault(86_400),
      Flag.withDescription("seconds until the token expires (default one day)")
    )
  },
  ({ user, admin, ttl }) =>
    Effect.gen(function* () {
      const secret = yield* Config.Redacted("TILL_JWT_SECRET")
      const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      yield* Console.log(
        Jwt.sign(Redacted.value(secret), {
          sub: user,
          exp: now + ttl,
          ...(admin ? { role: "admin" as const } : {})
        })
      )
    }).pipe(Effect.provide(ConfigProvider.layer(Settings.provider())))
).pipe(Command.withDescription("Mint a bearer token signed with TILL_JWT_SECRET"))

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
  Command.withSubcommands([start, migrate, token, demo, simulate, printVersion])
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
    NodeRuntime.runMain({
      teardown: (exit, onExit) =>
        // A service stopped by SIGTERM/SIGINT has shut down as asked (in-flight work finished): 0.
        onExit(args[0] === "start" && exitCode(exit) === 130 ? 0 : exitCode(exit))
    })
  )
