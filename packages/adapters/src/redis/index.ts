export const adapter = "redis"
