/**
 * An append-only log that keeps about its newest `max` items, for recorders (published
 * events, sent notifications) that must not grow without bound in a long-running embedded
 * runtime. Trimming happens in chunks of a tenth so appends stay amortised O(1).
 */
export interface Retained<A> {
  readonly append: (items: Iterable<A>) => void
  readonly items: () => ReadonlyArray<A>
  readonly clear: () => void
}

export const make = <A>(max: number): Retained<A> => {
  let items: Array<A> = []
  const slack = Math.max(1, Math.floor(max / 10))
  return {
    append: (more) => {
      for (const item of more) items.push(item)
      if (items.length > max + slack) items = items.slice(items.length - max)
    },
    items: () => (items.length > max ? items.slice(items.length - max) : [...items]),
    clear: () => {
      items = []
    }
  }
}
