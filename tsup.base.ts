import type { Options } from "tsup"

/**
 * Every package builds the same way: ESM + CJS + .d.ts/.d.cts from `tsconfig.build.json`
 * (no source paths, so sibling packages resolve to their built types), with dependencies
 * and peers kept external (tsup's default).
 */
export const packageBuild = (entry: Record<string, string>, extra: Options = {}): Options => ({
  entry,
  format: ["esm", "cjs"],
  dts: true,
  tsconfig: "tsconfig.build.json",
  target: "node22",
  clean: true,
  sourcemap: true,
  treeshake: true,
  splitting: false,
  ...extra
})
