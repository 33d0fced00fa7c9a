/**
 * Till's actors on `effect/cluster` (issue 17, point 5), in one run:
 *
 * - `heap.*`: the heap of 10,000 live cart entities in a one-process cluster, per entity, against
 *   as many bare entities of the same shape (three RPCs, ids as long) that do nothing, and what is
 *   left per entity after they passivate (bench/actors/heap.ts, in a `node --expose-gc` process;
 *   medians of 3 processes);
 * - `failover.*`: two `till start` instances on Postgres and Redis with the default shard-lock
 *   expiry (10 s); 50 carts are edited through the first, which is then killed (-9), and each cart
 *   is edited through the survivor until it answers: the time until every cart answers again.
 *
 * - `hotSku.*`: a flash sale's reservations of one SKU per second, through the hot-SKU entity and
 *   without it, against the raw conditional UPDATE of the row at 64 connections and at one
 *   (bench/actors/hotSku.ts). The target is ≥ 2× the raw row at the sale's concurrency (64).
 *
 * Env: TILL_TEST_DATABASE_URL, TILL_TEST_REDIS_URL, TILL_BENCH_ACTORS_ENTITIES (default 10000),
 * TILL_BENCH_HOT_SKU_RESERVATIONS (4000 a round), TILL_BENCH_HOT_SKU_ROUNDS (3).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import pg from "pg"
import { freePort } from "../packages/adapters/test/support/net.js"
import { callWith, waitReady } from "../packages/runtime/test/support/client.js"
import { hotSku } from "./actors/hotSku.js"
import type { Progress, Row } from "./run.js"

const exec = promisify(execFile)
const root = fileURLToPath(new URL("..", import.meta.url))
const bin = fileURLToPath(new URL("../packages/runtime/src/bin.ts", import.meta.url))
const tsconfig = fileURLToPath(new URL("../packages/runtime/tsconfig.json", import.meta.url))
const databaseUrl = process.env["TILL_TEST_DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/till_test"
const redisUrl = process.env["TILL_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379/0"
const secret = "actors-bench-secret-0123456789abcdef"
const CARTS = 50
const TARGET_FAILOVER_MS = 15_000
const TARGET_HOT_SKU_RATIO = 2

interface HeapResult {
  readonly perEntityBytes: number
  readonly leftAfterPassivationBytes: number
  /** The measuring process's RSS before the entities woke, with them live, after they passivated. */
  readonly rssBeforeMb: number
  readonly rssLiveMb: number
  readonly rssAfterPassivationMb: number
}

const HEAP_ROUNDS = 3

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Each figure's median over `HEAP_ROUNDS` fresh processes (one process's heap moves by ±2 KB an entity). */
const medianOf = (results: ReadonlyArray<HeapResult>): HeapResult => ({
  perEntityBytes: median(results.map((r) => r.perEntityBytes)),
  leftAfterPassivationBytes: median(results.map((r) => r.leftAfterPassivationBytes)),
  rssBeforeMb: median(results.map((r) => r.rssBeforeMb)),
  rssLiveMb: median(results.map((r) => r.rssLiveMb)),
  rssAfterPassivationMb: median(results.map((r) => r.rssAfterPassivationMb))
})

const heapOnce = async (): Promise<{ entities: number; bare: HeapResult; till: HeapResult }> => {
  const { stdout } = await exec(
    process.execPath,
    ["--expose-gc", "--import", "tsx", fileURLToPath(new URL("./actors/heap.ts", import.meta.url))],
    {
      cwd: root,
      env: { ...process.env, TSX_TSCONFIG_PATH: "tsconfig.base.json" },
      maxBuffer: 16 * 1024 * 1024
    }
  )
  return JSON.parse(stdout.slice(stdout.indexOf("RESULT") + 6))
}

const start = (env: Record<string, string>): ChildProcess =>
  spawn(process.execPath, ["--import", "tsx", bin, "start"], {
    env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig, ...env },
    stdio: "ignore"
  })

