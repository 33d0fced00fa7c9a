/**
 * `till start`: the HTTP service of API.md with its background jobs, on the ports the
 * environment configures (Ports.ts, Settings.ts).
 *
 * Lifecycle:
 * - a bad setting is printed with its variable and the process exits 1 before opening a port;
 * - in development without `TILL_JWT_SECRET`, a secret is generated for this process and a
 *   ready-made `till token` command line is printed (tokens die with the process);
 * - the startup log says which store serves what;
 * - on SIGTERM or SIGINT: the server stops accepting connections and lets in-flight requests
 *   (checkouts included) finish, up to `TILL_SHUTDOWN_GRACE_MS`; then the jobs stop, and the
 *   outbox is drained once more so committed events leave before the process does; exit 0.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Degradation, Outbox, Till } from "@till/core"
import {
  type Config,
  ConfigProvider,
  Duration,
  Effect,
  Layer,
  Logger,
  Option,
  Redacted,
  References,
  Schedule
} from "effect"
import type { ServeError } from "effect/http/HttpServerError"
import { HttpRouter } from "effect/http"
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"
import * as App from "./http/App.js"
import * as Auth from "./http/Auth.js"
import * as CartEntity from "./CartEntity.js"
import * as Cluster from "./Cluster.js"
import * as DegradationSignals from "./DegradationSignals.js"
import * as EventLoopDelay from "./EventLoopDelay.js"
import * as HotSkuEntity from "./HotSkuEntity.js"
import * as OrderEntity from "./OrderEntity.js"
import * as Jobs from "./Jobs.js"
import * as Ports from "./Ports.js"
import * as Settings from "./Settings.js"

/** The secret of this process: the configured one, or in development a fresh one (printed). */
const secretOf = (settings: Settings.Settings) =>
  Effect.gen(function* () {
    if (Option.isSome(settings.jwtSecret)) return settings.jwtSecret.value
    const secret = randomBytes(32).toString("base64url")
    yield* Effect.logWarning(
      "no TILL_JWT_SECRET: a secret was generated for this process (development only). Mint a token with:\n" +
        `  TILL_JWT_SECRET=${secret} till token --user alice`
    )
    return Redacted.make(secret)
  })

/** What `services` provides: everything the routes and jobs need. */
export type Services = Till.Services | Ports.Provided | Degradation.Degradation | Auth.JwtSecret

/** What starting may fail with: a setting, a service that does not answer, the port taken. */
export type Failure = Ports.Failure | Cluster.Failure | Config.ConfigError | ServeError

