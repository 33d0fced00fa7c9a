/**
 * The baseline's Kafka work on kafkajs 2.2.4, the same as Till's on the same broker:
 * - topics `<orders>` and `<carts>` (6 partitions), events keyed by aggregate id, the event's JSON
 *   as value, `event_id` and `type` headers;
 * - the outbox relay: claim up to 500 unsent rows (a lease, `FOR UPDATE SKIP LOCKED`), publish them
 *   with an idempotent producer (acks from all in-sync replicas), mark them sent; it loops while
 *   batches come back full and otherwise looks again every 20 ms (Till's busy poll);
 * - the two consumers Till runs: fulfillment (`order.confirmed` -> a shipment row and a
 *   `shipment.created` event in the outbox, with the dedupe rows, one statement per fetched batch)
 *   and notifications (`order.confirmed` -> the confirmation "sent" inside the dedupe transaction).
 */
import kafkajs from "kafkajs"
import type pg from "pg"

const { Kafka, logLevel, Partitioners } = kafkajs

const batchSize = 500
const leaseMs = 20_000

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const fulfillText = `
WITH fresh AS (
  INSERT INTO processed_events (consumer, event_id) SELECT 'fulfillment', unnest($1::text[])
  ON CONFLICT DO NOTHING RETURNING event_id),
shipped AS (
  INSERT INTO shipments (shipment_id, order_id, user_id, source_event_id, created_at)
  SELECT 'shp_' || md5(x.event_id), x.order_id, x.user_id, x.event_id, now()
  FROM unnest($1::text[], $2::text[], $3::text[]) AS x(event_id, order_id, user_id)
  JOIN fresh USING (event_id)
  ON CONFLICT (order_id) DO NOTHING RETURNING shipment_id, order_id, user_id, created_at),
evt AS (
  INSERT INTO outbox (event_id, aggregate_id, type, event)
  SELECT order_id || '/shipment.created', order_id, 'shipment.created', jsonb_build_object(
    'event_id', order_id || '/shipment.created', 'type', 'shipment.created',
    'occurred_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'aggregate_id', order_id,
    'data', jsonb_build_object('order_id', order_id, 'shipment_id', shipment_id, 'user_id', user_id))
  FROM shipped RETURNING 1)
SELECT (SELECT count(*) FROM evt)::int AS shipped`

interface Event {
  readonly event_id: string
  readonly type: string
  readonly aggregate_id: string
  readonly data: { readonly user_id?: string }
}

export const start = async (options: {
  readonly brokers: ReadonlyArray<string>
  readonly ordersTopic: string
  readonly cartsTopic: string
  readonly groupPrefix: string
  readonly pool: pg.Pool
}) => {
  const { pool } = options
  const kafka = new Kafka({
    clientId: "till-e2e-baseline",
    brokers: [...options.brokers],
    logLevel: logLevel.ERROR
  })
  const admin = kafka.admin()
  await admin.connect()
  await admin
    .createTopics({
      topics: [options.ordersTopic, options.cartsTopic].map((topic) => ({ topic, numPartitions: 6 })),
      waitForLeaders: true
    })
    .catch(() => false)
  await admin.disconnect()
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner
  })
  await producer.connect()
  let stopping = false
  let published = 0

  const relay = async () => {
    while (!stopping) {
      let moved = 0
      try {
        const now = Date.now()
        const { rows } = await pool.query<{
          seq: string
          aggregate_id: string
          event_id: string
          type: string
          event: string
        }>({
          name: "claim_outbox",
          text: `UPDATE outbox SET claimed_until = $1 WHERE seq IN (
                   SELECT seq FROM outbox WHERE NOT published AND (claimed_until IS NULL OR claimed_until <= $2)
                   ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING seq, aggregate_id, event_id, type, event::text AS event`,
          values: [now + leaseMs, now, batchSize]
        })
        if (rows.length > 0) {
          rows.sort((a, b) => Number(a.seq) - Number(b.seq))
          const messages = (cart: boolean) =>
            rows
              .filter((r) => r.type.startsWith("cart.") === cart)
              .map((r) => ({
                key: r.aggregate_id,
                value: r.event,
                headers: { event_id: r.event_id, type: r.type }
              }))
          await producer.sendBatch({
            acks: -1,
            topicMessages: [
              { topic: options.ordersTopic, messages: messages(false) },
              { topic: options.cartsTopic, messages: messages(true) }
            ].filter((t) => t.messages.length > 0)
          })
          await pool.query({
            name: "mark_outbox",
            text: "UPDATE outbox SET published = true WHERE seq = ANY($1::bigint[])",
            values: [rows.map((r) => r.seq)]
          })
          moved = rows.length
          published += moved
        }
      } catch (error) {
        console.error(`[baseline] relay: ${String(error)}`)
        await sleep(1_000)
      }
      if (moved < batchSize) await sleep(20)
    }
  }

  const consumer = async (name: string, handle: (events: Array<Event>) => Promise<void>) => {
    const c = kafka.consumer({ groupId: `${options.groupPrefix}.${name}`, maxWaitTimeInMs: 500 })
    await c.connect()
    await c.subscribe({ topics: [options.ordersTopic], fromBeginning: true })
    await c.run({
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch }) => {
        const events = batch.messages
          .map((m) => JSON.parse(m.value?.toString("utf8") ?? "null") as Event | null)
          .filter((e): e is Event => e !== null && e.type === "order.confirmed")
        if (events.length > 0) await handle(events)
      }
    })
    return c
  }

  const fulfillment = await consumer("fulfillment", async (events) => {
    await pool.query({
      name: "fulfill",
      text: fulfillText,
      values: [
        events.map((e) => e.event_id),
        events.map((e) => e.aggregate_id),
        events.map((e) => e.data.user_id ?? "")
      ]
    })
  })
  let notified = 0
  const notifications = await consumer("notifications", async (events) => {
    const client = await pool.connect()
    try {
      await client.query("BEGIN")
      const fresh = await client.query({
        name: "notify_dedupe",
        text: `INSERT INTO processed_events (consumer, event_id) SELECT 'notifications', unnest($1::text[])
               ON CONFLICT DO NOTHING RETURNING event_id`,
        values: [events.map((e) => e.event_id)]
      })
      notified += fresh.rowCount ?? 0 // the confirmation mails, "sent" (the testkit notifier keeps them too)
      await client.query("COMMIT")
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined)
      throw error
    } finally {
      client.release()
    }
  })
  const relaying = relay()

  return {
    connected: () => !stopping,
    stats: () => ({ published, notified }),
    stop: async () => {
      stopping = true
      await relaying
      await Promise.allSettled([fulfillment.disconnect(), notifications.disconnect(), producer.disconnect()])
    }
  }
}