const call = callWith(secret)

const failover = async (progress: Progress) => {
  const tag = crypto.randomUUID().replaceAll("-", "").slice(0, 12)
  const ports = [await freePort(), await freePort()]
  const clusterPorts = [await freePort(), await freePort()]
  const env = (i: number) => ({
    DATABASE_URL: databaseUrl,
    POSTGRES_SCHEMA: `bench_actors_${tag}`,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: `till-bench-actors:${tag}:`,
    TILL_HTTP_PORT: String(ports[i]),
    TILL_CLUSTER_HOST: "127.0.0.1",
    TILL_CLUSTER_PORT: String(clusterPorts[i]),
    TILL_JWT_SECRET: secret,
    TILL_ENV: "development",
    TILL_LOG_LEVEL: "Warn"
  })
  const first = start(env(0))
  await waitReady(ports[0]!)
  const second = start(env(1))
  await waitReady(ports[1]!)
  const db = new pg.Client({ connectionString: databaseUrl })
  await db.connect()
  try {
    await call(ports[0]!, "ops", "PUT", "/v1/admin/products/mug", {
      name: "Mug",
      price: { amount: 1_500, currency: "USD" },
      on_hand: 10_000
    })
    const carts: Array<string> = []
    for (let i = 0; i < CARTS; i++) {
      const cart = (await (await call(ports[0]!, "alice", "POST", "/v1/carts", {})).json()) as {
        cart_id: string
      }
      const added = await call(ports[0]!, "alice", "POST", `/v1/carts/${cart.cart_id}/items`, {
        sku: "mug",
        quantity: 1
      })
      if (added.status !== 200) throw new Error(`add item answered ${added.status}`)
      carts.push(cart.cart_id)
    }
    progress(`${CARTS} carts edited through instance 1; kill -9 of instance 1`)
    first.kill("SIGKILL")
    const killedAt = performance.now()
    const answeredAt = await Promise.all(
      carts.map(async (cartId) => {
        while (performance.now() - killedAt < 120_000) {
          const answer = await call(ports[1]!, "alice", "POST", `/v1/carts/${cartId}/items`, {
            sku: "mug",
            quantity: 1
          }).catch(() => undefined)
          if (answer?.status === 200) return performance.now() - killedAt
          await new Promise((r) => setTimeout(r, 200))
        }
        throw new Error(`cart ${cartId} never answered again`)
      })
    )
    const sorted = [...answeredAt].sort((a, b) => a - b)
    return { allMs: sorted.at(-1)!, medianMs: sorted[Math.floor(sorted.length / 2)]! }
  } finally {
    first.kill("SIGKILL")
    second.kill("SIGTERM")
    await db.query(`DROP SCHEMA IF EXISTS bench_actors_${tag} CASCADE`).catch(() => undefined)
    await db.end()
  }
}

const heap = async (progress: Progress) => {
  const rounds: Array<{ entities: number; bare: HeapResult; till: HeapResult }> = []
  for (let i = 1; i <= HEAP_ROUNDS; i++) {
    const r = await heapOnce()
    progress(
      `  round ${i}/${HEAP_ROUNDS}: cart ${(r.till.perEntityBytes / 1024).toFixed(1)} KB, bare ${(r.bare.perEntityBytes / 1024).toFixed(1)} KB an entity`
    )
    rounds.push(r)
  }
  return {
    entities: rounds[0]!.entities,
    bare: medianOf(rounds.map((r) => r.bare)),
    till: medianOf(rounds.map((r) => r.till))
  }
}

