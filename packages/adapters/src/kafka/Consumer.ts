/**
 * Consumers as a small typed API: a handler per event type, on Schema-decoded `Event`s.
 *
 * ```ts
 * const fulfillment = Consumer.make({
 *   name: "fulfillment",                  // also its `processed_events.consumer`
 *   groupId: "till.fulfillment",          // instances of one group share the partitions
 *   topics: ["orders"],
 *   handlers: { "order.confirmed": (event) => createShipment(event) },
 *   retry: { attempts: 5, backoffMs: 200 }
 * })
 * yield* Consumer.start(fulfillment)      // runs until its scope closes
 * ```
 *
 * What a message goes through, in its partition's order (partitions run concurrently):
 * 0. its `type` header (Till's publisher sets it) names a type without a handler: skipped unread.
 * 1. decoded (JSON, then `Event.Event`); a message that cannot be decoded is poison and goes to
 *    the topic's dead-letter topic at once: retrying cannot make it decode.
 * 2. no handler for its type: skipped.
 * 3. the handler runs inside one SQL transaction that first inserts `(consumer, event_id)` into
 *    `processed_events` (`ON CONFLICT DO NOTHING`) and skips the handler when the row existed. So
 *    the dedupe row commits with the handler's writes, or neither does: a redelivered event
 *    (a relay that crashed between publish and mark, a rebalance before the commit) has no
 *    effect twice. Effects outside the database (a mail sent) are at least once.
 * 4. a failed (or timed-out) attempt is retried, `attempts` in all, with exponential backoff from
 *    `backoffMs`; then the message goes to the dead-letter topic, with its original key, value and
 *    headers plus `error`, `original_topic`, `original_partition`, `original_offset`, `consumer`
 *    and `attempts`.
 * 5. its offset is committed only after 3 or 4 succeeded. A dead-letter publish that fails leaves
 *    the offset where it is, and kafkajs delivers the message again.
 *
 * **Batches** (`batch: true`, for handlers whose effects are all in the transaction, such as
 * fulfillment's): the messages a fetch brings for one partition (up to `maxBatch`) go through 3
 * together, one transaction for all of them (one multi-row dedupe insert, then each fresh
 * event's handler in order), instead of a transaction each: one consumer kept up with 1,000
 * events/s only this way on this machine. If anything in it fails (an undecodable message, a
 * handler's error, the timeout) the transaction rolls back and the batch goes message by message
 * as above, retries and dead letters included; so a handler may run twice (once rolled back),
 * which is why batches are only for handlers with no effect outside the transaction.
 */
import { type Errors, Event } from "@till/core"
import { Cause, Effect, Exit, Layer, Metric, Schema, type Scope } from "effect"
import { SqlClient } from "effect/sql"
import {
  type IHeaders,
  type Consumer as KafkaConsumer,
  type KafkaMessage,
  type Message,
  Partitioners
} from "kafkajs"
import { call, KafkaClient, reasonOf } from "./KafkaClient.js"
import { deadLetterOf, type Family, Topics } from "./Topics.js"

/** What a consumer does with one event type; runs inside the dedupe transaction. */
export type Handler<R> = (event: Event.Event) => Effect.Effect<unknown, unknown, R>

export interface Options<R> {
  /** The consumer's id: its `processed_events.consumer` (1-128 characters). */
  readonly name: string
  /** The Kafka consumer group; instances with one group id share the partitions. */
  readonly groupId: string
  readonly topics: ReadonlyArray<Family>
  readonly handlers: { readonly [T in Event.EventType]?: Handler<R> }
  readonly retry?: {
    /** Attempts in all, the first included (default 5, at most 20). */
    readonly attempts?: number
    /** The first pause between attempts; it doubles each time (default 200 ms). */
    readonly backoffMs?: number
    /** The longest pause between attempts (default 5 s). */
    readonly maxBackoffMs?: number
  }
  /** Longest run of one attempt, transaction included (default 10 s). */
  readonly handlerTimeoutMs?: number
  /** Partitions processed at once by one instance (default 4). */
  readonly partitionConcurrency?: number
  /** One transaction per fetched batch (see above; default false). */
  readonly batch?: boolean
  /** Most messages in one batch transaction (default 200). */
  readonly maxBatch?: number
  /** Where a new group starts: the oldest retained message (default) or the next one. */
  readonly fromBeginning?: boolean
  /** Kafka's group session timeout (default 30 s). */
  readonly sessionTimeoutMs?: number
}

