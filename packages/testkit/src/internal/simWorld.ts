/**
 * The simulated world: the in-memory ports, built once per run (they are the databases, the
 * broker and the gateway, and outlive any process), and the Till *processes* (`processes` of
 * them, as instances behind a load balancer): each with its own core services and background
 * jobs (so drainers, sweepers and relays compete), built over a faulty view of those ports.
 *
 * A crash closes the process's scope: every in-flight request and job fiber is interrupted
 * wherever it is, and the process's view of the ports dies first, so nothing it was doing can
 * still write (a dead process runs no clean-up). Everything in-process is lost (breakers, the
 * rate limiter, cart locks, timeout watchdogs); what the stores committed stays. A restart
 * builds new services over the same stores and runs recovery at once.
 *
 * The order, stock, catalog, idempotency, retry-queue and dead-letter stores may come from
 * outside (`external`: a database, with its own `StoreProbes`); every call of theirs then goes
 * through simIo.ts, and the rest of the world stays in memory.
 *
 * Shoppers are clients: they live outside the processes and reach one through `call`, which
 * runs the request in a live process (taken in turn, as a round-robin balancer does; a crash
 * cuts it) and answers `Unreachable` when every process is down.
 */
import {
  CartStore,
  Catalog,
  Checkout,
  DeadLetterStore,
  EventPublisher,
  IdempotencyStore,
  InventoryStore,
  type Order,
  OrderStore,
  Outbox,
  PaymentGateway,
  PaymentRetryQueue,
  RateLimitStore,
  Reconciliation,
  Recovery,
  RetryDrainer,
  ShippingQuoter,
  Sku
} from "@till/core"
import { Cause, Clock, Context, Data, Effect, Exit, Fiber, Layer, Option, Scope } from "effect"
import * as FakePaymentGateway from "../FakePaymentGateway.js"
import * as InMemoryEventPublisher from "../InMemoryEventPublisher.js"
import * as InMemoryIdempotencyStore from "../InMemoryIdempotencyStore.js"
import * as InMemoryInventoryStore from "../InMemoryInventoryStore.js"
import * as InMemoryOrderStore from "../InMemoryOrderStore.js"
import * as InMemoryPaymentRetryQueue from "../InMemoryPaymentRetryQueue.js"
import * as TestTill from "../TestTill.js"
import {
  type Gate,
  gatewayUnavailable,
  type Observers,
  type StoreFaults,
  type StorePort,
  storeUnavailable,
  wrapService
} from "./simFaults.js"
import type { Checker, Ledger, Probes, StoreProbes } from "./simInvariants.js"
import { bridge, type ExternalIo } from "./simIo.js"
import { type PlantedBug, portOptions, wrapPorts } from "./simPlanted.js"
import type { Trace } from "./simTrace.js"

/** The client could not reach the process: refused (it is down) or cut (it crashed mid-request). */
export class Unreachable extends Data.TaggedError("Unreachable")<{ readonly reason: string }> {}

/** The core services of one process, as TestTill.layer wires them, without the ports. */
export const servicesLayer = TestTill.services

type PortsLayer = ReturnType<typeof TestTill.ports>
export type Ports = Layer.Success<PortsLayer>
export type Services = Layer.Success<ReturnType<typeof servicesLayer>>
export type ProcessContext = Ports | Services

/** How often each job of a process runs (virtual time); the sweeper's is the scenario's `recoveryEveryMs`. */
export const jobEveryMs = {
  retryDrainer: 1_000,
  outboxRelay: 2_000,
  reconciliation: 30_000
} as const

