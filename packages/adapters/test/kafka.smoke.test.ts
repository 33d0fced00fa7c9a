import { Kafka, logLevel } from "kafkajs"
import { afterAll, beforeAll, expect, it } from "vitest"
import { describeService, serviceUrl } from "./support/services.js"

await describeService("kafka", "Kafka (real broker)", () => {
  // Unpatched, kafkajs 2.2.4 arms a negative-delay timer on every idle connection (kafkajs#1751);
  // the repository patches it (patches/kafkajs@2.2.4.patch). This catches the patch going missing.
  const warnings: Array<string> = []
  const onWarning = (warning: Error) => void warnings.push(`${warning.name}: ${warning.message}`)
  beforeAll(() => void process.on("warning", onWarning))
  afterAll(() => {
    process.off("warning", onWarning)
    expect(warnings.filter((w) => w.startsWith("TimeoutNegativeWarning"))).toEqual([])
  })

  it("produces and consumes one message through a pre-created topic", async () => {
    const kafka = new Kafka({
      clientId: "till-smoke",
      brokers: serviceUrl("kafka").split(","),
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3_000,
      requestTimeout: 10_000
    })
    const topic = `till-smoke-${process.pid}-${Date.now()}`
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
      waitForLeaders: true
    })
    await admin.disconnect()

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    await producer.send({ topic, messages: [{ key: "order-1", value: JSON.stringify({ hello: "till" }) }] })
    await producer.disconnect()

    const consumer = kafka.consumer({ groupId: `${topic}-group` })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    const received = await new Promise<{ key: string; value: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no message within 20s")), 20_000)
      void consumer.run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer)
          resolve({ key: String(message.key), value: String(message.value) })
        }
      })
    })
    await consumer.disconnect()
    expect(received).toEqual({ key: "order-1", value: JSON.stringify({ hello: "till" }) })
  }, 40_000)
})
