/** The loader hook of gateway-latency.mjs (runs on Node's module-loader thread). */
const testkit = "/packages/testkit/dist/index.js"
const original = "var noFaults = {\n  latencyMs: 0,"

let latencyMs = 0

export const initialize = (data) => {
  latencyMs = data.latencyMs
}

export const load = async (url, context, nextLoad) => {
  const loaded = await nextLoad(url, context)
  if (!url.endsWith(testkit)) return loaded
  const source = typeof loaded.source === "string" ? loaded.source : new TextDecoder().decode(loaded.source)
  if (!source.includes(original))
    throw new Error(
      `gateway-latency: "${original}" is not in ${url} any more: update bench/e2e/gateway-latency-hooks.mjs`
    )
  return { ...loaded, source: source.replace(original, `var noFaults = {\n  latencyMs: ${latencyMs},`) }
}
