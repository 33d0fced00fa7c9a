import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = (path: string) => fileURLToPath(new URL(`./packages/${path}`, import.meta.url))

// Tests run against the TypeScript sources of every package (no build needed), and each
// service-backed suite decides itself whether to skip (locally) or fail (CI=true).
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@till\/core$/, replacement: src("core/src/index.ts") },
      { find: /^@till\/testkit$/, replacement: src("testkit/src/index.ts") },
      { find: /^@till\/testkit\/contracts$/, replacement: src("testkit/src/contracts/index.ts") },
      { find: /^@till\/adapters\/(postgres|redis|kafka)$/, replacement: src("adapters/src/$1/index.ts") },
      { find: /^@till\/runtime$/, replacement: src("runtime/src/index.ts") }
    ]
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default", "./scripts/vitest-summary.ts"]
  }
})