/** What a deployment may set of a built-in consumer (Fulfillment, Notifications). */
export type BuiltInOptions = Partial<
  Pick<Options<never>, "name" | "groupId" | "retry" | "partitionConcurrency">
>

/** A built-in consumer's definition: its own `defaults`, with what `options` sets instead. */
export const builtIn = <R>(defaults: Options<R>, options: BuiltInOptions): Consumer<R> =>
  make({
    ...defaults,
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.groupId === undefined ? {} : { groupId: options.groupId }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    ...(options.partitionConcurrency === undefined
      ? {}
      : { partitionConcurrency: options.partitionConcurrency })
  })

export interface Consumer<R> {
  readonly name: string
  readonly groupId: string
  readonly topics: ReadonlyArray<Family>
  readonly handlers: { readonly [T in Event.EventType]?: Handler<R> }
  readonly attempts: number
  readonly backoffMs: number
  readonly maxBackoffMs: number
  readonly handlerTimeoutMs: number
  readonly partitionConcurrency: number
  readonly batch: boolean
  readonly maxBatch: number
  readonly fromBeginning: boolean
  readonly sessionTimeoutMs: number
}

const bounded = (what: string, value: number, minimum: number, maximum: number): number => {
  if (!Number.isInteger(value) || value < minimum || value > maximum)
    throw new Error(`Consumer: ${what} must be an integer in [${minimum}, ${maximum}], got ${value}`)
  return value
}

/**
 * A consumer definition (validated here: a bad option throws at once); `start` runs it.
 * @example Consumer.make({ name: "mailer", groupId: "till.mailer", topics: ["orders"], handlers: { "order.confirmed": send } })
 */
export const make = <R>(options: Options<R>): Consumer<R> => {
  if (options.name.length < 1 || options.name.length > 128)
    throw new Error("Consumer: name must be 1-128 characters")
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(options.groupId))
    throw new Error("Consumer: groupId must be 1-200 of A-Z a-z 0-9 . _ -")
  if (options.topics.length === 0) throw new Error("Consumer: at least one topic family")
  return {
    name: options.name,
    groupId: options.groupId,
    topics: [...new Set(options.topics)],
    handlers: options.handlers,
    attempts: bounded("retry.attempts", options.retry?.attempts ?? 5, 1, 20),
    backoffMs: bounded("retry.backoffMs", options.retry?.backoffMs ?? 200, 0, 60_000),
    maxBackoffMs: bounded("retry.maxBackoffMs", options.retry?.maxBackoffMs ?? 5_000, 0, 60_000),
    handlerTimeoutMs: bounded("handlerTimeoutMs", options.handlerTimeoutMs ?? 10_000, 1, 300_000),
    partitionConcurrency: bounded("partitionConcurrency", options.partitionConcurrency ?? 4, 1, 256),
    batch: options.batch ?? false,
    maxBatch: bounded("maxBatch", options.maxBatch ?? 200, 1, 10_000),
    fromBeginning: options.fromBeginning ?? true,
    sessionTimeoutMs: bounded("sessionTimeoutMs", options.sessionTimeoutMs ?? 30_000, 6_000, 300_000)
  }
}

/** What one instance did so far. */
export interface Stats {
  readonly handled: number
  readonly duplicates: number
  readonly skipped: number
  readonly deadLettered: number
}

export interface Running {
  /** The partitions this instance holds, by topic, as of its last group join. */
  readonly assignment: Effect.Effect<Readonly<Record<string, ReadonlyArray<number>>>>
  readonly stats: Effect.Effect<Stats>
  /** Leaves the group (in-flight attempts are interrupted and rolled back); idempotent. */
  readonly stop: Effect.Effect<void>
}

/** Messages by outcome, per consumer: `handled`, `duplicate`, `skipped`, `dead_lettered`. */
export const messages = Metric.counter("till_consumer_messages_total", {
  description: "Kafka messages a consumer finished, by consumer and outcome",
  incremental: true
})

const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(Event.Event))

