import { defineConfig } from "tsup"

// ESM + CJS + .d.ts/.d.cts; dependencies and peers stay external (tsup's default).
export default defineConfig({
  entry: { index: "src/index.ts", "contracts/index": "src/contracts/index.ts" },
  format: ["esm", "cjs"],
  dts: true,
  tsconfig: "tsconfig.build.json",
  target: "node22",
  clean: true,
  sourcemap: true,
  treeshake: true,
  splitting: false
})
