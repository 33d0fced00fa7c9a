/**
 * The cluster the runtime's jobs run on: Effect's `effect/cluster` `Sharding`, never a home-made
 * one (DESIGN.md §5).
 *
 * - **Embedded** (no `DATABASE_URL`): `TestRunner`, an in-memory cluster of this one process.
 * - **With `DATABASE_URL`**: every instance is a runner (`NodeClusterSocket`, listening on
 *   `TILL_CLUSTER_HOST:TILL_CLUSTER_PORT`), and the instances find each other and share the shards
 *   through Postgres (`SqlRunnerStorage`: the `cluster_*` tables and advisory locks, in the
 *   configured schema). An instance that joins takes its share of the shards; one that stops
 *   (SIGTERM) hands its shards over at once, one that dies (kill -9) keeps them until its locks
 *   expire (`TILL_CLUSTER_LOCK_EXPIRATION_MS`, 10 s), then the others take them.
 *
 * The cluster has a small pool of its own (4 connections, application name `till-cluster`), so
 * its lock refreshes never queue behind checkouts, and a saturated store pool never makes an
 * instance lose its shards.
 *
 * Its tables and advisory locks are named after the schema (`tillc_<hash>_*`): Postgres advisory
 * locks belong to the whole database, so two deployments in two schemas of one database (staging
 * beside production, or two tests) would otherwise fight over the same shard locks, and one would
 * never run its jobs (found by the process tests).
 */
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeCrypto from "@effect/platform-node/NodeCrypto"
import { type Config, Duration, Effect, Layer, Option } from "effect"
import {
  RunnerAddress,
  type Sharding,
  ShardingConfig,
  SqlMessageStorage,
  SqlRunnerStorage,
  TestRunner
} from "effect/cluster"
import { createHash } from "node:crypto"
import type { SocketServerError } from "effect/socket/SocketServer"
import type { SqlError } from "effect/sql/SqlError"
import * as Entities from "./Entities.js"
import type { Settings } from "./Settings.js"

/** Connections of the cluster's own pool (runner registration, shard locks, storage polls). */
export const poolSize = 4

/** What building the cluster may fail with: its settings, its pool, its listening socket. */
export type Failure = Config.ConfigError | SqlError | SocketServerError

/** The prefix of the cluster's tables and lock namespace in `schema`: unique per schema. */
export const tablePrefix = (schema: string): string =>
  `tillc_${createHash("sha256").update(schema).digest("hex").slice(0, 10)}`

/** The cluster of `settings`: in memory when embedded, on Postgres with `DATABASE_URL`. */
export const layer = (settings: Settings): Layer.Layer<Sharding.Sharding, Failure> =>
  // Built without Till's services in its context: each live entity's context derives from it.
  Entities.withoutTillServices(cluster(settings))

const cluster = (settings: Settings): Layer.Layer<Sharding.Sharding, Failure> => {
  if (Option.isNone(settings.databaseUrl)) return TestRunner.layer
  return Layer.unwrap(
    Effect.gen(function* () {
      const { PgLayer } = yield* Effect.promise(() => import("@till/adapters/postgres"))
      // The stores' pool settings, read once: the cluster's own pool and its tables' prefix
      // both follow the stores' schema.
      const pg = yield* PgLayer.config()
      const pool = PgLayer.layerWith({
        ...pg,
        maxConnections: poolSize,
        minConnections: 1,
        applicationName: "till-cluster"
      })
      const lockExpiration = Duration.millis(settings.clusterLockExpirationMs)
      const shardingConfig = {
        runnerAddress: Option.some(RunnerAddress.make(settings.clusterHost, settings.clusterPort)),
        shardLockExpiration: lockExpiration,
        shardLockRefreshInterval: Duration.divideUnsafe(lockExpiration, 3),
        // Past it a new entity is refused (MailboxFull: a 503), never another evicted.
        maxResidentEntities: settings.clusterMaxEntities,
        // `effect_cluster_entity_mailbox_size{entity_type,...}`: each live entity's queue.
        entityMailboxMetrics: true
      }
      const prefix = tablePrefix(pg.schema)
      const storage = Layer.mergeAll(
        SqlRunnerStorage.layerWith({ prefix }),
        SqlMessageStorage.layerWith({ prefix }).pipe(Layer.provide(NodeCrypto.layerDigest))
      )
      return NodeClusterSocket.layer({ storage: "byo", shardingConfig }).pipe(
        Layer.provide(storage),
        Layer.provide(ShardingConfig.layerFromEnv(shardingConfig)),
        Layer.provide(pool)
      )
    })
  )
}
