/**
 * The page of `till simulate --html FILE`: one self-contained HTML file (inline CSS and SVG, no
 * script, nothing fetched) with the settings, the totals, the invariants, and five charts over
 * the run's seconds: answers per second by status, latency p50/p99, the payment breaker's and the
 * carts' breaker's states and the payment-queue depth, each with the fault windows shaded (the
 * gateway's orange, Redis's slate; a restart a dashed line).
 */
import { recoveryWatchMs } from "./Faults.js"
import type { Report } from "./Report.js"
import { bandChart, escape, lineChart, type Shade } from "./Svg.js"

/**
 * A color per status: confirmed green, queued blue, declined amber, out of stock violet, rate
 * limited orange, unavailable (503, a store down) slate, errors red.
 */
const statusColors: Record<string, string> = {
  "201": "#2a9d8f",
  "202": "#457b9d",
  "402": "#e9c46a",
  "409": "#9b5de5",
  "429": "#f4a261",
  "503": "#5c677d"
}
const errorColors = ["#e63946", "#b5179e", "#6d6875", "#d00000", "#370617"]

const breakerColors: ReadonlyArray<readonly [string, string]> = [
  ["closed", "#2a9d8f"],
  ["halfOpen", "#e9c46a"],
  ["open", "#e63946"],
  ["unknown", "#d9d9d9"]
]

const row = (cells: ReadonlyArray<string>, tag = "td") =>
  `<tr>${cells.map((c) => `<${tag}>${escape(c)}</${tag}>`).join("")}</tr>`

const table = (pairs: ReadonlyArray<readonly [string, string]>) =>
  `<table>${pairs.map(([k, v]) => row([k, v])).join("")}</table>`

const style = `body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:940px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}.ok{color:#2a9d8f}.broken{color:#e63946}
svg{display:block;margin:6px 0}svg .tick{font-size:11px;fill:#555}svg .fault{font-size:11px;fill:#9a3412}
svg .axis{stroke:#888}svg .grid{stroke:#eee}svg .shade{fill:#f4a261;opacity:.22}
svg .shade.redis-down{fill:#5c677d}
svg .restart{stroke:#9a3412;stroke-dasharray:4 3;stroke-width:2}`

const ms = (value: number | null) =>
  value === null ? `not within ${recoveryWatchMs / 1_000} s` : `${value} ms`

/** The `redis-down` windows as measured (none: nothing). */
const outages = (report: Report): string =>
  report.outages.length === 0
    ? ""
    : `<h2>Redis down</h2><table>${row(
        [
          "window",
          "connections dropped",
          "reconnections refused",
          "client ready after",
          "carts answer after"
        ],
        "th"
      )}${report.outages
        .map((o) =>
          row([
            o.spec,
            o.connectionsDropped === null ? "in-memory carts" : String(o.connectionsDropped),
            o.connectionsRefused === null ? "in-memory carts" : String(o.connectionsRefused),
            o.connectionsDropped === null ? "in-memory carts" : ms(o.clientReadyAfterMs),
            ms(o.cartsAnswerAfterMs)
          ])
        )
        .join("")}</table>`

/** The page of `report`. */
export const page = (report: Report): string => {
  const seconds = Math.max(1, report.series.length)
  const shades: ReadonlyArray<Shade> = report.faults.map((f) => ({
    fromSeconds: f.fromSeconds,
    toSeconds: f.toSeconds,
    label: f.spec,
    kind: f.kind
  }))
  const statuses = Object.keys(report.totals.answered)
  let nextError = 0
  const throughput = lineChart({
    title: "Answers per second, by status",
    unit: "answers/s",
    seconds,
    shades,
    lines: statuses.map((status) => ({
      name: status === "0" ? "cut off" : status,
      color: statusColors[status] ?? errorColors[nextError++ % errorColors.length]!,
      values: report.series.map((s) => s.answered[status] ?? 0)
    }))
  })
  const latency = lineChart({
    title: "Checkout latency, p50 and p99",
    unit: "ms",
    seconds,
    shades,
    lines: [
      { name: "p50", color: "#457b9d", values: report.series.map((s) => s.latencyMsP50) },
      { name: "p99", color: "#e63946", values: report.series.map((s) => s.latencyMsP99) }
    ]
  })
  const breaker = bandChart({
    title: "Payment breaker",
    seconds,
    shades,
    states: report.series.map((s) => s.breaker),
    colors: breakerColors
  })
  const storeBreaker = bandChart({
    title: "The carts' breaker (store.cart: what a Redis outage opens)",
    seconds,
    shades,
    states: report.series.map((s) => s.storeBreaker),
    colors: breakerColors
  })
  const queue = lineChart({
    title: "Payment-queue depth",
    unit: "orders",
    seconds,
    shades,
    lines: [
      { name: "depth", color: "#457b9d", values: report.series.map((s) => Math.max(0, s.paymentQueueDepth)) }
    ]
  })
  const s = report.settings
  const t = report.totals
  const invariants = report.invariantsChecked
    ? `<ul>${report.invariants
        .map(
          (c) =>
            `<li class="${c.ok ? "ok" : "broken"}">${c.ok ? "✓" : "✗"} ${escape(c.name)}: ${escape(c.detail)}</li>`
        )
        .join("")}</ul>`
    : "<p>Not checked: a --target run cannot read the stores of another process.</p>"
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>till simulate — ${escape(report.startedAt)}</title>
<style>${style}</style></head><body>
<h1>till simulate — ${escape(report.mode)}, ${escape(report.startedAt)}</h1>
<p class="${report.ok ? "ok" : "broken"}">${report.ok ? "Every invariant held." : "An invariant broke."}</p>
<h2>Settings</h2>${table([
    ["users", String(s.users)],
    ["rate", `${s.ratePerSecond} checkouts/s`],
    ["duration", `${s.durationSeconds} s`],
    ["SKUs, skew", `${s.skus}, ${s.skew}`],
    ["decline rate", String(s.declineRate)],
    ["stock per SKU", String(s.stockPerSku)],
    ["faults", s.faults.join(", ") || "none"],
    ["target", s.target ?? "embedded"],
    [
      "carts and rate limits",
      report.carts === null ? "the target's" : report.carts === "redis" ? "Redis" : "in memory"
    ],
    ["seed", String(s.seed)]
  ])}
<h2>Totals</h2>${table([
    ["started", String(t.started)],
    ["shed", String(t.shed)],
    ["answered", statuses.map((k) => `${k === "0" ? "cut off" : k}: ${t.answered[k]}`).join(", ")],
    ["unanswered", String(t.unanswered)],
    ["errors", String(t.errors)],
    ["latency p50 / p99", `${t.latencyMsP50} / ${t.latencyMsP99} ms`],
    ["payment queue peak", String(t.paymentQueueDepthPeak)],
    ["seconds with the breaker open", String(t.breakerOpenSeconds)],
    ["seconds with the carts' breaker open", String(t.storeBreakerOpenSeconds)],
    [
      "orders",
      report.orders === null
        ? "not read"
        : Object.entries(report.orders)
            .map(([k, v]) => `${k}: ${v}`)
            .join(", ")
    ]
  ])}
${outages(report)}<h2>Invariants</h2>${invariants}
<h2>Throughput</h2>${throughput}
<h2>Latency</h2>${latency}
<h2>Payment breaker</h2>${breaker}
<h2>The carts' breaker</h2>${storeBreaker}
<h2>Payment queue</h2>${queue}
</body></html>
`
}