/** Every service the routes and jobs need, on the configured ports. */
export const services = (
  settings: Settings.Settings,
  secret: Redacted.Redacted<string>
): Layer.Layer<Services, Ports.Failure | Cluster.Failure | Config.ConfigError> =>
  Layer.mergeAll(
    // The drainer and the sweeper resume each order through its order entity (OrderEntity.ts).
    Jobs.layer(settings).pipe(
      Layer.provide(
        OrderEntity.layer({
          ...OrderEntity.defaults,
          mailboxCapacity: settings.orderMailbox,
          callTimeoutMs: settings.orderCallTimeoutMs
        })
      )
    ),
    // With carts in Redis (shared by the instances), the HTTP routes edit them through the cart
    // entity, one mailbox per cart (CartEntity.ts). Embedded, the one process's carts are edited
    // directly: the entity's memory took the runtime bench's RSS under load from 287 MB to
    // 326-416 MB, over the 300 MB budget, for a race the in-memory store's compare-and-set settles.
    Option.isSome(settings.redisUrl)
      ? CartEntity.layer({
          maxIdleMs: settings.cartIdleMs,
          mailboxCapacity: settings.cartMailbox,
          callTimeoutMs: settings.cartCallTimeoutMs
        })
      : Layer.empty,
    // The breakers move the degradation level (the pool's load is fed in Ports.ts).
    DegradationSignals.layer,
    // How late the event loop runs (p99 and max over 5 s windows).
    EventLoopDelay.layer(),
    // The outbox lag gauge (the age of the oldest unsent event), every 5 s.
    Layer.effectDiscard(
      Effect.forkScoped(Effect.repeat(Effect.ignore(Outbox.reportLag()), Schedule.spaced("5 seconds")))
    ),
    Layer.effectDiscard(
      // Runs when the layer closes, after the HTTP server has finished its in-flight requests.
      Effect.addFinalizer(() =>
        Outbox.drain().pipe(
          Effect.timeout(Duration.seconds(5)),
          Effect.tap((moved) => Effect.logInfo("outbox drained at shutdown", moved)),
          Effect.ignore
        )
      )
    )
  ).pipe(
    Layer.provideMerge(Till.layerConfig),
    // Below the services (so checkout's creates see it): orders of hot SKUs are created in batches
    // by their entity (HotSkuEntity.ts); only with Postgres, where one stock row's lock is the
    // ceiling of a flash sale. In memory a create is a synchronous block: nothing to batch.
    Layer.provideMerge(
      Option.isSome(settings.databaseUrl)
        ? HotSkuEntity.layer({
            skus: settings.hotSkus,
            maxBatch: settings.hotSkuBatch,
            mailboxCapacity: settings.hotSkuMailbox,
            callTimeoutMs: settings.hotSkuCallTimeoutMs,
            maxIdleMs: HotSkuEntity.defaults.maxIdleMs
          })
        : Layer.empty
    ),
    Layer.provideMerge(Cluster.layer(settings)),
    Layer.provideMerge(Ports.layer(settings)),
    // The pool alone sheds reads (order history at 80 % in use over 5 s, recommendations at 95 %),
    // never new orders: refusing orders because the database is busy with orders would turn a
    // busy shop into a closed one. Breakers still go to 4 (inventory or order creation down).
    Layer.provideMerge(Degradation.layerWith({ poolUtilizationPercentThresholds: [80, 95, 101, 101] })),
    Layer.provideMerge(Layer.succeed(Auth.JwtSecret, secret))
  )

/**
 * The HTTP server on `settings.port`, answering with the routes over `services`.
 *
 * The services are built first and the port is opened last: a port that listens while they are
 * still being built (migrations, the cluster, the broker's topics: seconds) accepts connections
 * nobody answers, as Node drops a request that arrives before the router is attached, and the
 * caller hangs until its own timeout (start.ready.test.ts). Closed, the port refuses, which
 * clients and balancers retry elsewhere. Layers close in the reverse order, so at shutdown the
 * server stops and lets in-flight requests finish before the jobs stop and the outbox drains.
 */
export const serve = <E>(
  settings: Settings.Settings,
  services: Layer.Layer<Services, E>
): Layer.Layer<never, E | ServeError> =>
  HttpRouter.serve(App.routes, { disableLogger: true }).pipe(
    Layer.provide(
      NodeHttpServer.layer(createServer, {
        port: settings.port,
        gracefulShutdownTimeout: Duration.millis(settings.shutdownGraceMs)
      })
    ),
    Layer.provide(services)
  )

/** The server on `settings.port` over the configured services. */
export const server = (
  settings: Settings.Settings,
  secret: Redacted.Redacted<string>
): Layer.Layer<never, Failure> => serve(settings, services(settings, secret))

/** Logs as JSON lines at the configured level. */
const logging = (settings: Settings.Settings) =>
  Layer.mergeAll(
    Logger.layer([Logger.consoleJson]),
    Layer.succeed(References.MinimumLogLevel, settings.logLevel)
  )

const launch = (settings: Settings.Settings) =>
  Effect.gen(function* () {
    const secret = yield* secretOf(settings)
    yield* Effect.logInfo("till starting", {
      port: settings.port,
      environment: settings.environment,
      stores: Settings.describe(settings)
    })
    return yield* Layer.launch(server(settings, secret))
  })

/** `till start`, until interrupted (SIGTERM/SIGINT through NodeRuntime.runMain). */
export const run: Effect.Effect<never, Failure> = Effect.gen(function* () {
  const settings = yield* Settings.config
  return yield* Effect.provide(launch(settings), logging(settings))
}).pipe(Effect.provide(ConfigProvider.layer(Settings.provider())))
