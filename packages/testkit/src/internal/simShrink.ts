/**
 * Shrinks a failing run to a smaller world that fails the same way (same invariant, same
 * seed): only the shoppers its story is about, fewer users, a shorter day, fewer sessions and
 * SKUs, fewer fault classes. Greedy:
 * each step tries the candidates in order and keeps the first that still fails; it stops when
 * no candidate does or the budget of runs is spent. Shoppers draw from per-user streams, so
 * the users that remain behave as they did; the interleaving changes, which is why each
 * candidate is run rather than assumed.
 */
import type { Invariant } from "./simInvariants.js"
import { faultClasses, type Scenario } from "./simScenario.js"

export interface Shrunk {
  readonly scenario: Scenario
  readonly runs: number
}

const candidates = (s: Scenario, focus: ReadonlyArray<number>): ReadonlyArray<Scenario> => {
  const out: Array<Scenario> = []
  // First the shoppers the violation's story is about, alone; then one fewer at a time.
  const shopping = s.onlyUsers ?? Array.from({ length: s.users }, (_, i) => i)
  if (focus.length > 0 && focus.length < shopping.length) out.push({ ...s, onlyUsers: focus })
  if (s.onlyUsers !== undefined && s.onlyUsers.length > 1) {
    for (const user of s.onlyUsers) out.push({ ...s, onlyUsers: s.onlyUsers.filter((u) => u !== user) })
  }
  const users = (n: number) =>
    s.onlyUsers === undefined && n >= 1 && n < s.users && out.push({ ...s, users: n })
  users(Math.floor(s.users / 2))
  users(Math.floor((s.users * 3) / 4))
  users(s.users - 1)
  if (s.flashSaleBuyers > 0) {
    out.push({ ...s, flashSaleBuyers: 0 })
    if (s.flashSaleBuyers > 1) out.push({ ...s, flashSaleBuyers: Math.floor(s.flashSaleBuyers / 2) })
  }
  const minute = 60_000
  if (s.durationMs > minute)
    out.push({ ...s, durationMs: Math.max(minute, Math.floor(s.durationMs / 2 / 1_000) * 1_000) })
  if (s.sessionsMax > 1) out.push({ ...s, sessionsMax: s.sessionsMax - 1 })
  if (s.skus > 2) out.push({ ...s, skus: Math.max(2, Math.floor(s.skus / 2)) })
  for (const fault of faultClasses) {
    if (!s.disabledFaults.includes(fault)) out.push({ ...s, disabledFaults: [...s.disabledFaults, fault] })
  }
  return out
}

/** The smallest scenario found (within `budget` runs) whose run still breaks `invariant`. */
export const shrink = (
  scenario: Scenario,
  invariant: Invariant,
  focus: ReadonlyArray<number>,
  fails: (scenario: Scenario) => ReadonlyArray<Invariant>,
  budget = 40
): Shrunk => {
  let best = scenario
  let runs = 0
  for (let improved = true; improved && runs < budget; ) {
    improved = false
    for (const candidate of candidates(best, focus)) {
      if (runs >= budget) break
      runs++
      if (fails(candidate).includes(invariant)) {
        best = candidate
        improved = true
        break
      }
    }
  }
  return { scenario: best, runs }
}
