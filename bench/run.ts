/**
 * `pnpm bench [filter]`: runs every `bench/*.bench.ts` (or those whose name contains `filter`) and
 * writes `bench/results/<name>.json` and `.md` for each.
 *
 * A bench module exports `run(progress): Promise<ReadonlyArray<Row>>`. A row names its baseline
 * (another row of the same module, or null for a baseline itself) and the ratio value/baseline;
 * for time units lower is better.
 */
import { readdir, writeFile } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

export interface Row {
  readonly name: string
  readonly value: number
  readonly unit: string
  /** The `name` of the row this one is compared with, or null. */
  readonly baseline: string | null
  /** value / baseline's value, or null without a baseline. */
  readonly ratio: number | null
}

export type Progress = (line: string) => void

export interface BenchModule {
  readonly run: (progress: Progress) => Promise<ReadonlyArray<Row>>
  /** The `.md` to write instead of the plain table of rows, when the module has a better one. */
  readonly markdown?: (rows: ReadonlyArray<Row>) => string
}

const benchDir = dirname(fileURLToPath(import.meta.url))
const resultsDir = join(benchDir, "results")

const format = (n: number | null): string =>
  n === null ? "" : Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2)

const markdown = (name: string, rows: ReadonlyArray<Row>): string => {
  const lines = [
    `# Bench: ${name}`,
    "",
    `Node ${process.version}, ${new Date().toISOString()}. Medians; ratio = value / baseline (lower is better for time).`,
    "",
    "| name | value | unit | baseline | ratio |",
    "|---|---:|---|---|---:|",
    ...rows.map(
      (r) => `| ${r.name} | ${format(r.value)} | ${r.unit} | ${r.baseline ?? ""} | ${format(r.ratio)} |`
    )
  ]
  return `${lines.join("\n")}\n`
}

const main = async () => {
  const filter = process.argv[2]
  const files = (await readdir(benchDir))
    .filter((f) => f.endsWith(".bench.ts") && (!filter || f.includes(filter)))
    .sort()
  if (files.length === 0) throw new Error(`no bench/*.bench.ts matches ${filter ?? "(all)"}`)
  for (const file of files) {
    const name = basename(file, ".bench.ts")
    process.stdout.write(`bench ${name}\n`)
    const module = (await import(pathToFileURL(join(benchDir, file)).href)) as BenchModule
    const started = performance.now()
    const rows = await module.run((line) => process.stdout.write(`  ${line}\n`))
    await writeFile(join(resultsDir, `${name}.json`), `${JSON.stringify(rows, null, 2)}\n`)
    await writeFile(join(resultsDir, `${name}.md`), module.markdown?.(rows) ?? markdown(name, rows))
    process.stdout.write(
      `  -> bench/results/${name}.json, .md (${((performance.now() - started) / 1000).toFixed(1)} s)\n`
    )
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exit(1)
  }
)