export interface WorldOptions {
  readonly seed: number
  /** Till processes sharing the stores. */
  readonly processes: number
  /** Orders younger than this are left to their request by the sweepers. */
  readonly recoveryStaleMs: number
  /** How often each process's sweeper runs. */
  readonly recoveryEveryMs: number
  /** The idempotency lease the processes claim with (shorter than production's, see Scenario). */
  readonly idempotencyLeaseMs: number
  readonly checkout: Checkout.Config
  readonly planted: ReadonlyArray<PlantedBug>
  readonly products: ReadonlyArray<{
    readonly sku: string
    readonly priceMinor: number
    readonly onHand: number
  }>
  readonly faults: StoreFaults
  readonly ledger: Ledger
  readonly checker: Checker
  readonly trace: Trace
  /** Waits on the virtual clock (the simulator's own waits: jobs' schedules). */
  readonly sleep: (ms: number) => Effect.Effect<void>
  /** Ports given from outside (a database) in place of the in-memory ones, and the I/O they go through. */
  readonly external?: { readonly ports: ExternalPorts; readonly io: ExternalIo } | undefined
}

/**
 * The stores a world may take from outside the simulator, already built (their Effects need
 * nothing from the context), with the probes the checks read them through. The rest (carts, rate
 * limits, the gateway, the broker, shipping, tax, ids) stays in memory.
 */
export interface ExternalPorts {
  readonly orderStore: OrderStore.OrderStore["Service"]
  readonly inventory: InventoryStore.InventoryStore["Service"]
  readonly catalog: Catalog.Catalog["Service"]
  readonly idempotency: IdempotencyStore.IdempotencyStore["Service"]
  readonly retryQueue: PaymentRetryQueue.PaymentRetryQueue["Service"]
  readonly deadLetters: DeadLetterStore.DeadLetterStore["Service"]
  readonly probes: StoreProbes
}

/** The in-memory probes: each store's `Inspector` (one synchronous read each). */
const inMemoryProbes = (raw: Context.Context<Ports>): StoreProbes => {
  const queue = Context.get(raw, InMemoryPaymentRetryQueue.Inspector)
  const deadLetters = Context.get(raw, DeadLetterStore.DeadLetterStore)
  return {
    stock: Context.get(raw, InMemoryInventoryStore.Inspector),
    orders: Context.get(raw, InMemoryOrderStore.Inspector),
    idempotency: Context.get(raw, InMemoryIdempotencyStore.Inspector),
    // The queue's Inspector peeks without claiming (a claim would hide the entry from the drainer).
    retryQueue: { due: (nowMs) => Effect.map(queue.claimable(nowMs, 1), (due) => due.length > 0) },
    deadLetters: Effect.orElseSucceed(deadLetters.list(1_000), () => [])
  }
}

/** The outside ports over the in-memory ones, each call going through `io`. */
const withExternal = (
  built: Context.Context<Ports>,
  external: WorldOptions["external"]
): { readonly ports: Context.Context<Ports>; readonly probes: StoreProbes | undefined } => {
  if (external === undefined) return { ports: built, probes: undefined }
  const { ports, io } = external
  return {
    ports: built.pipe(
      Context.add(OrderStore.OrderStore, bridge(io, "store", ports.orderStore)),
      Context.add(InventoryStore.InventoryStore, bridge(io, "store", ports.inventory)),
      Context.add(Catalog.Catalog, bridge(io, "store", ports.catalog)),
      Context.add(IdempotencyStore.IdempotencyStore, bridge(io, "store", ports.idempotency)),
      Context.add(PaymentRetryQueue.PaymentRetryQueue, bridge(io, "store", ports.retryQueue)),
      Context.add(DeadLetterStore.DeadLetterStore, bridge(io, "store", ports.deadLetters))
    ),
    probes: bridge(io, "probe", ports.probes)
  }
}

interface Process {
  readonly id: number
  readonly scope: Scope.Closeable
  readonly gate: Gate
  /** Starts a fiber of the process (a request), at once, on the caller's stack. */
  readonly runFork: <A, E>(effect: Effect.Effect<A, E, ProcessContext>) => Fiber.Fiber<A, E>
  /** Requests running in the process: a crash interrupts each. */
  readonly requests: Set<Fiber.Fiber<unknown, unknown>>
  alive: boolean
}

