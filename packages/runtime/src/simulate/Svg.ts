/**
 * Small SVG charts for the simulation's page, written by hand (no chart library, no CDN: the page
 * is one file that opens anywhere): lines over the run's seconds, a band of states, and the fault
 * windows shaded on each (a restart is a dashed line).
 */

export interface Line {
  readonly name: string
  readonly color: string
  /** One value per second. */
  readonly values: ReadonlyArray<number>
}

/** A fault window, in seconds since the first arrival. */
export interface Shade {
  readonly fromSeconds: number
  readonly toSeconds: number
  readonly label: string
  /** A class the window gets besides `shade` (its fault's kind: a store outage is shaded apart). */
  readonly kind?: string
}

export interface Frame {
  readonly title: string
  /** Seconds on the x axis. */
  readonly seconds: number
  readonly shades: ReadonlyArray<Shade>
}

const width = 900
const left = 56
const right = 16
const top = 30
const plotWidth = width - left - right

/** Text safe inside an SVG or HTML element or attribute. */
export const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

const fixed = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1))

/** 1, 2 or 5 times a power of ten, at least `value` (and at least 1). */
export const niceCeiling = (value: number): number => {
  if (!(value > 1)) return 1
  const power = 10 ** Math.floor(Math.log10(value))
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power
  return 10 * power
}

const xOf = (frame: Frame, second: number) => left + (second / Math.max(1, frame.seconds)) * plotWidth

const shades = (frame: Frame, plotTop: number, plotHeight: number): string =>
  frame.shades
    .map((s) => {
      const x0 = xOf(frame, s.fromSeconds)
      const label = `<text x="${fixed(x0 + 3)}" y="${fixed(plotTop + 11)}" class="fault">${escape(s.label)}</text>`
      return s.toSeconds > s.fromSeconds
        ? `<rect x="${fixed(x0)}" y="${plotTop}" width="${fixed(xOf(frame, s.toSeconds) - x0)}" height="${plotHeight}" class="shade${s.kind === undefined ? "" : ` ${escape(s.kind)}`}"><title>${escape(s.label)}</title></rect>${label}`
        : `<line x1="${fixed(x0)}" x2="${fixed(x0)}" y1="${plotTop}" y2="${plotTop + plotHeight}" class="restart"><title>${escape(s.label)}</title></line>${label}`
    })
    .join("")

const xAxis = (frame: Frame, y: number): string => {
  const step = niceCeiling(frame.seconds / 10)
  const ticks: Array<string> = []
  for (let s = 0; s <= frame.seconds; s += step)
    ticks.push(
      `<text x="${fixed(xOf(frame, s))}" y="${y + 14}" class="tick" text-anchor="middle">${s}s</text>`
    )
  return `<line x1="${left}" x2="${width - right}" y1="${y}" y2="${y}" class="axis"/>${ticks.join("")}`
}

const legend = (items: ReadonlyArray<{ readonly name: string; readonly color: string }>): string => {
  let x = left
  return items
    .map((item) => {
      const entry = `<rect x="${x}" y="${top - 20}" width="10" height="10" fill="${escape(item.color)}"/><text x="${x + 14}" y="${top - 11}" class="tick">${escape(item.name)}</text>`
      x += 24 + item.name.length * 7
      return entry
    })
    .join("")
}

const svg = (frame: Frame, height: number, body: string): string =>
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escape(frame.title)}"><title>${escape(frame.title)}</title>${body}</svg>`

/** Lines of values per second, with a y axis in `unit`. */
export const lineChart = (
  frame: Frame & { readonly unit: string; readonly lines: ReadonlyArray<Line> }
): string => {
  const height = 240
  const plotHeight = height - top - 30
  const yMax = niceCeiling(Math.max(0, ...frame.lines.flatMap((l) => l.values)))
  const yOf = (v: number) => top + plotHeight - (v / yMax) * plotHeight
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const y = fixed(yOf(f * yMax))
      return `<line x1="${left}" x2="${width - right}" y1="${y}" y2="${y}" class="grid"/><text x="${left - 6}" y="${y}" class="tick" text-anchor="end" dominant-baseline="middle">${fixed(f * yMax)}</text>`
    })
    .join("")
  const lines = frame.lines
    .map((line) => {
      const points = line.values.map((v, i) => `${fixed(xOf(frame, i + 0.5))},${fixed(yOf(v))}`).join(" ")
      return `<polyline points="${points}" fill="none" stroke="${escape(line.color)}" stroke-width="2"><title>${escape(line.name)}</title></polyline>`
    })
    .join("")
  return svg(
    frame,
    height,
    `${shades(frame, top, plotHeight)}${grid}${lines}${xAxis(frame, top + plotHeight)}` +
      `<text x="12" y="${fixed(top + plotHeight / 2)}" class="tick" transform="rotate(-90 12 ${fixed(top + plotHeight / 2)})" text-anchor="middle">${escape(frame.unit)}</text>` +
      legend(frame.lines)
  )
}

/** One colored cell per second, by state (`colors` gives each state's color, in legend order). */
export const bandChart = (
  frame: Frame & {
    readonly states: ReadonlyArray<string>
    readonly colors: ReadonlyArray<readonly [string, string]>
  }
): string => {
  const height = 110
  const plotHeight = 40
  const color = new Map(frame.colors)
  const cells = frame.states
    .map((state, i) => {
      const x0 = xOf(frame, i)
      return `<rect x="${fixed(x0)}" y="${top}" width="${fixed(xOf(frame, i + 1) - x0)}" height="${plotHeight}" fill="${escape(color.get(state) ?? "#ccc")}"><title>${i}s: ${escape(state)}</title></rect>`
    })
    .join("")
  return svg(
    frame,
    height,
    `${cells}${shades(frame, top, plotHeight)}${xAxis(frame, top + plotHeight)}` +
      legend(frame.colors.map(([name, c]) => ({ name, color: c })))
  )
}
