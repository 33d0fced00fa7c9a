import { defineConfig } from "tsup"
import { packageBuild } from "../../tsup.base.js"

export default defineConfig(
  packageBuild({
    "postgres/index": "src/postgres/index.ts",
    "redis/index": "src/redis/index.ts",
    "kafka/index": "src/kafka/index.ts"
  })
)