const causeText = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.replace(/\s+/g, " ").slice(0, 1_000)
}

/** The event type a message's `type` header names (Till's publisher sets it), if it has one. */
const typeHeader = (message: KafkaMessage): string | undefined => {
  const value = message.headers?.["type"]
  return Buffer.isBuffer(value) ? value.toString("utf8") : typeof value === "string" ? value : undefined
}

/**
 * Runs `consumer` until the scope closes (or `stop`): connected, subscribed and in its group when
 * this succeeds.
 */
export const start: <R>(
  consumer: Consumer<R>
) => Effect.Effect<
  Running,
  Errors.StoreUnavailable,
  KafkaClient | Topics | SqlClient.SqlClient | R | Scope.Scope
> = Effect.fn("Consumer.start")(function* <R>(consumer: Consumer<R>) {
  const { kafka, settings } = yield* KafkaClient
  const topics = yield* Topics
  const sql = yield* SqlClient.SqlClient
  const context = yield* Effect.context<R | SqlClient.SqlClient>()
  const connectMs = settings.connectionTimeoutMs + settings.requestTimeoutMs
  const subscribed = consumer.topics.map((family) => topics.topic(family))
  const stats = { handled: 0, duplicates: 0, skipped: 0, deadLettered: 0 }
  /**
   * A message this consumer skips without reading it: its `type` header names a type it has no
   * handler for. Why: every consumer of a topic receives all of its events (five a checkout on
   * `orders`) and handles one or two; decoding each only to skip it was most of the notifications
   * consumer's cost (KafkaEventPublisher.ts sets the header for this). A message without the
   * header is read, and dead-lettered when unreadable, as before.
   */
  const skippedUnread = (message: KafkaMessage): boolean => {
    const type = typeHeader(message)
    return type !== undefined && !Object.hasOwn(consumer.handlers, type)
  }
  const statOf = {
    handled: "handled",
    duplicate: "duplicates",
    skipped: "skipped",
    dead_lettered: "deadLettered"
  } as const
  /** Counts `n` messages of `outcome`: in `stats` and in the `messages` metric. */
  const record = (outcome: keyof typeof statOf, n = 1) =>
    Effect.suspend(() => {
      stats[statOf[outcome]] += n
      return Metric.update(Metric.withAttributes(messages, { consumer: consumer.name, outcome }), n)
    })

  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // murmur2 of the key, as Java clients partition: every client puts a key on the same partition.
    createPartitioner: Partitioners.DefaultPartitioner
  })
  let assignment: Record<string, ReadonlyArray<number>> = {}
  const inFlight = new AbortController()
  let current: KafkaConsumer | undefined
  let wake: (() => void) | undefined
  let stopping: Promise<void> | undefined
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })

  const stop = Effect.suspend(() => {
    if (stopping === undefined) {
      inFlight.abort()
      wake?.()
      stopping = Effect.runPromise(
        Effect.ignore(
          call("disconnect the consumer", connectMs, () => current?.disconnect() ?? Promise.resolve())
        ).pipe(
          Effect.andThen(
            Effect.ignore(call("disconnect the producer", connectMs, () => producer.disconnect()))
          )
        )
      )
    }
    const done = stopping
    return Effect.promise(() => done)
  })

  const deadLetter = (
    topic: string,
    partition: number,
    message: KafkaMessage,
    error: string,
    attempts: number
  ) => {
    const headers: IHeaders = {
      ...message.headers,
      error,
      original_topic: topic,
      original_partition: String(partition),
      original_offset: message.offset,
      consumer: consumer.name,
      attempts: String(attempts)
    }
    const letter: Message = { key: message.key, value: message.value, headers }
    return call(`dead-letter ${topic}/${partition}@${message.offset}`, settings.requestTimeoutMs, () =>
      producer.send({
        topic: deadLetterOf(topic),
        messages: [letter],
        acks: -1,
        timeout: settings.requestTimeoutMs
      })
    ).pipe(Effect.andThen(record("dead_lettered")))
  }

  // The dedupe row and the handler's writes commit together, or neither does.
  const attempt = (event: Event.Event, handler: Handler<R>) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          const fresh = yield* sql`
            INSERT INTO processed_events (consumer, event_id) VALUES (${consumer.name}, ${event.event_id})
            ON CONFLICT DO NOTHING RETURNING 1`
          if (fresh.length === 0) return "duplicate" as const
          yield* handler(event)
          return "handled" as const
        })
      )
      .pipe(
        Effect.timeoutOrElse({
          duration: consumer.handlerTimeoutMs,
          orElse: () => Effect.fail(new Error(`handler took longer than ${consumer.handlerTimeoutMs} ms`))
        })
      )

  const process = (topic: string, partition: number, message: KafkaMessage, heartbeat: () => Promise<void>) =>
    Effect.gen(function* () {
      const decoded = yield* Effect.exit(decode(message.value === null ? "" : message.value.toString("utf8")))
      if (decoded._tag === "Failure") {
        return yield* deadLetter(topic, partition, message, `undecodable: ${causeText(decoded.cause)}`, 0)
      }
      const event = decoded.value
      const handler = consumer.handlers[event.type]
      if (handler === undefined) return yield* record("skipped")
      let lastError = ""
      for (let n = 1; n <= consumer.attempts; n++) {
        const outcome = yield* Effect.exit(attempt(event, handler))
        if (outcome._tag === "Success") return yield* record(outcome.value)
        if (Cause.hasInterrupts(outcome.cause) && inFlight.signal.aborted) return yield* Effect.interrupt
        lastError = causeText(outcome.cause)
        if (n < consumer.attempts) {
          yield* Effect.sleep(Math.min(consumer.maxBackoffMs, consumer.backoffMs * 2 ** (n - 1)))
          yield* Effect.promise(() => heartbeat().catch(() => undefined))
        }
      }
      return yield* deadLetter(topic, partition, message, lastError, consumer.attempts)
    })

  /**
   * One transaction for a batch's events with handlers: the dedupe rows in one insert, then each
   * fresh event's handler in order; answers how many ran.
   */
  const runFresh = (handled: ReadonlyArray<Event.Event>) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          const fresh = yield* sql<{ event_id: string }>`
            INSERT INTO processed_events (consumer, event_id)
            SELECT ${consumer.name}, unnest(${handled.map((e) => e.event_id)}::text[])
            ON CONFLICT DO NOTHING RETURNING event_id`
          // A redelivery can bring one event twice in a batch: the first copy runs, once.
          const isFresh = new Set(fresh.map((r) => r.event_id))
          let ran = 0
          for (const event of handled) {
            if (!isFresh.delete(event.event_id)) continue
            yield* consumer.handlers[event.type]!(event)
            ran++
          }
          return ran
        })
      )
      .pipe(Effect.timeout(consumer.handlerTimeoutMs))

  /**
   * A batch's fast path: one transaction for its decodable messages with handlers; answers false
   * (nothing written) when anything failed, so the caller goes message by message.
   */
  const together = (messages: ReadonlyArray<KafkaMessage>) =>
    Effect.gen(function* () {
      const events: Array<Event.Event> = []
      for (const message of messages) {
        const decoded = yield* Effect.exit(
          decode(message.value === null ? "" : message.value.toString("utf8"))
        )
        if (decoded._tag === "Failure") return false
        events.push(decoded.value)
      }
      const handled = events.filter((e) => consumer.handlers[e.type] !== undefined)
      // Nothing to run: no transaction. BEGIN and COMMIT for nothing were most of the batches at
      // low rates (a fetch brings one event, most of a type the consumer skips): with two
      // consumers at 200 events/s, their Node CPU went from about 2.3 to 1.35 ms an event and
      // Postgres's from 0.5 to 0.3 ms (2,000 events, one in five handled; 2026-12-02).
      const outcome = handled.length === 0 ? Exit.succeed(0) : yield* Effect.exit(runFresh(handled))
      if (outcome._tag === "Failure") {
        if (Cause.hasInterrupts(outcome.cause) && inFlight.signal.aborted) return yield* Effect.interrupt
        return false
      }
      yield* record("handled", outcome.value)
      yield* record("duplicate", handled.length - outcome.value)
      yield* record("skipped", events.length - handled.length)
      return true
    })

  /**
   * A fetched batch of one partition, in order. Messages whose `type` header names a type without
   * a handler are skipped unread; the rest go through one transaction per chunk (`batch`, falling
   * back to one by one) or one by one. An offset is resolved once its message is done.
   */
  const processBatch = (
    topic: string,
    partition: number,
    messages: ReadonlyArray<KafkaMessage>,
    resolveOffset: (offset: string) => void,
    heartbeat: () => Promise<void>
  ) =>
    Effect.gen(function* () {
      const wanted = messages.filter((message) => !skippedUnread(message))
      const beat = Effect.promise(() => heartbeat().catch(() => undefined))
      for (let from = 0; from < wanted.length; from += consumer.maxBatch) {
        const chunk = wanted.slice(from, from + consumer.maxBatch)
        if (consumer.batch && (yield* together(chunk))) {
          resolveOffset(chunk[chunk.length - 1]!.offset)
          yield* beat
        } else
          for (const message of chunk) {
            yield* process(topic, partition, message, heartbeat)
            resolveOffset(message.offset)
            yield* beat
          }
      }
      const skipped = messages.length - wanted.length
      if (messages.length > 0) resolveOffset(messages[messages.length - 1]!.offset)
      if (skipped > 0) yield* record("skipped", skipped)
    })

  const run = Effect.runPromiseWith(context)
  // A kafkajs consumer restarts itself after retriable failures only; one that crashed for good (a
  // broker refusing connections for longer than its retries, say) is replaced by a fresh one here,
  // with backoff, until `stop`. Offsets are the group's, so the new one resumes where it ended.
  const open = async (): Promise<void> => {
    const session = kafka.consumer({
      groupId: consumer.groupId,
      sessionTimeout: consumer.sessionTimeoutMs,
      heartbeatInterval: Math.floor(consumer.sessionTimeoutMs / 10),
      // Kafka answers a fetch at its first message: no added delay, and an idle consumer fetches
      // twice a second. Gathering for 25 ms (minBytes 64 KB) saved about 15 % of two consumers'
      // CPU at 200 events/s here, but tripled their idle CPU (1.9 % to 5.7 % of a core): not taken.
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false
    })
    current = session
    session.on(session.events.GROUP_JOIN, (event) => {
      assignment = event.payload.memberAssignment
    })
    session.on(session.events.CRASH, (event) => {
      if (!event.payload.restart) void replace(session, event.payload.error)
    })
    await session.connect()
    await session.subscribe({ topics: subscribed, fromBeginning: consumer.fromBeginning })
    // Every consumer takes fetched batches (`processBatch`): a batch consumer's handled messages
    // share a transaction, the others' go one by one, and the skipped ones cost nothing.
    await session.run({
      partitionsConsumedConcurrently: consumer.partitionConcurrency,
      eachBatchAutoResolve: false,
      eachBatch: ({ batch, resolveOffset, heartbeat }) =>
        run(processBatch(batch.topic, batch.partition, batch.messages, resolveOffset, heartbeat), {
          signal: inFlight.signal
        })
    })
  }
  const replace = async (dead: KafkaConsumer, error: Error) => {
    console.warn(`[till] consumer ${consumer.name} crashed (${reasonOf(error)}); starting a new one`)
    assignment = {}
    await dead.disconnect().catch(() => undefined)
    for (let n = 0; stopping === undefined; n++) {
      await pause(Math.min(30_000, 250 * 2 ** Math.min(n, 8)))
      if (stopping !== undefined) return
      try {
        await open()
        return
      } catch {
        await current?.disconnect().catch(() => undefined)
      }
    }
  }

  yield* Effect.acquireRelease(
    call(`start consumer ${consumer.name}`, connectMs * 3, async () => {
      await producer.connect()
      await open()
    }),
    () => stop
  )

  const running: Running = {
    assignment: Effect.sync(() => assignment),
    stats: Effect.sync(() => ({ ...stats })),
    stop
  }
  return running
})

/**
 * Runs `consumer` for the life of the layer.
 * @category layers
 */
export const layer = <R>(
  consumer: Consumer<R>
): Layer.Layer<
  never,
  Errors.StoreUnavailable,
  KafkaClient | Topics | SqlClient.SqlClient | Exclude<R, Scope.Scope>
> => Layer.effectDiscard(start(consumer))