export interface World {
  readonly probes: Probes
  /**
   * Runs a check's reads with no store call outstanding (simIo.ts); in memory, every call is
   * atomic and this is `effect` itself.
   */
  readonly quiet: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly gatewayControl: FakePaymentGateway.Control["Service"]
  /**
   * Runs `effect` inside a live process, as a request would. With `clientTimeoutMs` the client
   * stops waiting after that long (`Unreachable`), while the request runs on in the process.
   */
  readonly call: <A, E>(
    effect: Effect.Effect<A, E, ProcessContext>,
    clientTimeoutMs?: number
  ) => Effect.Effect<A, E | Unreachable>
  /** Crashes process `slot` (0-based; taken modulo the number of processes). */
  readonly crash: (slot: number) => Effect.Effect<void>
  /** Starts every process that is down. */
  readonly start: Effect.Effect<void>
  /** Whether every process is up. */
  readonly isUp: () => boolean
  /** Requests running in the processes now. */
  readonly inFlight: () => number
  readonly stats: { processes: number; requests: number; unreachable: number; defects: number }
}

const messageOf = (defect: unknown): string =>
  defect instanceof Error ? defect.message : typeof defect === "string" ? defect : "non-error defect"

/** Builds the ports (in the caller's scope) and the means to start, crash and call a process. */
export const make = (options: WorldOptions): Effect.Effect<World, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { faults, ledger, checker, trace } = options
    const runScope = yield* Effect.scope
    const startOfRun = yield* Clock.currentTimeMillis
    // New stores for every run: TestTill's layers are fresh whenever they are built.
    const inMemory = yield* Layer.buildWithScope(
      TestTill.ports({ seed: options.seed, ...portOptions(options.planted) }),
      runScope
    )
    const external = withExternal(inMemory, options.external)
    const built = external.ports
    const raw = wrapPorts(built, options.planted)
    const rawInventory = Context.get(raw, InventoryStore.InventoryStore)
    const storeProbes = external.probes ?? inMemoryProbes(raw)
    const io = options.external?.io

    for (const p of options.products) {
      yield* Effect.orDie(TestTill.stock(p.sku, `Product ${p.sku}`, p.priceMinor, p.onHand)).pipe(
        Effect.provide(raw)
      )
      ledger.receive(p.sku, p.onHand)
    }

    const stock = storeProbes.stock
    const probes: Probes = {
      ...storeProbes,
      // For a report's evidence only; outside, read as a check (not queued behind one).
      inventory:
        options.external === undefined
          ? rawInventory
          : bridge(io!, "probe", options.external.ports.inventory),
      orderStore:
        options.external === undefined
          ? Context.get(raw, OrderStore.OrderStore)
          : bridge(io!, "probe", options.external.ports.orderStore),
      gateway: Context.get(raw, FakePaymentGateway.Inspector),
      events: Context.get(raw, InMemoryEventPublisher.Inspector),
      carts: Context.get(built, CartStore.CartStore),
      skus: options.products.map((p) => Sku.make(p.sku))
    }

    const recordLastError = (entry: PaymentRetryQueue.RetryEntry) => {
      if (entry.lastError !== undefined) ledger.written.push(entry.lastError)
    }

    /** Oversell is checked the moment stock moves, not only at the next tick. */
    const checkLevels = (lines: ReadonlyArray<InventoryStore.ReservationLine>) =>
      Effect.map(stock.levels, (levels) =>
        checker.checkLevels(
          levels,
          lines.map((line) => line.sku)
        )
      )

    // Observers see operations that succeeded (see `Interceptor.observe`).
    const observers: Partial<Record<StorePort, Observers>> = {
      inventory: {
        restock: (args) => {
          // A movement counts once, however often it is sent (the store dedupes by its id).
          if (ledger.movements.has(args[2] as string)) return
          ledger.movements.add(args[2] as string)
          ledger.receive(args[0] as string, args[1] as number)
        }
      },
      orders: {
        create: (args) => {
          const order = args[0] as Order.Order
          ledger.reservedOrders.add(order.order_id)
          return checkLevels(order.items)
        },
        step: (args) => {
          const order = args[0] as Order.Order
          if (args[2] === "hold" || args[2] === "commit") return checkLevels(order.items)
        }
      },
      rateLimit: {
        acquire: (args, value) => {
          const request = args[0] as RateLimitStore.AcquireRequest
          if ((value as RateLimitStore.Decision).allowed) checker.admitted(ledger, request.key, request.nowMs)
        }
      },
      idempotency: {
        claim: (args) => {
          ledger.written.push((args[0] as IdempotencyStore.ClaimRequest).fingerprint)
        },
        complete: (args) => {
          ledger.written.push(args[3])
        }
      },
      carts: {
        insert: (args) => {
          ledger.carts.set((args[0] as { readonly cart_id: string }).cart_id, args[0])
        },
        update: (args) => {
          ledger.carts.set((args[0] as { readonly cart_id: string }).cart_id, args[0])
        }
      },
      retryQueue: {
        enqueue: (args) => recordLastError(args[0] as PaymentRetryQueue.RetryEntry),
        reschedule: (args) => recordLastError(args[0] as PaymentRetryQueue.RetryEntry)
      }
    }

    /** The run's idempotency lease, in place of the service's (as `holdMs` shortens the hold). */
    const shortLease = (
      service: IdempotencyStore.IdempotencyStore["Service"]
    ): IdempotencyStore.IdempotencyStore["Service"] => ({
      ...service,
      claim: (request) =>
        service.claim({ ...request, leaseMs: Math.min(request.leaseMs, options.idempotencyLeaseMs) })
    })

    const store = <S extends object>(port: StorePort, service: S, gate: Gate): S =>
      wrapService(service, {
        gate,
        decide: () => faults.decide(port),
        latencyMs: () => faults.latencyMs(port),
        slowMs: faults.slowMs(port),
        unavailable: storeUnavailable(port),
        observe: observers[port]
      })

    /** The process's view of the ports: faulty stores, and everything dead once it crashed. */
    const view = (gate: Gate): Context.Context<Ports> => {
      const only = (failing: () => boolean, unavailable: (reason: string) => unknown) => ({
        gate,
        decide: () => (failing() ? ("fail" as const) : ("ok" as const)),
        slowMs: 0,
        unavailable
      })
      const never = () => false
      return raw.pipe(
        Context.add(InventoryStore.InventoryStore, store("inventory", rawInventory, gate)),
        Context.add(OrderStore.OrderStore, store("orders", Context.get(raw, OrderStore.OrderStore), gate)),
        Context.add(CartStore.CartStore, store("carts", Context.get(raw, CartStore.CartStore), gate)),
        Context.add(
          RateLimitStore.RateLimitStore,
          store("rateLimit", Context.get(raw, RateLimitStore.RateLimitStore), gate)
        ),
        Context.add(
          IdempotencyStore.IdempotencyStore,
          store("idempotency", shortLease(Context.get(raw, IdempotencyStore.IdempotencyStore)), gate)
        ),
        Context.add(
          PaymentRetryQueue.PaymentRetryQueue,
          store("retryQueue", Context.get(raw, PaymentRetryQueue.PaymentRetryQueue), gate)
        ),
        Context.add(
          DeadLetterStore.DeadLetterStore,
          wrapService(
            Context.get(raw, DeadLetterStore.DeadLetterStore),
            only(never, storeUnavailable("deadLetters"))
          )
        ),
        Context.add(
          PaymentGateway.PaymentGateway,
          wrapService(Context.get(raw, PaymentGateway.PaymentGateway), only(never, gatewayUnavailable))
        ),
        Context.add(
          EventPublisher.EventPublisher,
          wrapService(
            Context.get(raw, EventPublisher.EventPublisher),
            only(() => faults.brokerDown(), storeUnavailable("broker"))
          )
        ),
        Context.add(
          ShippingQuoter.ShippingQuoter,
          wrapService(
            Context.get(raw, ShippingQuoter.ShippingQuoter),
            only(() => faults.shippingDown(), gatewayUnavailable)
          )
        )
      )
    }

    const stats = { processes: 0, requests: 0, unreachable: 0, defects: 0 }
    const slots: Array<Process | undefined> = Array.from(
      { length: Math.max(1, options.processes) },
      () => undefined
    )
    let route = 0

    const reportDefects = (where: string, cause: Cause.Cause<unknown>) => {
      for (const reason of cause.reasons) {
        if (!Cause.isDieReason(reason)) continue
        stats.defects++
        checker.report("defect", `${where}: ${messageOf(reason.defect)}`)
      }
    }

    /** A background job: `effect` every `everyMs`; a failure is tried again next time, a defect is a violation. */
    const job = (name: string, everyMs: number, effect: Effect.Effect<void, unknown, ProcessContext>) => {
      const once = options.sleep(everyMs).pipe(
        Effect.andThen(effect),
        Effect.catchCause((cause) => Effect.sync(() => reportDefects(`job ${name}`, cause)))
      )
      // No yield between rounds: each round sleeps anyway.
      return Effect.forever(once, { disableYield: true })
    }

    const recovery = (label: string) =>
      Recovery.recoverOrders({ staleAfterMs: options.recoveryStaleMs }).pipe(
        Effect.tap((r) =>
          Effect.sync(() => {
            if (r.ordersResumed + r.ordersLeftForLater > 0) {
              trace.add(`${label}: resumed ${r.ordersResumed}, left ${r.ordersLeftForLater}`)
            }
          })
        )
      )

    /** Settles captures against orders (late captures are refunded), from where the last run stopped. */
    const reconcile = (label: string) => {
      let cursor: string | null = null
      return Effect.suspend(() =>
        Reconciliation.reconcileOnce(startOfRun, {}, cursor).pipe(
          Effect.tap((r) =>
            Effect.sync(() => {
              cursor = r.cursor
              if (r.ordersResumed + r.strayCapturesRefunded > 0)
                trace.add(`${label}: resumed ${r.ordersResumed}, refunded ${r.strayCapturesRefunded} stray`)
            })
          )
        )
      )
    }

    const drainRetries = Effect.flatMap(Checkout.Checkout, (checkout) =>
      RetryDrainer.drainOnce((orderId) => checkout.resume(orderId)).pipe(
        Effect.tap((r) =>
          Effect.sync(() => {
            if (r.done + r.deadLettered > 0)
              trace.add(`retry drainer: done ${r.done}, dead-lettered ${r.deadLettered}`)
          })
        )
      )
    )

    // A job round with nothing to do is skipped, judged by a look at the real store: an empty poll
    // changes no store and no answer. What is lost: empty polls meeting store faults, which only
    // fail the round. Measured on Effect 4: `pnpm sim --seeds 1000` runs about 9 % faster with it
    // (the retry drainer polls every virtual second in every process).
    const retriesDue = Effect.flatMap(Clock.currentTimeMillis, storeProbes.retryQueue.due)
    const eventsPending = Effect.map(probes.orders.pending, (pending) => pending > 0)
    const whenAny = <E>(
      peek: Effect.Effect<boolean, unknown>,
      effect: Effect.Effect<void, E, ProcessContext>
    ): Effect.Effect<void, unknown, ProcessContext> =>
      Effect.flatMap(peek, (any) => (any ? effect : Effect.void))

    const startSlot = (slot: number) =>
      Effect.gen(function* () {
        if (slots[slot]?.alive) return
        const id = ++stats.processes
        const scope = yield* Scope.fork(runScope, "sequential")
        const gate: Gate = { dead: false }
        const ports = view(gate)
        // A restarted process builds new services (breakers, limiter, locks), never the dead
        // one's: `servicesLayer` is TestTill's, fresh whenever it is built.
        const services = yield* Layer.buildWithScope(servicesLayer(options.checkout), scope).pipe(
          Effect.provide(ports)
        )
        // The process runs on the run's clock, scheduler, random and logger, and its own services.
        const runtime = yield* Effect.context<never>()
        const context: Context.Context<ProcessContext> = Context.merge(
          runtime,
          Context.merge(ports, services)
        )
        slots[slot] = {
          id,
          scope,
          gate,
          runFork: Effect.runForkWith(context),
          requests: new Set(),
          alive: true
        }
        trace.add(`process ${id} started`)
        const fork = (effect: Effect.Effect<void, unknown, ProcessContext>) =>
          Effect.forkIn(Effect.provide(effect, context), scope)
        // A restart recovers at once: the orders the dead process left behind wait for nobody else.
        yield* fork(
          Effect.andThen(
            recovery(`process ${id} restart recovery`).pipe(
              Effect.catchCause((cause) => Effect.sync(() => reportDefects("restart recovery", cause)))
            ),
            job("recovery", options.recoveryEveryMs, Effect.asVoid(recovery("recovery sweeper")))
          )
        )
        yield* fork(
          job("retry drainer", jobEveryMs.retryDrainer, whenAny(retriesDue, Effect.asVoid(drainRetries)))
        )
        yield* fork(
          job("outbox relay", jobEveryMs.outboxRelay, whenAny(eventsPending, Effect.asVoid(Outbox.drain())))
        )
        if (!options.planted.includes("noReconciliation"))
          yield* fork(
            job("reconciliation", jobEveryMs.reconciliation, Effect.asVoid(reconcile("reconciliation")))
          )
      })

    const start = Effect.forEach(slots, (_, slot) => startSlot(slot), { discard: true })

    const crash = (slot: number) =>
      Effect.suspend(() => {
        const p = slots[slot % slots.length]
        if (p === undefined || !p.alive) return Effect.void
        p.alive = false
        p.gate.dead = true
        trace.add(`CRASH process ${p.id} with ${p.requests.size} requests in flight`)
        const requests = [...p.requests]
        p.requests.clear()
        return Effect.andThen(Fiber.interruptAll(requests), Scope.close(p.scope, Exit.void))
      })

    const answer = <A, E>(exit: Exit.Exit<A, E>): Effect.Effect<A, E | Unreachable> => {
      if (Exit.isSuccess(exit)) return exit
      const failure = Cause.findErrorOption(exit.cause)
      if (Option.isSome(failure)) return Effect.fail(failure.value)
      stats.unreachable++
      if (Cause.hasInterruptsOnly(exit.cause))
        return Effect.fail(new Unreachable({ reason: "connection lost" }))
      reportDefects("request", exit.cause)
      return Effect.fail(new Unreachable({ reason: "internal error" }))
    }

    /**
     * A request runs on a fiber of its own in the process, as a server's would: the client
     * waiting for it does not own it, a crash interrupts it. The fiber starts at once, on this call
     * stack (`Effect.runForkWith`), so a request that never waits costs no scheduler round trip and
     * no await; one that waits is tracked until it ends.
     */
    const call = <A, E>(
      effect: Effect.Effect<A, E, ProcessContext>,
      clientTimeoutMs?: number
    ): Effect.Effect<A, E | Unreachable> =>
      Effect.suspend((): Effect.Effect<A, E | Unreachable> => {
        stats.requests++
        const live = slots.filter((p) => p?.alive === true)
        const p = live.length === 0 ? undefined : live[route++ % live.length]
        if (p === undefined) {
          stats.unreachable++
          return Effect.fail(new Unreachable({ reason: "connection refused" }))
        }
        const request = p.runFork(effect)
        const exit = request.pollUnsafe()
        if (exit !== undefined) return answer(exit)
        p.requests.add(request)
        request.addObserver(() => p.requests.delete(request))
        const awaited = Effect.flatMap(Fiber.await(request), answer)
        if (clientTimeoutMs === undefined) return awaited
        return Effect.raceFirst(
          awaited,
          Effect.andThen(
            options.sleep(clientTimeoutMs),
            Effect.fail(new Unreachable({ reason: "client stopped waiting" }))
          )
        )
      })

    return {
      probes,
      quiet: io === undefined ? (effect) => effect : (effect) => io.quiet(effect),
      gatewayControl: Context.get(raw, FakePaymentGateway.Control),
      call,
      crash,
      start,
      isUp: () => slots.every((p) => p?.alive === true),
      // A crash interrupts (and waits for) every request of the dead process: only the live one has any.
      inFlight: () => slots.reduce((n, p) => n + (p?.requests.size ?? 0), 0),
      stats
    } satisfies World
  })