export const run = async (progress: Progress): Promise<ReadonlyArray<Row>> => {
  progress(`heap of live and passivated entities (${HEAP_ROUNDS} child processes with --expose-gc)`)
  const h = await heap(progress)
  progress(
    `${h.entities} entities: cart ${(h.till.perEntityBytes / 1024).toFixed(1)} KB each, bare ${(h.bare.perEntityBytes / 1024).toFixed(1)} KB`
  )
  const f = await failover(progress)
  progress(
    `every cart answered again ${(f.allMs / 1000).toFixed(1)} s after the kill (median ${(f.medianMs / 1000).toFixed(1)} s)`
  )
  progress("hot SKU: raw row, Till batched, Till single (interleaved rounds)")
  const hot = await hotSku(progress)
  const kb = (bytes: number) => Math.round((bytes / 1024) * 10) / 10
  const perSec = (name: string, value: number, baseline: string | null, base?: number): Row => ({
    name,
    value: Math.round(value),
    unit: "reservations/s",
    baseline,
    ratio: base === undefined ? null : value / base
  })
  const { rates } = hot
  return [
    perSec("hotSku.raw.c64", rates["raw.c64"], null),
    perSec("hotSku.raw.c1", rates["raw.c1"], null),
    perSec("hotSku.till.batched", rates["till.batched"], "hotSku.raw.c64", rates["raw.c64"]),
    perSec("hotSku.till.batched", rates["till.batched"], "hotSku.raw.c1", rates["raw.c1"]),
    perSec("hotSku.till.single", rates["till.single"], "hotSku.raw.c64", rates["raw.c64"]),
    perSec("hotSku.till.batched", rates["till.batched"], "hotSku.till.single", rates["till.single"]),
    {
      name: "hotSku.target.ratio",
      value: TARGET_HOT_SKU_RATIO,
      unit: "× raw.c64",
      baseline: null,
      ratio: null
    },
    {
      name: "hotSku.till.meanBatch",
      value: Math.round(hot.meanBatch * 10) / 10,
      unit: "orders/transaction",
      baseline: null,
      ratio: null
    },
    {
      name: "heap.bareEntity.perEntity",
      value: kb(h.bare.perEntityBytes),
      unit: "KB",
      baseline: null,
      ratio: null
    },
    {
      name: "heap.cartEntity.perEntity",
      value: kb(h.till.perEntityBytes),
      unit: "KB",
      baseline: "heap.bareEntity.perEntity",
      ratio: h.till.perEntityBytes / h.bare.perEntityBytes
    },
    {
      name: "heap.cartEntity.leftAfterPassivation",
      value: kb(h.till.leftAfterPassivationBytes),
      unit: "KB/entity",
      baseline: null,
      ratio: null
    },
    { name: "heap.entities", value: h.entities, unit: "entities", baseline: null, ratio: null },
    // RSS of the measuring process (which also holds the 10,000 carts): before the entities woke,
    // with them live, after they passivated. V8 keeps freed pages a while, so RSS falls late.
    {
      name: "rss.beforeEntities",
      value: Math.round(h.till.rssBeforeMb),
      unit: "MB",
      baseline: null,
      ratio: null
    },
    {
      name: "rss.entitiesLive",
      value: Math.round(h.till.rssLiveMb),
      unit: "MB",
      baseline: "rss.beforeEntities",
      ratio: h.till.rssLiveMb / h.till.rssBeforeMb
    },
    {
      name: "rss.afterPassivation",
      value: Math.round(h.till.rssAfterPassivationMb),
      unit: "MB",
      baseline: "rss.beforeEntities",
      ratio: h.till.rssAfterPassivationMb / h.till.rssBeforeMb
    },
    { name: "failover.target", value: TARGET_FAILOVER_MS, unit: "ms", baseline: null, ratio: null },
    {
      name: "failover.allCartsAnswer",
      value: Math.round(f.allMs),
      unit: "ms",
      baseline: "failover.target",
      ratio: f.allMs / TARGET_FAILOVER_MS
    },
    {
      name: "failover.medianCartAnswers",
      value: Math.round(f.medianMs),
      unit: "ms",
      baseline: "failover.target",
      ratio: f.medianMs / TARGET_FAILOVER_MS
    }
  ]
}
