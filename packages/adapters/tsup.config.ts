import { defineConfig } from "tsup"

// ESM + CJS + .d.ts/.d.cts; dependencies and peers stay external (tsup's default).
export default defineConfig({
  entry: {
    "postgres/index": "src/postgres/index.ts",
    "redis/index": "src/redis/index.ts",
    "kafka/index": "src/kafka/index.ts"
  },
  format: ["esm", "cjs"],
  dts: true,
  tsconfig: "tsconfig.build.json",
  target: "node22",
  clean: true,
  sourcemap: true,
  treeshake: true,
  splitting: false
})
