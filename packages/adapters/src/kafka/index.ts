/**
 * `@till/adapters/kafka`: Till's events on Kafka through `kafkajs`. `KafkaClient` is the client,
 * `Topics` provisions the topics, `KafkaEventPublisher` is the outbox relay's `EventPublisher`,
 * `Consumer` the typed consumer API, and `Fulfillment` and `Notifications` the built-in consumers.
 */
export const adapter = "kafka"

export * as Consumer from "./Consumer.js"
export * as Fulfillment from "./Fulfillment.js"
export * as KafkaClient from "./KafkaClient.js"
export * as KafkaEventPublisher from "./KafkaEventPublisher.js"
export * as Notifications from "./Notifications.js"
export * as Topics from "./Topics.js"
