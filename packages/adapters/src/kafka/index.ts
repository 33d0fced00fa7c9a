export const adapter = "kafka"
