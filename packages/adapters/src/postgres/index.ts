export const adapter = "postgres"
